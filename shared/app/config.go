// Package app is the composition root shared by every function, the local
// runner and the admin tool: it reads configuration from the environment and
// builds the logger, state store, credential vault, cursor signer and API key
// authenticator once per process (a Lambda cold start), for either backend:
// AWS (DynamoDB and Secrets Manager) or embedded (one SQLite file).
package app

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/logs"
)

// Backends.
const (
	BackendEmbedded = "embedded"
	BackendAWS      = "aws"
)

// Config is the process configuration. ConfigFromEnv documents each
// variable; the README lists them.
type Config struct {
	// Function names the function for log lines.
	Function string
	// Backend is BackendEmbedded (default) or BackendAWS.
	Backend string
	// DataDir holds the embedded SQLite file and key file (default
	// ./.supabridge).
	DataDir string
	// MasterKey seals the embedded vault (base64 or hex of 32 bytes); empty
	// means the key file in DataDir, created on first start.
	MasterKey bridge.Secret
	// Table is the DynamoDB table (aws).
	Table string
	// SecretPrefix prefixes every Secrets Manager name (aws; default
	// "supabridge/").
	SecretPrefix string
	// KMSKeyID encrypts new secrets (aws; empty: the account's default key).
	KMSKeyID string
	// PublicURL is where operators and end customers reach the API; empty
	// means "derive it from each request's host".
	PublicURL string
	// AllowPrivateUpstreams lets linked project URLs point at loopback and
	// private addresses (the local sandbox).
	AllowPrivateUpstreams bool
	// ManagementAPIURL is the Supabase Management API base URL (default
	// https://api.supabase.com).
	ManagementAPIURL string
	// ProjectURLTemplate builds a project's API URL from its ref ("{ref}"
	// is replaced); default https://{ref}.supabase.co. The Management API
	// names projects only by ref.
	ProjectURLTemplate string
	// OAuthClientID and OAuthClientSecret identify Supabridge's Supabase
	// OAuth app. On AWS the secret is read from the vault
	// (OAuthClientSecretRef) when the environment does not set it.
	OAuthClientID     string
	OAuthClientSecret bridge.Secret
	// OAuthRedirectURL is the registered callback; empty means
	// PublicURL (or the request's host) + /connect/oauth/callback.
	OAuthRedirectURL string
	// DeliveryQueueURL is the SQS queue that triggers webhook deliveries
	// (aws); empty delivers in-process.
	DeliveryQueueURL string
	// CacheTTL bounds how long API keys, accounts and credentials are
	// trusted from memory on a warm function (default 60 s).
	CacheTTL time.Duration
	// LogLevel of the JSON logs.
	LogLevel slog.Level
}

// ConfigFromEnv reads the configuration for function from getenv
// (os.Getenv in production).
func ConfigFromEnv(function string, getenv func(string) string) (Config, error) {
	c := Config{
		Function:     function,
		Backend:      strings.ToLower(strings.TrimSpace(getenv("SUPABRIDGE_BACKEND"))),
		DataDir:      getenv("SUPABRIDGE_DATA_DIR"),
		MasterKey:    bridge.Secret(getenv("SUPABRIDGE_MASTER_KEY")),
		Table:        getenv("SUPABRIDGE_TABLE"),
		SecretPrefix: getenv("SUPABRIDGE_SECRET_PREFIX"),
		KMSKeyID:     getenv("SUPABRIDGE_KMS_KEY_ID"),
		PublicURL:    strings.TrimRight(getenv("SUPABRIDGE_PUBLIC_URL"), "/"),
		CacheTTL:     time.Minute,

		ManagementAPIURL:  strings.TrimRight(getenv("SUPABRIDGE_MANAGEMENT_API_URL"), "/"),
		OAuthClientID:     getenv("SUPABRIDGE_OAUTH_CLIENT_ID"),
		OAuthClientSecret: bridge.Secret(getenv("SUPABRIDGE_OAUTH_CLIENT_SECRET")),
		OAuthRedirectURL:  getenv("SUPABRIDGE_OAUTH_REDIRECT_URL"),
		DeliveryQueueURL:  getenv("SUPABRIDGE_DELIVERY_QUEUE_URL"),
	}
	c.ProjectURLTemplate = strings.TrimRight(getenv("SUPABRIDGE_PROJECT_URL_TEMPLATE"), "/")
	if c.ProjectURLTemplate == "" {
		c.ProjectURLTemplate = "https://{ref}.supabase.co"
	}
	if !strings.Contains(c.ProjectURLTemplate, "{ref}") {
		return c, fmt.Errorf("SUPABRIDGE_PROJECT_URL_TEMPLATE: %q has no {ref}", c.ProjectURLTemplate)
	}
	if c.ManagementAPIURL == "" {
		c.ManagementAPIURL = "https://api.supabase.com"
	}
	if u, err := url.Parse(c.ManagementAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return c, fmt.Errorf("SUPABRIDGE_MANAGEMENT_API_URL: %q is not an http(s) base URL", c.ManagementAPIURL)
	}
	if c.Backend == "" {
		c.Backend = BackendEmbedded
	}
	if c.DataDir == "" {
		c.DataDir = ".supabridge"
	}
	if c.SecretPrefix == "" {
		c.SecretPrefix = "supabridge/"
	}
	// Lambda sets AWS_LAMBDA_LOG_LEVEL from the function's LoggingConfig.
	level := getenv("SUPABRIDGE_LOG_LEVEL")
	if level == "" {
		level = getenv("AWS_LAMBDA_LOG_LEVEL")
	}
	c.LogLevel = logs.ParseLevel(level)
	var err error
	if c.AllowPrivateUpstreams, err = envBool(getenv, "SUPABRIDGE_ALLOW_PRIVATE_UPSTREAMS"); err != nil {
		return c, err
	}
	if s := getenv("SUPABRIDGE_CACHE_TTL"); s != "" {
		if c.CacheTTL, err = time.ParseDuration(s); err != nil || c.CacheTTL < 0 {
			return c, fmt.Errorf("SUPABRIDGE_CACHE_TTL: %q is not a duration such as 30s", s)
		}
	}
	switch c.Backend {
	case BackendEmbedded:
	case BackendAWS:
		if c.Table == "" {
			return c, fmt.Errorf("SUPABRIDGE_TABLE is required with SUPABRIDGE_BACKEND=aws")
		}
	default:
		return c, fmt.Errorf("SUPABRIDGE_BACKEND: %q is not %q or %q", c.Backend, BackendEmbedded, BackendAWS)
	}
	return c, nil
}

func envBool(getenv func(string) string, name string) (bool, error) {
	s := getenv(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not true or false", name, s)
	}
	return b, nil
}
