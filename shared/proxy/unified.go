package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// FormatUnified is the response_format value that turns a Data API read
// into Supabridge's list envelope.
const FormatUnified = "unified"

// maxUnifiedBody bounds a reshaped read; PostgREST's max-rows (1000 on
// Supabase) keeps real pages far below it.
const maxUnifiedBody = 32 << 20

// unifiedPage is a unified read: where its page starts and how long pages
// are.
type unifiedPage struct {
	scope  string
	offset int // the page's first row, as asked (0: from the start)
	limit  int // rows per page as asked (0: the server's choice)
}

// cursorPage is what a unified next_cursor carries.
type cursorPage struct {
	Offset int `json:"o"`
	Limit  int `json:"l,omitempty"`
}

// unifiedRequest checks a response_format=unified request: a GET on a
// Data API table or view, perhaps continuing from a next_cursor (which is
// bound to the account and the path, and sets offset and limit).
func (h *Handler) unifiedRequest(c *call, r *http.Request, q query) (*unifiedPage, error) {
	if q.responseFormat != FormatUnified {
		if q.responseFormat == "" {
			return nil, bridge.Errorf(bridge.EINVALID, "next_cursor continues a response_format=unified read; send both.")
		}
		return nil, bridge.Errorf(bridge.EINVALID, "response_format must be %q.", FormatUnified).
			WithDetails(map[string]any{"parameter": paramResponseFormat})
	}
	if c.route.api != apiREST || r.Method != http.MethodGet {
		return nil, bridge.Errorf(bridge.EINVALID, "response_format=unified applies to GET /proxy/rest/v1/<table> reads.").
			WithDetails(map[string]any{"parameter": paramResponseFormat})
	}
	u := &unifiedPage{scope: "proxy.rest:" + c.acct.ID + ":" + c.route.decoded}
	if q.nextCursor != "" {
		var p cursorPage
		if err := h.Cursors.Open(u.scope, q.nextCursor, &p); err != nil || p.Offset < 0 || p.Limit < 0 {
			return nil, bridge.Errorf(bridge.EINVALID, "next_cursor is not valid for this account and path.").
				WithDetails(map[string]any{"parameter": paramNextCursor})
		}
		u.offset, u.limit = p.Offset, p.Limit
		return u, nil
	}
	for part := range strings.SplitSeq(q.forward, "&") {
		k, v, _ := strings.Cut(part, "=")
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			continue
		}
		switch k {
		case "offset":
			u.offset = n
		case "limit":
			u.limit = n
		}
	}
	return u, nil
}

// unify turns a 2xx JSON array of rows into {result, next_cursor,
// result_count}. There is a next page when Content-Range shows rows past
// this page (ask for a count with Prefer: count=exact), or, without a
// count, when the page came back as long as the limit asked for. Anything
// else (an error, a non-array body) passes through unchanged.
func (h *Handler) unify(c *call, resp *http.Response) error {
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUnifiedBody+1))
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if len(body) > maxUnifiedBody {
		return bridge.Errorf(bridge.ETOOLARGE, "The rows are too many to reshape; ask for fewer with limit.")
	}
	var rows []json.RawMessage
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) || json.Unmarshal(body, &rows) != nil {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		return nil
	}
	next := ""
	if start, ok := nextOffset(resp.Header.Get("Content-Range"), len(rows), c.unified.limit); ok {
		next, err = h.Cursors.Sign(c.unified.scope, cursorPage{Offset: start, Limit: c.unified.limit})
		if err != nil {
			return err
		}
	}
	out, err := json.Marshal(httpapi.NewList(rows, next))
	if err != nil {
		return err
	}
	resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Content-Encoding")
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	return nil
}

// nextOffset reads PostgREST's Content-Range ("0-24/100", "0-24/*",
// "*/0") and says where the next page starts, if there is one.
func nextOffset(contentRange string, returned, limit int) (int, bool) {
	rng, total, ok := strings.Cut(strings.TrimSpace(contentRange), "/")
	if !ok || returned == 0 {
		return 0, false
	}
	lo, hi, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, false
	}
	lower, err1 := strconv.Atoi(lo)
	upper, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || upper < lower {
		return 0, false
	}
	next := upper + 1
	if n, err := strconv.Atoi(total); err == nil {
		return next, next < n
	}
	return next, limit > 0 && returned >= limit
}
