// Package embedded links the embedded backend (one SQLite file holding the
// state store and the sealed vault) into the programs that run on one
// machine: the local runner, the admin tool and tests. Deployed functions do
// not import it, so their binaries carry no SQLite.
package embedded

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/sqlite"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// Backends opens cfg.DataDir/supabridge.db and its vault, sealed with
// cfg.MasterKey or the key file cfg.DataDir/master.key (created on first
// start).
func Backends(ctx context.Context, cfg app.Config) (store.Backend, vault.Vault, []io.Closer, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, nil, err
	}
	key, _, err := sqlite.MasterKey(cfg.MasterKey.Reveal(), filepath.Join(cfg.DataDir, "master.key"))
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := sqlite.Open(filepath.Join(cfg.DataDir, "supabridge.db"))
	if err != nil {
		return nil, nil, nil, err
	}
	v, err := db.Vault(ctx, key)
	if err != nil {
		_ = db.Close()
		return nil, nil, nil, err
	}
	return db, v, []io.Closer{db}, nil
}

// Open is app.Open with the embedded backend linked (either backend can
// still be chosen by cfg.Backend).
func Open(ctx context.Context, cfg app.Config) (*app.App, error) {
	return app.Open(ctx, cfg, app.WithEmbedded(Backends))
}

// OpenWithLogger is app.OpenWithLogger with the embedded backend linked.
func OpenWithLogger(ctx context.Context, cfg app.Config, logger *slog.Logger) (*app.App, error) {
	return app.OpenWithLogger(ctx, cfg, logger, app.WithEmbedded(Backends))
}
