package store

import (
	"context"
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
// returns ECONFLICT while another owner holds it. Among concurrent callers,
// across processes, at most one wins.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (*bridge.Lease, error) {
	now := s.now()
	var cur leaseRecord
	v, err := s.getJSON(ctx, "LEASE#"+name, "L", &cur)
	l := &bridge.Lease{Name: name, Owner: owner, ExpiresAt: now.Add(ttl)}
	switch {
	case errors.Is(err, ErrNotFound):
		l.Version = 1
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

// RenewLease extends a held lease to now+ttl. It returns ECONFLICT if the
// lease changed hands (or was released) since l was obtained.
func (s *Store) RenewLease(ctx context.Context, l *bridge.Lease, ttl time.Duration) (*bridge.Lease, error) {
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
	err := s.b.Delete(ctx, "LEASE#"+l.Name, "L", Condition{IfVersion: l.Version})
	if errors.Is(err, ErrConditionFailed) {
		return bridge.Errorf(bridge.ECONFLICT, "Lease %s is no longer held by this owner.", l.Name)
	}
	return err
}
