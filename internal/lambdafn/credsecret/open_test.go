package credsecret

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// textSM answers every GetSecretValue with text; its other calls are not
// made by OpenMSP (the token cache reader reads lazily).
type textSM struct {
	tokencache.SecretsManagerAPI
	text string
}

func (s textSM) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(s.text)}, nil
}

func TestOpenMSP(t *testing.T) {
	sim := centralsim.NewServer(func(o *centralsim.Options) { o.Tenants = 1 })
	t.Cleanup(sim.Close)
	applied := false
	cfg := MSPConfig{
		SecretsManager: textSM{text: string(sim.CredentialsYAML())}, Secret: "creds", SecretEnv: "SECRET_ENV",
		TokenCachePrefix: "centralmsp/tokens", TokenCacheEnv: "CACHE_ENV",
		Options: []func(*msp.Options){func(*msp.Options) { applied = true }},
	}
	m, err := OpenMSP(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !applied {
		t.Error("MSPConfig.Options were not applied")
	}
}

func TestOpenMSPErrors(t *testing.T) {
	sim := centralsim.NewServer(func(o *centralsim.Options) { o.Tenants = 1 })
	t.Cleanup(sim.Close)
	const canary = "canary-secret-value-123"
	good := textSM{text: string(sim.CredentialsYAML())}
	for name, c := range map[string]struct {
		cfg  MSPConfig
		want []string
	}{
		"no client":    {MSPConfig{Secret: "creds"}, []string{"no Secrets Manager client"}},
		"unparsable":   {MSPConfig{SecretsManager: textSM{text: `{"unified": "` + canary + `"`}, Secret: "creds", SecretEnv: "SECRET_ENV"}, []string{"credentials in creds (SECRET_ENV)"}},
		"not unified":  {MSPConfig{SecretsManager: textSM{text: `{"glp":{"client_id":"a","client_secret":"` + canary + `"}}`}, Secret: "creds", SecretEnv: "SECRET_ENV"}, []string{"credentials in creds (SECRET_ENV)"}},
		"cache prefix": {MSPConfig{SecretsManager: good, Secret: "creds", SecretEnv: "SECRET_ENV", TokenCachePrefix: "bad prefix/", TokenCacheEnv: "CACHE_ENV"}, []string{"CACHE_ENV: "}},
	} {
		m, err := OpenMSP(context.Background(), c.cfg)
		if err == nil {
			m.Close()
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not contain %q", name, err, w)
			}
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("%s: the error quotes the secret's value: %v", name, err)
		}
	}
}
