package app

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/supabridge/supabridge/shared/awssecrets"
	"github.com/supabridge/supabridge/shared/dynamo"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// openAWS opens DynamoDB and Secrets Manager. Region, credentials and
// endpoint overrides (AWS_ENDPOINT_URL_*) come from the environment, as on
// Lambda.
func openAWS(ctx context.Context, cfg Config) (store.Backend, vault.Vault, []io.Closer, error) {
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
}
