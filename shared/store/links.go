package store

import (
	"context"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

// linkRecord stores the hashes that LinkSession's JSON form leaves out.
type linkRecord struct {
	bridge.LinkSession
	StoredTokenHash string    `json:"token_hash"`
	StateHash       string    `json:"oauth_state_hash,omitempty"`
	StateExpires    time.Time `json:"oauth_state_expires,omitzero"`
}

func linkItem(l *bridge.LinkSession) *Item {
	return &Item{PK: "LINK#" + l.ID, SK: "L", Version: l.Version, ExpiresAt: l.ExpiresAt.Add(24 * time.Hour)}
}

// CreateLinkSession stores a new link session with Version 1 (EINVALID
// without a bridge.NewID ID and an environment, ECONFLICT if the ID is
// taken; a failed create leaves l as it was).
func (s *Store) CreateLinkSession(ctx context.Context, l *bridge.LinkSession) error {
	if !bridge.ValidID(l.ID) || l.Environment == "" {
		return bridge.Errorf(bridge.EINVALID, "Link session record is incomplete.")
	}
	prev := *l
	now := s.now()
	if l.CreatedAt.IsZero() {
		l.CreatedAt = now
	}
	l.UpdatedAt = now
	l.Version = 1
	rec := linkRecord{*l, l.TokenHash, l.OAuthStateHash, l.OAuthStateExpires}
	if err := s.putJSON(ctx, linkItem(l), rec, Condition{IfAbsent: true}); err != nil {
		*l = prev
		return mapErr(err, "link session")
	}
	return nil
}

// GetLinkSession returns the session with id (of any environment: the link
// token, not an API key, authorises its use), or ENOTFOUND.
func (s *Store) GetLinkSession(ctx context.Context, id string) (*bridge.LinkSession, error) {
	if !bridge.ValidID(id) {
		return nil, notFound("Link session")
	}
	var r linkRecord
	v, err := s.getJSON(ctx, "LINK#"+id, "L", &r)
	if err != nil {
		return nil, mapErr(err, "Link session")
	}
	l := r.LinkSession
	l.TokenHash, l.OAuthStateHash, l.OAuthStateExpires = r.StoredTokenHash, r.StateHash, r.StateExpires
	l.Version = v
	return &l, nil
}

// UpdateLinkSession writes l if the stored version still equals l.Version
// (ECONFLICT otherwise; EINVALID for Version 0), then increments
// l.Version. Consuming a session is an update, so a session is consumed at
// most once.
func (s *Store) UpdateLinkSession(ctx context.Context, l *bridge.LinkSession) error {
	if l.Version < 1 {
		return unread("link session")
	}
	prev, prevUpdated := l.Version, l.UpdatedAt
	l.Version = prev + 1
	l.UpdatedAt = s.now()
	rec := linkRecord{*l, l.TokenHash, l.OAuthStateHash, l.OAuthStateExpires}
	if err := s.putJSON(ctx, linkItem(l), rec, Condition{IfVersion: prev}); err != nil {
		l.Version, l.UpdatedAt = prev, prevUpdated
		return mapErr(err, "link session")
	}
	return nil
}
