package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/supabridge/supabridge/shared/awssecrets"
	"github.com/supabridge/supabridge/shared/dynamo"
	"github.com/supabridge/supabridge/shared/sqlite"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// openBackends opens the state store backend and the vault for cfg.
func openBackends(ctx context.Context, cfg Config) (store.Backend, vault.Vault, []io.Closer, error) {
	switch cfg.Backend {
	case BackendAWS:
		// Region, credentials and endpoint overrides (AWS_ENDPOINT_URL_*)
		// come from the environment, as on Lambda.
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("aws configuration: %w", err)
		}
		v, err := awssecrets.New(secretsmanager.NewFromConfig(awsCfg), awssecrets.Options{Prefix: cfg.SecretPrefix, KMSKeyID: cfg.KMSKeyID})
		if err != nil {
			return nil, nil, nil, err
		}
		b := dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.Table)
		return b, v, []io.Closer{b}, nil
	default:
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
}
