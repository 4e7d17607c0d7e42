// Package openapi holds the OpenAPI 3.1 document of Supabridge's public
// routes (openapi.yaml: integrated accounts, link tokens and the connect
// page, webhooks, refresh, and the unified User Directory API) and serves
// it as JSON at GET /openapi.json. Package openapitest validates responses
// against it in tests.
package openapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/httpapi"
)

//go:embed openapi.yaml
var source []byte

// Path is where the document is served.
const Path = "/openapi.json"

// YAML returns the document as written.
func YAML() []byte { return bytes.Clone(source) }

// JSON returns the document as JSON, members in the order written. It
// fails only if openapi.yaml is malformed, which the package's tests rule
// out.
func JSON() ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(source, &n); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &n); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return buf.Bytes(), nil
}

// writeJSON renders a YAML node as JSON, keeping mapping order.
func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: expected one document", n.Line)
		}
		return writeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			buf.Write(k)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			buf.WriteString("null")
		case "!!bool", "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			b, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			buf.Write(b)
		default:
			b, _ := json.Marshal(n.Value)
			buf.Write(b)
		}
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

// Handler serves the document. The zero value is ready to use; the JSON is
// rendered on the first request and kept.
type Handler struct {
	once sync.Once
	body []byte
	err  error
}

// ServeHTTP answers GET /openapi.json.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(func() { h.body, h.err = JSON() })
	if h.err != nil {
		httpapi.Error(w, r, h.err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Length", strconv.Itoa(len(h.body)))
	_, _ = w.Write(h.body)
}

// Register adds GET /openapi.json to rt.
func (h *Handler) Register(rt *httpapi.Router) { rt.Handle("GET "+Path, h) }

// Mount registers the document's route on rt.
func Mount(rt *httpapi.Router, _ *app.App) { new(Handler).Register(rt) }
