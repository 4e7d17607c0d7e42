package link

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/supabridge/supabridge/shared/logs"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("pages").Funcs(template.FuncMap{
	"field": func(d *pageData, name string) fieldRef { return fieldRef{FieldErrors: d.FieldErrors, Field: name} },
}).ParseFS(assets, "assets/pages.html"))

// fieldRef lets the "error" template see one field's error.
type fieldRef struct {
	FieldErrors map[string]string
	Field       string
}

type fieldError struct{ Field, Message string }

// pageData is the connect page's view.
type pageData struct {
	Title       string
	Base        string
	Token       string
	CSRF        string
	PopupOrigin string
	Reconnect   bool

	OAuth, APIKey, AccessToken bool

	// Errors feed the summary, in page order; FieldErrors the inline
	// messages. Neither ever holds a submitted secret.
	Errors      []fieldError
	FieldErrors map[string]string
	// ProjectURL refills the URL field (never the secret fields).
	ProjectURL string
}

func (d *pageData) addError(field, msg string) {
	if d.FieldErrors == nil {
		d.FieldErrors = map[string]string{}
	}
	d.FieldErrors[field] = msg
	d.Errors = append(d.Errors, fieldError{Field: field, Message: msg})
}

// resultData is the view of a finished (or failed) link.
type resultData struct {
	Title, Base      string
	Heading, Message string
	Success          bool
	AccountID        string
	ErrorCode        string
	ErrorDescription string
	// PopupOrigin, when set, makes the page hand the result to its opener
	// at that origin.
	PopupOrigin string
	ContinueURL string
}

// pageHeaders are the connect pages' security headers. formTargets are
// the origins forms may post to or be redirected to after posting
// (Chromium applies form-action to those redirects too).
func pageHeaders(w http.ResponseWriter, secure bool, formTargets ...string) {
	h := w.Header()
	formAction := "'self'"
	for _, t := range formTargets {
		if t != "" && !strings.ContainsAny(t, " ;,'\"") {
			formAction += " " + t
		}
	}
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'none'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// originOf returns scheme://host of a URL, or "".
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any, formTargets ...string) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		logs.From(r.Context()).Error("render connect page", "template", name, "error", logs.Scrub(err.Error()))
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	pageHeaders(w, strings.HasPrefix(h.baseURL(r), "https://"), formTargets...)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// serveAsset serves an embedded file with a validator, so browsers
// revalidate cheaply after the short max-age.
func serveAsset(name, contentType string) http.HandlerFunc {
	body, err := assets.ReadFile("assets/" + name)
	if err != nil {
		panic("link: missing asset " + name)
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		// Operators' pages load sdk.js from another origin.
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(body)
	}
}
