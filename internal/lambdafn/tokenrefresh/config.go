// Package tokenrefresh is the token refresher Lambda: on a schedule it reads
// the MSP's unified credentials from Secrets Manager, gets the MSP token,
// lists every tenant, exchanges their tokens with bounded concurrency and
// writes the token cache secrets (internal/tokencache) the collector reads.
package tokenrefresh

import (
	"github.com/centralmsp/centralmsp/internal/lambdafn/credsecret"
	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
	"github.com/centralmsp/centralmsp/internal/tokencache"
)

// Environment variables the function reads.
const (
	EnvCredentialsSecret  = "CENTRALMSP_CREDENTIALS_SECRET"
	EnvTokenCachePrefix   = "CENTRALMSP_TOKEN_CACHE_PREFIX"
	EnvKMSKeyID           = "CENTRALMSP_KMS_KEY_ID"
	EnvRefreshConcurrency = "CENTRALMSP_REFRESH_CONCURRENCY"
)

// MaxConcurrency caps CENTRALMSP_REFRESH_CONCURRENCY.
const MaxConcurrency = 64

// Config is the function's configuration.
type Config struct {
	// CredentialsSecret is the name or ARN of the secret holding the unified
	// credentials, as JSON or YAML text (CENTRALMSP_CREDENTIALS_SECRET).
	CredentialsSecret string
	// Prefix is the name prefix of the cache secrets
	// (CENTRALMSP_TOKEN_CACHE_PREFIX).
	Prefix string
	// KMSKeyID (optional) encrypts cache secrets it creates
	// (CENTRALMSP_KMS_KEY_ID).
	KMSKeyID string
	// Concurrency bounds concurrent token exchanges
	// (CENTRALMSP_REFRESH_CONCURRENCY, default tokencache.DefaultConcurrency).
	Concurrency int
}

// ConfigFromEnv reads the configuration; every error names its variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	r := envconf.New(getenv)
	c := Config{
		CredentialsSecret: r.Required(EnvCredentialsSecret, credsecret.RequiredHint),
		Prefix:            r.Required(EnvTokenCachePrefix, "give the name prefix of the token cache secrets, e.g. centralmsp/tokens"),
		KMSKeyID:          r.Get(EnvKMSKeyID),
		Concurrency:       tokencache.DefaultConcurrency,
	}
	if c.Prefix != "" {
		r.Check(EnvTokenCachePrefix, tokencache.ValidatePrefix(c.Prefix))
	}
	r.Int(EnvRefreshConcurrency, 1, MaxConcurrency, &c.Concurrency)
	if err := r.Err("tokenrefresh"); err != nil {
		return Config{}, err
	}
	return c, nil
}
