package store

import (
	"context"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

func accountItem(a *bridge.Account) *Item {
	it := &Item{
		PK: "ACCOUNT#" + a.ID, SK: "A",
		GSI1PK: "ENV#" + a.Environment + "#ACCOUNTS", GSI1SK: a.ID,
		Version: a.Version,
	}
	if a.TenantID != "" {
		it.GSI2PK, it.GSI2SK = "ENV#"+a.Environment+"#TENANT#"+a.TenantID, a.ID
	}
	if !a.NextRefreshAt.IsZero() {
		it.GSI3PK, it.GSI3SK = "REFRESH", timeKey(a.NextRefreshAt)+"#"+a.ID
	}
	return it
}

// CreateAccount stores a new account with Version 1. It returns EINVALID
// unless the ID is a bridge.NewID and the environment is set, and ECONFLICT
// if the ID is taken; a failed create leaves a as it was.
func (s *Store) CreateAccount(ctx context.Context, a *bridge.Account) error {
	if !bridge.ValidID(a.ID) || a.Environment == "" {
		return bridge.Errorf(bridge.EINVALID, "Account record is incomplete.")
	}
	prev := *a
	now := s.now()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.UpdatedAt = now
	a.Version = 1
	if err := s.putJSON(ctx, accountItem(a), a, Condition{IfAbsent: true}); err != nil {
		*a = prev
		return mapErr(err, "integrated account")
	}
	return nil
}

// GetAccount returns the environment's account with id. An account of
// another environment is ENOTFOUND, exactly like a missing one.
func (s *Store) GetAccount(ctx context.Context, env, id string) (*bridge.Account, error) {
	if !bridge.ValidID(id) {
		return nil, notFound("Integrated account")
	}
	var a bridge.Account
	v, err := s.getJSON(ctx, "ACCOUNT#"+id, "A", &a)
	if err != nil {
		return nil, mapErr(err, "Integrated account")
	}
	if a.Environment != env {
		return nil, notFound("Integrated account")
	}
	a.Version = v
	return &a, nil
}

// UpdateAccount writes a if the stored version still equals a.Version, then
// increments a.Version. A lost race returns ECONFLICT; re-read and retry.
// An account never read from the store (Version 0) is EINVALID.
func (s *Store) UpdateAccount(ctx context.Context, a *bridge.Account) error {
	if a.Version < 1 {
		return unread("integrated account")
	}
	prev, prevUpdated := a.Version, a.UpdatedAt
	a.Version = prev + 1
	a.UpdatedAt = s.now()
	if err := s.putJSON(ctx, accountItem(a), a, Condition{IfVersion: prev}); err != nil {
		a.Version, a.UpdatedAt = prev, prevUpdated
		return mapErr(err, "integrated account")
	}
	return nil
}

// DeleteAccount removes the environment's account with id, or returns
// ENOTFOUND.
func (s *Store) DeleteAccount(ctx context.Context, env, id string) error {
	a, err := s.GetAccount(ctx, env, id)
	if err != nil {
		return err
	}
	return mapErr(s.b.Delete(ctx, "ACCOUNT#"+id, "A", Condition{IfVersion: a.Version}), "integrated account")
}

// ListAccounts returns one page of the environment's accounts, newest
// first, and the ID to pass as f.After for the next page ("" at the end).
func (s *Store) ListAccounts(ctx context.Context, f bridge.AccountFilter) ([]*bridge.Account, string, error) {
	q := Query{Index: IndexGSI1, PK: "ENV#" + f.Environment + "#ACCOUNTS", Descending: true, Before: f.After}
	if f.TenantID != "" {
		q.Index, q.PK = IndexGSI2, "ENV#"+f.Environment+"#TENANT#"+f.TenantID
	}
	keep := func(a *bridge.Account) bool {
		return a.Environment == f.Environment &&
			(f.Status == "" || a.Status == f.Status) &&
			(f.TenantID == "" || a.TenantID == f.TenantID)
	}
	return listPage(ctx, s, q, clampLimit(f.Limit), keep, func(a *bridge.Account) string { return a.ID })
}

// AccountsDueForRefresh returns accounts whose NextRefreshAt is before
// dueBefore, soonest first, across all environments. after continues a
// previous call (the last account's refresh key, from RefreshKey).
func (s *Store) AccountsDueForRefresh(ctx context.Context, dueBefore time.Time, after string, limit int) ([]*bridge.Account, error) {
	return queryJSON[bridge.Account](ctx, s, Query{
		Index: IndexGSI3, PK: "REFRESH", After: after,
		Before: timeKey(dueBefore), Limit: clampLimit(limit),
	})
}

// RefreshKey is a's position in the refresh index, for
// AccountsDueForRefresh's after.
func RefreshKey(a *bridge.Account) string { return timeKey(a.NextRefreshAt) + "#" + a.ID }

// listPage collects up to limit items of q that keep accepts, reading in
// batches, and returns the sort key to continue after ("" when exhausted).
func listPage[T any](ctx context.Context, s *Store, q Query, limit int, keep func(*T) bool, key func(*T) string) ([]*T, string, error) {
	out := make([]*T, 0, limit)
	batch := limit + 1
	for {
		q.Limit = batch
		got, err := queryJSON[T](ctx, s, q)
		if err != nil {
			return nil, "", err
		}
		for _, v := range got {
			if !keep(v) {
				continue
			}
			if len(out) == limit {
				return out, key(out[len(out)-1]), nil
			}
			out = append(out, v)
		}
		if len(got) < batch {
			return out, "", nil
		}
		last := key(got[len(got)-1])
		if q.Descending {
			q.Before = last
		} else {
			q.After = last
		}
	}
}
