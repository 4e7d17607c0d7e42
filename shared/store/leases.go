package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

type leaseRecord struct {
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Store) putLease(ctx context.Context, l *bridge.Lease, cond Condition) error {
	it := &Item{PK: "LEASE#" + l.Name, SK: "L", Version: l.Version, ExpiresAt: l.ExpiresAt.Add(time.Hour)}
	return s.putJSON(ctx, it, leaseRecord{l.Name, l.Owner, l.ExpiresAt}, cond)
}

// AcquireLease claims the lease name for owner until now+ttl. It succeeds
// when the lease is free, expired, or already owner's (which renews it), and
// returns ECONFLICT while another owner holds it (EINVALID without a name,
// an owner and a positive ttl). Among concurrent callers, across processes,
// at most one wins. The returned Version is a fencing token: no other
// acquisition of the name yields the same one.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (*bridge.Lease, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return nil, bridge.Errorf(bridge.EINVALID, "A lease needs a name, an owner and a positive duration.")
	}
	now := s.now()
	var cur leaseRecord
	v, err := s.getJSON(ctx, "LEASE#"+name, "L", &cur)
	l := &bridge.Lease{Name: name, Owner: owner, ExpiresAt: now.Add(ttl)}
	switch {
	case errors.Is(err, ErrNotFound):
		l.Version = firstLeaseVersion()
		err = s.putLease(ctx, l, Condition{IfAbsent: true})
	case err != nil:
		return nil, err
	case cur.Owner == owner || !now.Before(cur.ExpiresAt):
		l.Version = v + 1
		err = s.putLease(ctx, l, Condition{IfVersion: v})
	default:
		return nil, bridge.Errorf(bridge.ECONFLICT, "Lease %s is held until %s.", name, cur.ExpiresAt.Format(time.RFC3339))
	}
	if errors.Is(err, ErrConditionFailed) {
		return nil, bridge.Errorf(bridge.ECONFLICT, "Lease %s was taken concurrently.", name)
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// firstLeaseVersion starts a lease record's versions at a random point.
// Release deletes the record, so a lease taken afresh would otherwise
// restart at the version an earlier holder still has, and that holder's
// stale Renew or Release would succeed against the new holder.
func firstLeaseVersion() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails: since Go 1.24 it crashes instead
	// 62 bits: far from overflow however often the lease is renewed.
	return int64(binary.BigEndian.Uint64(b[:])>>2) + 1
}

// RenewLease extends a held lease to now+ttl. It returns ECONFLICT if the
// lease changed hands (or was released) since l was obtained, or if l did
// not come from AcquireLease or RenewLease.
func (s *Store) RenewLease(ctx context.Context, l *bridge.Lease, ttl time.Duration) (*bridge.Lease, error) {
	if l.Version < 1 {
		return nil, bridge.Errorf(bridge.ECONFLICT, "Lease %s is not held by this owner.", l.Name)
	}
	n := &bridge.Lease{Name: l.Name, Owner: l.Owner, ExpiresAt: s.now().Add(ttl), Version: l.Version + 1}
	if err := s.putLease(ctx, n, Condition{IfVersion: l.Version}); err != nil {
		if errors.Is(err, ErrConditionFailed) {
			return nil, bridge.Errorf(bridge.ECONFLICT, "Lease %s is no longer held by this owner.", l.Name)
		}
		return nil, err
	}
	return n, nil
}

// ReleaseLease frees a held lease. It returns ECONFLICT if the lease
// changed hands since l was obtained (nothing is released then).
func (s *Store) ReleaseLease(ctx context.Context, l *bridge.Lease) error {
	if l.Version < 1 {
		return bridge.Errorf(bridge.ECONFLICT, "Lease %s is not held by this owner.", l.Name)
	}
	err := s.b.Delete(ctx, "LEASE#"+l.Name, "L", Condition{IfVersion: l.Version})
	if errors.Is(err, ErrConditionFailed) {
		return bridge.Errorf(bridge.ECONFLICT, "Lease %s is no longer held by this owner.", l.Name)
	}
	return err
}
