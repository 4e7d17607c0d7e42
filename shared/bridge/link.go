package bridge

import (
	"encoding/json"
	"time"
)

// LinkSession is the server side of a link token: which tenant is linking,
// how, and where to send them afterwards. Only the token's hash is stored.
type LinkSession struct {
	ID          string       `json:"id"`
	Environment string       `json:"environment"`
	TokenHash   string       `json:"-"`
	TenantID    string       `json:"tenant_id"`
	RedirectURI string       `json:"redirect_uri,omitempty"`
	Methods     []AuthMethod `json:"methods"`
	// AccountID, when set, makes the link reconnect that account in place.
	AccountID string          `json:"integrated_account_id,omitempty"`
	Context   json.RawMessage `json:"context,omitempty"`
	ExpiresAt time.Time       `json:"expires_at"`
	// ConsumedAt is set once the session linked an account; a consumed
	// session cannot be used again.
	ConsumedAt time.Time `json:"consumed_at,omitzero"`
	// ResultAccountID is the account the session linked.
	ResultAccountID string `json:"result_account_id,omitempty"`

	// OAuth in flight: the hash of the state parameter and its expiry.
	// The PKCE verifier is derived from the state, never stored.
	OAuthStateHash    string    `json:"-"`
	OAuthStateExpires time.Time `json:"-"`

	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Allows reports whether the session offers method m.
func (s *LinkSession) Allows(m AuthMethod) bool {
	for _, x := range s.Methods {
		if x == m {
			return true
		}
	}
	return false
}

// Usable reports whether the session can still be used at now.
func (s *LinkSession) Usable(now time.Time) bool {
	return s.ConsumedAt.IsZero() && now.Before(s.ExpiresAt)
}
