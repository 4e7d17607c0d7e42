package bridge

import (
	"encoding/json"
	"fmt"
	"time"
)

// Credential is what the vault holds for an integrated account. Its secret
// fields are Secrets, so printing or JSON-encoding a Credential never shows
// them; MarshalBinary and UnmarshalBinary are the one codec that carries the
// values, and only the vault uses them.
type Credential struct {
	Method AuthMethod

	// OAuth (Management API, organization-scoped).
	AccessToken  Secret
	RefreshToken Secret
	TokenType    string
	Expiry       time.Time

	// Project API key (project plane).
	APIKey Secret

	// Personal access token (sbp_…).
	PersonalAccessToken Secret

	// Generation counts the credential's rotations; a refresher compares it
	// before and after taking the refresh lease to detect that another
	// holder already refreshed.
	Generation int64
	UpdatedAt  time.Time
}

// credentialWire is Credential's storage encoding.
type credentialWire struct {
	Method              AuthMethod `json:"method"`
	AccessToken         string     `json:"access_token,omitempty"`
	RefreshToken        string     `json:"refresh_token,omitempty"`
	TokenType           string     `json:"token_type,omitempty"`
	Expiry              time.Time  `json:"expiry,omitzero"`
	APIKey              string     `json:"api_key,omitempty"`
	PersonalAccessToken string     `json:"personal_access_token,omitempty"`
	Generation          int64      `json:"generation"`
	UpdatedAt           time.Time  `json:"updated_at,omitzero"`
}

// MarshalBinary encodes the credential with its secret values, for the vault.
func (c Credential) MarshalBinary() ([]byte, error) {
	return json.Marshal(credentialWire{
		Method:              c.Method,
		AccessToken:         c.AccessToken.Reveal(),
		RefreshToken:        c.RefreshToken.Reveal(),
		TokenType:           c.TokenType,
		Expiry:              c.Expiry,
		APIKey:              c.APIKey.Reveal(),
		PersonalAccessToken: c.PersonalAccessToken.Reveal(),
		Generation:          c.Generation,
		UpdatedAt:           c.UpdatedAt,
	})
}

// UnmarshalBinary decodes what MarshalBinary encoded.
func (c *Credential) UnmarshalBinary(b []byte) error {
	var w credentialWire
	if err := json.Unmarshal(b, &w); err != nil {
		// Never wrap the JSON error: its text can quote the input.
		return fmt.Errorf("decode credential: malformed (%d bytes)", len(b))
	}
	*c = Credential{
		Method:              w.Method,
		AccessToken:         Secret(w.AccessToken),
		RefreshToken:        Secret(w.RefreshToken),
		TokenType:           w.TokenType,
		Expiry:              w.Expiry,
		APIKey:              Secret(w.APIKey),
		PersonalAccessToken: Secret(w.PersonalAccessToken),
		Generation:          w.Generation,
		UpdatedAt:           w.UpdatedAt,
	}
	return nil
}
