package supabase

import (
	"net/url"
	"strconv"
	"strings"
)

// ParseLink parses an RFC 8288 Link header value into its targets by
// relation type ("next", "last", …), as Auth's admin lists send it:
// `</admin/users?page=2&per_page=1>; rel="next", </admin/users?page=2&per_page=1>; rel="last"`.
// Targets may contain commas and semicolons; a link with several relation
// types is listed under each. Malformed links are skipped, never an error.
func ParseLink(h string) map[string]string {
	out := map[string]string{}
	s := h
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return out
		}
		if s[0] != '<' {
			// Not a link: skip to the next comma outside quotes.
			s = skipParam(s, true)
			continue
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return out
		}
		target := s[1:end]
		s = s[end+1:]
		var rels []string
		for {
			s = strings.TrimLeft(s, " \t")
			if s == "" || s[0] != ';' {
				break
			}
			s = strings.TrimLeft(s[1:], " \t")
			name, value, rest := parseParam(s)
			s = rest
			if strings.EqualFold(name, "rel") {
				rels = append(rels, strings.Fields(value)...)
			}
		}
		for _, r := range rels {
			r = strings.ToLower(r)
			if _, dup := out[r]; !dup {
				out[r] = target
			}
		}
		// Whatever is left of this link up to the next comma is junk.
		if s != "" && s[0] != ',' {
			s = skipParam(s, true)
		}
	}
}

// parseParam reads `name=value` or `name="quoted value"` (or a bare name)
// and returns the rest, positioned at the next ';' or ','.
func parseParam(s string) (name, value, rest string) {
	i := strings.IndexAny(s, "=;,")
	if i < 0 {
		return strings.TrimSpace(s), "", ""
	}
	name = strings.TrimSpace(s[:i])
	if s[i] != '=' {
		return name, "", s[i:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		j := 1
		for ; j < len(s); j++ {
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				j++
				b.WriteByte(s[j])
				continue
			}
			if c == '"' {
				j++
				break
			}
			b.WriteByte(c)
		}
		return name, b.String(), s[j:]
	}
	k := strings.IndexAny(s, ";,")
	if k < 0 {
		return name, strings.TrimSpace(s), ""
	}
	return name, strings.TrimSpace(s[:k]), s[k:]
}

// skipParam drops input up to the next ',' (or ';' when toComma is false)
// outside double quotes.
func skipParam(s string, toComma bool) string {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == ',' || (!toComma && c == ';')):
			return s[i:]
		}
	}
	return ""
}

// pageOf returns the page query parameter of a link target, or 0.
func pageOf(target string) int {
	u, err := url.Parse(target)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(u.Query().Get("page"))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// ContentRange is a parsed Content-Range header as PostgREST sends it:
// "0-24/3573458", "0-14/*", "*/0", "*/*".
type ContentRange struct {
	// Start and End are the zero-based, inclusive positions of the rows in
	// the response; HasRange is false for "*" (no rows).
	Start, End int64
	HasRange   bool
	// Total is the row count of the whole result, -1 when the server did
	// not count ("*").
	Total int64
}

// Len is the number of rows the range covers.
func (cr ContentRange) Len() int64 {
	if !cr.HasRange {
		return 0
	}
	return cr.End - cr.Start + 1
}

// ParseContentRange parses a Content-Range value; an optional unit
// ("items 0-9/10") is accepted. ok is false for anything malformed,
// including an end before its start. An end past the total is accepted:
// planned and estimated counts are estimates.
func ParseContentRange(h string) (cr ContentRange, ok bool) {
	s := strings.TrimSpace(h)
	if unit, rest, found := strings.Cut(s, " "); found && !strings.Contains(unit, "/") {
		s = strings.TrimSpace(rest)
	}
	rng, total, found := strings.Cut(s, "/")
	if !found {
		return ContentRange{}, false
	}
	cr.Total = -1
	if total != "*" {
		n, ok := parseNonNeg(total)
		if !ok {
			return ContentRange{}, false
		}
		cr.Total = n
	}
	if rng == "*" {
		return cr, true
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return ContentRange{}, false
	}
	start, ok1 := parseNonNeg(a)
	end, ok2 := parseNonNeg(b)
	if !ok1 || !ok2 || end < start {
		return ContentRange{}, false
	}
	cr.Start, cr.End, cr.HasRange = start, end, true
	return cr, true
}

// parseNonNeg parses decimal digits only (no sign, no spaces).
func parseNonNeg(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
