package link

import (
	"context"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/store"
)

// SettingsStore is what editing an environment's allowlist needs of the
// state store.
type SettingsStore interface {
	GetEnvironmentSettings(ctx context.Context, env string) (*store.EnvironmentSettings, error)
	PutEnvironmentSettings(ctx context.Context, e *store.EnvironmentSettings) error
}

var _ SettingsStore = (*store.Store)(nil)

// RedirectAllowlist returns env's stored allowlist entries (none when
// nothing was ever stored; LocalEnvironment also allows loopback).
func RedirectAllowlist(ctx context.Context, s SettingsStore, env string) ([]string, error) {
	es, err := s.GetEnvironmentSettings(ctx, env)
	switch {
	case bridge.IsCode(err, bridge.ENOTFOUND):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return es.RedirectURIs, nil
}

// AllowRedirect adds entry (see Allowlist for the forms) to env's
// allowlist and returns the new list. Adding an entry twice is a no-op;
// an invalid entry is EINVALID.
func AllowRedirect(ctx context.Context, s SettingsStore, env, entry string) ([]string, error) {
	if err := ValidateEntry(entry); err != nil {
		return nil, err
	}
	return editAllowlist(ctx, s, env, func(list []string) ([]string, error) {
		if slices.Contains(list, entry) {
			return list, nil
		}
		return append(list, entry), nil
	})
}

// DisallowRedirect removes entry from env's allowlist and returns the new
// list, or ENOTFOUND if it is not there.
func DisallowRedirect(ctx context.Context, s SettingsStore, env, entry string) ([]string, error) {
	return editAllowlist(ctx, s, env, func(list []string) ([]string, error) {
		i := slices.Index(list, entry)
		if i < 0 {
			return nil, bridge.Errorf(bridge.ENOTFOUND, "%q is not on the redirect allowlist of %s.", entry, env)
		}
		return slices.Delete(list, i, i+1), nil
	})
}

// editRetries bounds the attempts of one allowlist edit.
const editRetries = 30

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// editAllowlist applies change under optimistic concurrency: two admins
// editing at once both get their change in.
func editAllowlist(ctx context.Context, s SettingsStore, env string, change func([]string) ([]string, error)) ([]string, error) {
	if !bridge.ValidEnvironment(env) {
		return nil, bridge.Errorf(bridge.EINVALID, "Environment names use lowercase letters, digits, '-' and '_' (at most 63 characters).")
	}
	for attempt := range editRetries {
		if attempt > 0 {
			// Losers of a race back off by a random few milliseconds so
			// that a burst of editors spreads out instead of colliding
			// again.
			if err := sleep(ctx, time.Duration(mrand.Int64N(int64(attempt)*int64(5*time.Millisecond)))); err != nil {
				return nil, err
			}
		}
		es, err := s.GetEnvironmentSettings(ctx, env)
		switch {
		case bridge.IsCode(err, bridge.ENOTFOUND):
			es = &store.EnvironmentSettings{Environment: env}
		case err != nil:
			return nil, err
		}
		list, err := change(slices.Clone(es.RedirectURIs))
		if err != nil {
			return nil, err
		}
		es.RedirectURIs = list
		err = s.PutEnvironmentSettings(ctx, es)
		if err == nil {
			return list, nil
		}
		if !bridge.IsCode(err, bridge.ECONFLICT) {
			return nil, err
		}
	}
	return nil, bridge.Errorf(bridge.ECONFLICT, "The allowlist of %s is being changed concurrently; try again.", env)
}
