package proxy

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// modifyResponse marks an upstream answer as Supabase's, keeps CORS
// grants from reaching a browser (the proxy is for servers holding an
// operator key), reshapes unified reads, and holds responses to the
// runtime's payload limit.
func (h *Handler) modifyResponse(resp *http.Response) error {
	hd := resp.Header
	hd[HeaderRemote] = remoteTrue
	for k := range hd {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(hd, k)
		}
	}
	c := callFrom(resp.Request.Context())
	if c != nil && c.unified != nil {
		if err := h.unify(c, resp); err != nil {
			return err
		}
	}
	if h.MaxResponse > 0 {
		return h.limitResponse(resp)
	}
	return nil
}

// remoteTrue is HeaderRemote's value, shared: ReverseProxy copies header
// values out, and nothing writes to it.
var remoteTrue = []string{"true"}

// responseTooLarge is a response a buffering runtime could not return.
type responseTooLarge struct {
	length int64 // -1: over the limit, length unknown
	limit  int64
}

func (e *responseTooLarge) Error() string {
	return fmt.Sprintf("upstream response of %s over the %d-byte limit", e.size(), e.limit)
}

func (e *responseTooLarge) size() string {
	if e.length < 0 {
		return "unknown length"
	}
	return strconv.FormatInt(e.length, 10) + " bytes"
}

// envelopeHeadroom is kept from the payload limit for the response's
// status, headers and JSON framing.
const envelopeHeadroom = 64 << 10

// limitResponse refuses a body the runtime cannot return: on Lambda the
// adapter holds the whole response in memory and base64-encodes bodies
// that are not UTF-8 text, so binary bodies get three quarters of the
// budget. A body of unknown length is read up to the budget (the adapter
// would hold it anyway) and refused beyond it.
func (h *Handler) limitResponse(resp *http.Response) error {
	budget := h.MaxResponse - envelopeHeadroom
	if !textual(resp.Header.Get("Content-Type")) {
		budget = budget / 4 * 3
	}
	if resp.ContentLength > budget {
		drain(resp)
		return &responseTooLarge{length: resp.ContentLength, limit: budget}
	}
	if resp.ContentLength >= 0 {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, budget+1))
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if int64(len(b)) > budget {
		return &responseTooLarge{length: -1, limit: budget}
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

// textual reports whether a body of this type arrives at API Gateway as
// text rather than base64.
func textual(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/javascript", mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/x-www-form-urlencoded", strings.HasPrefix(mt, "application/vnd.pgrst."):
		return true
	}
	return false
}
