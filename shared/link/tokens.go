package link

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/httpapi"
)

// MaxContext bounds a link's context object: it is copied onto the account
// and into every event about it.
const MaxContext = 8 << 10

// tenantPattern is what an operator's customer ID may look like.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9._:@+-]{1,256}$`)

type createRequest struct {
	TenantID            string          `json:"tenant_id"`
	RedirectURI         string          `json:"redirect_uri"`
	Methods             []string        `json:"methods"`
	IntegratedAccountID string          `json:"integrated_account_id"`
	Context             json.RawMessage `json:"context"`
}

// TokenResponse is POST /link-tokens' answer.
type TokenResponse struct {
	LinkToken string    `json:"link_token"`
	LinkURL   string    `json:"link_url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func invalidField(field, format string, args ...any) error {
	return bridge.Errorf(bridge.EINVALID, format, args...).WithDetails(map[string]any{"field": field})
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := httpapi.Decode(r, &req); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	sess, err := h.newSession(r.Context(), httpapi.Environment(r), req)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	tok := newLinkToken(sess.ID)
	sess.TokenHash = hashToken(tok)
	if err := h.Store.CreateLinkSession(r.Context(), sess); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusCreated, TokenResponse{
		LinkToken: tok,
		LinkURL:   h.baseURL(r) + "/connect?" + url.Values{"link_token": {tok}}.Encode(),
		ExpiresAt: sess.ExpiresAt,
	})
}

// newSession validates a request and returns the session it describes
// (without its token hash).
func (h *Handler) newSession(ctx context.Context, env string, req createRequest) (*bridge.LinkSession, error) {
	sess := &bridge.LinkSession{ID: bridge.NewID(), Environment: env, ExpiresAt: h.now().Add(TokenLifetime)}
	if req.IntegratedAccountID != "" {
		acct, err := h.Store.GetAccount(ctx, env, req.IntegratedAccountID)
		if err != nil {
			return nil, err
		}
		if req.TenantID != "" && req.TenantID != acct.TenantID {
			return nil, invalidField("tenant_id", "tenant_id does not match the tenant of integrated_account_id; omit it when reconnecting.")
		}
		sess.AccountID, sess.TenantID = acct.ID, acct.TenantID
	} else {
		if req.TenantID == "" {
			return nil, invalidField("tenant_id", "tenant_id is required: your own identifier for the customer who is linking.")
		}
		if !tenantPattern.MatchString(req.TenantID) {
			return nil, invalidField("tenant_id", "tenant_id must be 1 to 256 characters of letters, digits and . _ : @ + -.")
		}
		sess.TenantID = req.TenantID
	}
	if req.RedirectURI != "" {
		al, err := h.allowlist(ctx, env)
		if err != nil {
			return nil, err
		}
		if err := al.Check(req.RedirectURI); err != nil {
			return nil, err
		}
		sess.RedirectURI = req.RedirectURI
	}
	methods, err := h.methods(req.Methods)
	if err != nil {
		return nil, err
	}
	sess.Methods = methods
	if c := bytes.TrimSpace(req.Context); len(c) > 0 && !bytes.Equal(c, []byte("null")) {
		if c[0] != '{' {
			return nil, invalidField("context", "context must be a JSON object.")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, c); err != nil {
			return nil, invalidField("context", "context must be a JSON object.")
		}
		if buf.Len() > MaxContext {
			return nil, invalidField("context", "context must be at most %d bytes of JSON.", MaxContext)
		}
		sess.Context = json.RawMessage(buf.Bytes())
	}
	return sess, nil
}

// methods checks the requested methods: a subset of the three, without
// duplicates, and oauth only when an OAuth client is configured. None
// means every available one.
func (h *Handler) methods(req []string) ([]bridge.AuthMethod, error) {
	if req == nil {
		out := []bridge.AuthMethod{bridge.AuthOAuth, bridge.AuthAPIKey, bridge.AuthAccessToken}
		if !h.oauthAvailable() {
			out = out[1:]
		}
		return out, nil
	}
	if len(req) == 0 {
		return nil, invalidField("methods", "methods must name at least one of oauth, api_key, access_token (or be omitted).")
	}
	var out []bridge.AuthMethod
	for _, m := range req {
		am := bridge.AuthMethod(m)
		switch {
		case !am.Valid():
			return nil, invalidField("methods", "methods may contain only oauth, api_key and access_token.")
		case slices.Contains(out, am):
			return nil, invalidField("methods", "methods lists %s twice.", m)
		case am == bridge.AuthOAuth && !h.oauthAvailable():
			return nil, invalidField("methods", "oauth is not available: no Supabase OAuth app is configured (SUPABRIDGE_OAUTH_CLIENT_ID).")
		}
		out = append(out, am)
	}
	return out, nil
}

// openSession finds the session a link token names and checks the token.
// Unknown tokens are ENOTFOUND; used or expired ones EGONE (with the
// session, so the caller can still send the user back).
func (h *Handler) openSession(ctx context.Context, tok string) (*bridge.LinkSession, error) {
	id, ok := parseLinkToken(tok)
	if !ok {
		return nil, bridge.Errorf(bridge.ENOTFOUND, "This link is not valid.")
	}
	sess, err := h.Store.GetLinkSession(ctx, id)
	if err != nil {
		if bridge.IsCode(err, bridge.ENOTFOUND) {
			return nil, bridge.Errorf(bridge.ENOTFOUND, "This link is not valid.")
		}
		return nil, err
	}
	if !hashesEqual(sess.TokenHash, hashToken(tok)) {
		return nil, bridge.Errorf(bridge.ENOTFOUND, "This link is not valid.")
	}
	if !sess.Usable(h.now()) {
		return sess, errUsedOrExpired(sess)
	}
	return sess, nil
}

func errUsedOrExpired(sess *bridge.LinkSession) error {
	if !sess.ConsumedAt.IsZero() {
		return bridge.Errorf(bridge.EGONE, "This link was already used. Ask for a new link.")
	}
	return bridge.Errorf(bridge.EGONE, "This link has expired. Ask for a new link.")
}
