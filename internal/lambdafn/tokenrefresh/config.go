// Package tokenrefresh is the token refresher Lambda: on a schedule it reads
// the MSP's unified credentials from Secrets Manager, gets the MSP token,
// lists every tenant, exchanges their tokens with bounded concurrency and
// writes the token cache secrets (internal/tokencache) the collector reads.
package tokenrefresh

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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
	c := Config{
		CredentialsSecret: strings.TrimSpace(getenv(EnvCredentialsSecret)),
		Prefix:            strings.TrimSpace(getenv(EnvTokenCachePrefix)),
		KMSKeyID:          strings.TrimSpace(getenv(EnvKMSKeyID)),
		Concurrency:       tokencache.DefaultConcurrency,
	}
	var errs []error
	if c.CredentialsSecret == "" {
		errs = append(errs, fmt.Errorf("%s is not set: give the name or ARN of the secret with the unified MSP credentials", EnvCredentialsSecret))
	}
	if c.Prefix == "" {
		errs = append(errs, fmt.Errorf("%s is not set: give the name prefix of the token cache secrets, e.g. centralmsp/tokens", EnvTokenCachePrefix))
	} else if err := tokencache.ValidatePrefix(c.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvTokenCachePrefix, err))
	}
	if v := strings.TrimSpace(getenv(EnvRefreshConcurrency)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxConcurrency {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number from 1 to %d", EnvRefreshConcurrency, v, MaxConcurrency))
		} else {
			c.Concurrency = n
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("tokenrefresh: configuration: %w", err)
	}
	return c, nil
}
