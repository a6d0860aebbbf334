package tokenrefresh

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	c, err := ConfigFromEnv(env(map[string]string{
		EnvCredentialsSecret:  "arn:aws:secretsmanager:us-east-1:123456789012:secret:centralmsp/creds-AbCdEf",
		EnvTokenCachePrefix:   "centralmsp/tokens",
		EnvKMSKeyID:           "alias/centralmsp",
		EnvRefreshConcurrency: "12",
	}))
	if err != nil || c.Concurrency != 12 || c.KMSKeyID != "alias/centralmsp" || c.Prefix != "centralmsp/tokens" {
		t.Fatalf("%+v %v", c, err)
	}
	c, err = ConfigFromEnv(env(map[string]string{EnvCredentialsSecret: "s", EnvTokenCachePrefix: "p"}))
	if err != nil || c.Concurrency != 8 || c.KMSKeyID != "" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for name, c := range map[string]struct {
		env  map[string]string
		want []string
	}{
		"empty":       {map[string]string{}, []string{EnvCredentialsSecret, EnvTokenCachePrefix}},
		"bad prefix":  {map[string]string{EnvCredentialsSecret: "s", EnvTokenCachePrefix: "/x y"}, []string{EnvTokenCachePrefix}},
		"concurrency": {map[string]string{EnvCredentialsSecret: "s", EnvTokenCachePrefix: "p", EnvRefreshConcurrency: "0"}, []string{EnvRefreshConcurrency}},
		"too many":    {map[string]string{EnvCredentialsSecret: "s", EnvTokenCachePrefix: "p", EnvRefreshConcurrency: "500"}, []string{EnvRefreshConcurrency}},
		"not number":  {map[string]string{EnvCredentialsSecret: "s", EnvTokenCachePrefix: "p", EnvRefreshConcurrency: "x"}, []string{EnvRefreshConcurrency}},
	} {
		_, err := ConfigFromEnv(env(c.env))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v does not name %s", name, err, w)
			}
		}
	}
}
