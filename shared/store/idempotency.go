package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

// IdempotencyState is where a keyed request stands.
type IdempotencyState string

// Idempotency states.
const (
	// IdempotencyInProgress: a request holds the key and has not finished.
	IdempotencyInProgress IdempotencyState = "in_progress"
	// IdempotencyComplete: the request finished; its response is stored.
	IdempotencyComplete IdempotencyState = "complete"
)

// Idempotency bounds.
const (
	// MaxIdempotencyKey is the longest Idempotency-Key accepted.
	MaxIdempotencyKey = 255
	// MaxIdempotentBody is the largest response body kept for replay; the
	// item must stay well under DynamoDB's 400 KB once base64-encoded.
	MaxIdempotentBody = 256 << 10
)

// IdempotencyRecord is one Idempotency-Key of one scope (for example an
// integrated account): who holds it, the fingerprint of the request that
// claimed it, and, once complete, the response to replay.
type IdempotencyRecord struct {
	Environment string `json:"environment"`
	// Scope separates keys of different owners: the same key sent for two
	// integrated accounts names two records.
	Scope string `json:"scope"`
	Key   string `json:"key"`
	// Fingerprint identifies the request (method, path, query, body); a
	// different request under the same key is a conflict.
	Fingerprint string           `json:"fingerprint"`
	State       IdempotencyState `json:"state"`
	// LockedUntil bounds an in-progress claim: past it, the claim is
	// abandoned (its holder crashed) and the same request may take over.
	LockedUntil time.Time `json:"locked_until,omitzero"`
	// ExpiresAt ends the record; later requests with the key start afresh.
	ExpiresAt time.Time `json:"expires_at"`

	Status int                 `json:"status,omitempty"`
	Header map[string][]string `json:"header,omitempty"`
	Body   []byte              `json:"body,omitempty"`

	Version   int64     `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func idempotencyPK(env, scope, key string) string {
	h := sha256.New()
	for _, s := range []string{env, scope, key} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "IDEMPOTENCY#" + hex.EncodeToString(h.Sum(nil))
}

func idempotencyItem(r *IdempotencyRecord) *Item {
	return &Item{PK: idempotencyPK(r.Environment, r.Scope, r.Key), SK: "I", Version: r.Version, ExpiresAt: r.ExpiresAt}
}

func (s *Store) getIdempotency(ctx context.Context, env, scope, key string) (*IdempotencyRecord, error) {
	var r IdempotencyRecord
	v, err := s.getJSON(ctx, idempotencyPK(env, scope, key), "I", &r)
	if err != nil {
		return nil, err
	}
	r.Version = v
	return &r, nil
}

// ClaimIdempotencyKey tries to take the key of r for a new request: it
// stores r in progress, locked for lock and kept for ttl, and returns
// (nil, nil) with r.Version set. When a live record already holds the key
// it returns that record instead, for the caller to replay (complete, same
// fingerprint) or refuse (another fingerprint, or still in progress). An
// expired record, or an abandoned in-progress claim of the same
// fingerprint, is taken over. Concurrent claims of one key: exactly one
// wins; the others see its record. Errors: EINVALID for a missing or
// over-long key or scope, ECONFLICT when the record kept changing.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, r *IdempotencyRecord, lock, ttl time.Duration) (*IdempotencyRecord, error) {
	if r.Key == "" || len(r.Key) > MaxIdempotencyKey || r.Scope == "" || r.Environment == "" || lock <= 0 || ttl < lock {
		return nil, bridge.Errorf(bridge.EINVALID, "An idempotency claim needs an environment, a scope, a key of 1 to %d characters and a lock no longer than its lifetime.", MaxIdempotencyKey)
	}
	for range 4 {
		now := s.now()
		r.State, r.Status, r.Header, r.Body = IdempotencyInProgress, 0, nil, nil
		r.LockedUntil, r.ExpiresAt = now.Add(lock), now.Add(ttl)
		r.CreatedAt, r.UpdatedAt = now, now
		cur, err := s.getIdempotency(ctx, r.Environment, r.Scope, r.Key)
		switch {
		case errors.Is(err, ErrNotFound):
			r.Version = 1
			err = s.putJSON(ctx, idempotencyItem(r), r, Condition{IfAbsent: true})
		case err != nil:
			return nil, err
		case now.Before(cur.ExpiresAt) && !(cur.State == IdempotencyInProgress && !now.Before(cur.LockedUntil) && cur.Fingerprint == r.Fingerprint):
			return cur, nil
		default:
			r.Version = cur.Version + 1
			err = s.putJSON(ctx, idempotencyItem(r), r, Condition{IfVersion: cur.Version})
		}
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, ErrConditionFailed) {
			return nil, err
		}
	}
	r.Version = 0
	return nil, bridge.Errorf(bridge.ECONFLICT, "The idempotency key is being claimed concurrently; retry.")
}

// CompleteIdempotencyKey stores the response of the request that claimed
// r (status, header, body) for replay until r.ExpiresAt. It returns
// ECONFLICT if the claim was lost (another request took the key over) and
// EINVALID for a body over MaxIdempotentBody.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, r *IdempotencyRecord, status int, header map[string][]string, body []byte) error {
	if r.Version < 1 {
		return unread("idempotency record")
	}
	if len(body) > MaxIdempotentBody {
		return bridge.Errorf(bridge.EINVALID, "The response is too large to keep for replay (%d bytes; at most %d).", len(body), MaxIdempotentBody)
	}
	next := *r
	next.State, next.Status, next.Header, next.Body = IdempotencyComplete, status, header, body
	next.LockedUntil = time.Time{}
	next.UpdatedAt = s.now()
	next.Version = r.Version + 1
	if err := s.putJSON(ctx, idempotencyItem(&next), &next, Condition{IfVersion: r.Version}); err != nil {
		return mapErr(err, "idempotency record")
	}
	*r = next
	return nil
}

// ReleaseIdempotencyKey gives up the claim of r (the request failed in a
// way worth retrying), so the next request with the key runs afresh. It
// returns ECONFLICT if the claim was already lost; releasing twice is a
// no-op.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, r *IdempotencyRecord) error {
	if r.Version < 1 {
		return nil
	}
	err := s.b.Delete(ctx, idempotencyPK(r.Environment, r.Scope, r.Key), "I", Condition{IfVersion: r.Version})
	if err != nil {
		return mapErr(err, "idempotency record")
	}
	r.Version = 0
	return nil
}
