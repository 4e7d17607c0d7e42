package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

// Page size bounds for listings.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Store is the typed state store. Its methods are safe for concurrent use
// and return *bridge.Error values with ENOTFOUND and ECONFLICT for the
// expected failures; other errors are the backend's, wrapped.
type Store struct {
	b Backend
	// Now is the clock used for timestamps and lease expiry.
	Now func() time.Time
}

// New returns a Store over b.
func New(b Backend) *Store { return &Store{b: b, Now: time.Now} }

// Backend returns the backend underneath s.
func (s *Store) Backend() Backend { return s.b }

// Close closes the backend.
func (s *Store) Close() error { return s.b.Close() }

func (s *Store) now() time.Time { return s.Now().UTC() }

// timeKey renders t so that string order is time order.
func timeKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// getJSON reads the item at (pk, sk) into v and returns its version.
func (s *Store) getJSON(ctx context.Context, pk, sk string, v any) (int64, error) {
	it, err := s.b.Get(ctx, pk, sk)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(it.Data, v); err != nil {
		return 0, fmt.Errorf("store: decode %s: %w", pk, err)
	}
	return it.Version, nil
}

// putJSON encodes v into it.Data and writes it under cond.
func (s *Store) putJSON(ctx context.Context, it *Item, v any, cond Condition) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", it.PK, err)
	}
	it.Data = data
	return s.b.Put(ctx, it, cond)
}

// queryJSON runs q and decodes each item with decode.
func queryJSON[T any](ctx context.Context, s *Store, q Query) ([]*T, error) {
	items, err := s.b.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]*T, 0, len(items))
	for _, it := range items {
		v := new(T)
		if err := json.Unmarshal(it.Data, v); err != nil {
			return nil, fmt.Errorf("store: decode %s: %w", it.PK, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func notFound(what string) *bridge.Error {
	return bridge.Errorf(bridge.ENOTFOUND, "%s not found.", what)
}

// unread rejects an update of a record that was never read from the store:
// with Version 0 the write would be unconditional and could overwrite
// anything.
func unread(what string) *bridge.Error {
	return bridge.Errorf(bridge.EINVALID, "The %s has no stored version; read it before updating it.", what)
}

// mapErr turns backend sentinels into domain errors.
func mapErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return notFound(what)
	case errors.Is(err, ErrConditionFailed):
		return bridge.Errorf(bridge.ECONFLICT, "The %s was changed concurrently; retry.", what).WithCause(err)
	}
	return err
}
