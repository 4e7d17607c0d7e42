package httpapi

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/supabridge/supabridge/shared/bridge"
)

// List is the envelope of every list response.
type List[T any] struct {
	Result      []T     `json:"result"`
	NextCursor  *string `json:"next_cursor"`
	ResultCount int     `json:"result_count"`
}

// NewList returns the envelope for a page and the cursor of the next one
// ("" when there is none).
func NewList[T any](items []T, next string) List[T] {
	l := List[T]{Result: items, ResultCount: len(items)}
	if l.Result == nil {
		l.Result = []T{}
	}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

// Limit parses the "limit" query parameter: def when absent, otherwise an
// integer in [1, max] or EINVALID.
func Limit(q url.Values, def, max int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > max {
		return 0, bridge.Errorf(bridge.EINVALID, "limit must be an integer from 1 to %d.", max).
			WithDetails(map[string]any{"parameter": "limit"})
	}
	return n, nil
}

// OnlyParams returns EINVALID naming the first query parameter of q that is
// not in allowed, so that a misspelt filter is an error rather than a
// silently unfiltered listing.
func OnlyParams(q url.Values, allowed ...string) error {
	for k := range q {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return bridge.Errorf(bridge.EINVALID, "Unknown query parameter %q; allowed: %s.", k, strings.Join(allowed, ", ")).
				WithDetails(map[string]any{"parameter": k})
		}
	}
	return nil
}
