package credsecret

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// RequiredHint is what both functions say when the credentials secret's
// variable is not set.
const RequiredHint = "give the name or ARN of the secret with the unified MSP credentials"

// MSPConfig says where the credentials are and how to open the MSP client.
type MSPConfig struct {
	// SecretsManager reads the credentials secret and, with
	// TokenCachePrefix, the token cache.
	SecretsManager tokencache.SecretsManagerAPI
	// Secret is the credentials secret's name or ARN; SecretEnv the
	// variable that named it, quoted in errors.
	Secret, SecretEnv string
	// TokenCachePrefix, when set, makes the client take tenant tokens from
	// the token cache before exchanging them; TokenCacheEnv is the variable
	// that named it, quoted in errors.
	TokenCachePrefix, TokenCacheEnv string
	// Budgets, Now and Logger are the client's (zero: msp.New's defaults).
	Budgets *central.Budgets
	Now     func() time.Time
	Logger  *slog.Logger
	// Options are applied last (tests: the HTTP client).
	Options []func(*msp.Options)
}

// OpenMSP reads the credentials secret and opens the MSP client with the
// token cache reader (when TokenCachePrefix is set) and the budgets. Errors
// name the secret and its variable, never the secret's value.
func OpenMSP(ctx context.Context, c MSPConfig) (*msp.MSP, error) {
	if c.SecretsManager == nil {
		return nil, errors.New("no Secrets Manager client")
	}
	data, format, err := Read(ctx, c.SecretsManager, c.Secret, c.SecretEnv)
	if err != nil {
		return nil, err
	}
	creds, err := central.ParseCredentials(data, format, "secret "+c.Secret)
	if err != nil {
		return nil, fmt.Errorf("credentials in %s (%s): %w", c.Secret, c.SecretEnv, err)
	}
	opts := []func(*msp.Options){func(o *msp.Options) {
		o.Logger = c.Logger
		o.Budgets = c.Budgets
		o.Now = c.Now
	}}
	if c.TokenCachePrefix != "" {
		rd, err := tokencache.NewReader(tokencache.ReaderOptions{
			Prefix: c.TokenCachePrefix, Backend: tokencache.NewSecretsManager(c.SecretsManager, ""), Now: c.Now, Logger: c.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.TokenCacheEnv, err)
		}
		// A Reader miss matches msp.ErrTokenMiss: the tenant's token is exchanged.
		opts = append(opts, func(o *msp.Options) { o.TenantTokens = rd })
	}
	m, err := msp.New(creds, append(opts, c.Options...)...)
	if err != nil {
		return nil, fmt.Errorf("credentials in %s (%s): %w", c.Secret, c.SecretEnv, err)
	}
	return m, nil
}
