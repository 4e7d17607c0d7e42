package proxy

import (
	"net/url"
	"strconv"
	"strings"
)

// Query parameters the proxy reads and never forwards.
const (
	paramAccount        = "integrated_account_id"
	paramAPIKey         = "apikey"
	paramResponseFormat = "response_format"
	paramNextCursor     = "next_cursor"
)

// query is what the proxy takes out of a caller's raw query string.
type query struct {
	account        string
	responseFormat string
	nextCursor     string
	// forward is the raw query to send upstream: the caller's parameters
	// in their order and escaping, minus the proxy's own and any apikey
	// (an operator key there would otherwise reach Supabase).
	forward string
}

// mentionsOwn is a quick test that spares the common case any parsing.
func mentionsOwn(raw string) bool {
	return strings.Contains(raw, paramAccount) || strings.Contains(raw, paramAPIKey) ||
		strings.Contains(raw, paramResponseFormat) || strings.Contains(raw, paramNextCursor) || strings.Contains(raw, "%")
}

// splitQuery separates the proxy's parameters from the caller's.
func splitQuery(raw string) query {
	if !mentionsOwn(raw) {
		return query{forward: raw}
	}
	var (
		q    query
		keep []string
	)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			keep = append(keep, part)
			continue
		}
		val, _ := url.QueryUnescape(v)
		switch key {
		case paramAccount:
			if q.account == "" {
				q.account = val
			}
		case paramResponseFormat:
			q.responseFormat = val
		case paramNextCursor:
			q.nextCursor = val
		case paramAPIKey:
		default:
			keep = append(keep, part)
		}
	}
	q.forward = strings.Join(keep, "&")
	return q
}

// setPage replaces the offset and limit parameters of a raw query,
// keeping the others as they were.
func setPage(raw string, offset, limit int) string {
	var keep []string
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, _, _ := strings.Cut(part, "=")
		if key, err := url.QueryUnescape(k); err == nil && (key == "offset" || key == "limit") {
			continue
		}
		keep = append(keep, part)
	}
	keep = append(keep, "offset="+strconv.Itoa(offset))
	if limit > 0 {
		keep = append(keep, "limit="+strconv.Itoa(limit))
	}
	return strings.Join(keep, "&")
}
