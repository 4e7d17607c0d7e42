package store

import (
	"context"
	"slices"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
)

// EnvironmentSettings are an environment's operator-controlled settings.
// Today that is the redirect allowlist of the link flow; the record grows by
// adding fields, which older records decode as zero values.
type EnvironmentSettings struct {
	Environment string `json:"environment"`
	// RedirectURIs are the redirect_uri values link tokens may carry: exact
	// URLs, or prefixes written with a trailing '*' (package link defines
	// the matching).
	RedirectURIs []string `json:"redirect_uris"`

	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func environmentItem(e *EnvironmentSettings) *Item {
	return &Item{PK: "ENV#" + e.Environment, SK: "SETTINGS", Version: e.Version}
}

// GetEnvironmentSettings returns env's settings, or ENOTFOUND when none were
// ever stored (callers then use their defaults).
func (s *Store) GetEnvironmentSettings(ctx context.Context, env string) (*EnvironmentSettings, error) {
	if !bridge.ValidEnvironment(env) {
		return nil, notFound("Environment settings")
	}
	var e EnvironmentSettings
	v, err := s.getJSON(ctx, "ENV#"+env, "SETTINGS", &e)
	if err != nil {
		return nil, mapErr(err, "Environment settings")
	}
	e.Version = v
	return &e, nil
}

// PutEnvironmentSettings creates the settings when e.Version is 0 (ECONFLICT
// if they already exist) and otherwise replaces them if the stored version
// still equals e.Version (ECONFLICT on a lost race: re-read and retry). On
// success e.Version is the stored version; on failure e is unchanged.
func (s *Store) PutEnvironmentSettings(ctx context.Context, e *EnvironmentSettings) error {
	if !bridge.ValidEnvironment(e.Environment) {
		return bridge.Errorf(bridge.EINVALID, "Environment names use lowercase letters, digits, '-' and '_' (at most 63 characters).")
	}
	prev := *e
	prev.RedirectURIs = slices.Clone(e.RedirectURIs)
	now := s.now()
	cond := Condition{IfAbsent: true}
	if e.Version == 0 {
		e.CreatedAt = now
	} else {
		cond = Condition{IfVersion: e.Version}
	}
	e.Version++
	e.UpdatedAt = now
	if e.RedirectURIs == nil {
		e.RedirectURIs = []string{}
	}
	if err := s.putJSON(ctx, environmentItem(e), e, cond); err != nil {
		*e = prev
		return mapErr(err, "environment settings")
	}
	return nil
}
