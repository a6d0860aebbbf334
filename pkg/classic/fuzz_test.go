package classic

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseConfig: ParseConfig never panics, returns either a *ConfigError
// or a config that validates, and never puts the password or the client
// secret into an error. Seeds live in testdata/fuzz/FuzzParseConfig.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("central_info:\n  username: u\n  password: p\n  client_id: c\n  client_secret: s\n  customer_id: 1\n  cluster_name: US-1\n"), "")
	f.Add([]byte(`{"central_info": {"base_url": "https://x.example", "token": {"access_token": "a"}}}`), "central_info")
	f.Add([]byte("a: &x {base_url: 'http://[::1]:8/p', token: {access_token: t}}\nb: *x\n"), "b")
	f.Fuzz(func(t *testing.T, data []byte, account string) {
		c, err := ParseConfig(data, account, "fuzz.yaml")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *ConfigError: %v", err, err)
			}
			return
		}
		u, err := c.URL()
		if err != nil || u == "" {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			t.Fatalf("URL %q", u)
		}
		s := c.String()
		for _, v := range []string{c.Password, c.ClientSecret, c.Token.AccessToken, c.Token.RefreshToken} {
			if len(v) >= 8 && strings.Contains(s, v) {
				t.Fatalf("String() shows a secret")
			}
		}
	})
}

// FuzzDecodePage: the Classic list decoder never panics and returns
// consistent counts.
func FuzzDecodePage(f *testing.F) {
	f.Add([]byte(`{"aps":[{"serial":"a"}],"count":1,"total":1}`), "aps")
	f.Add([]byte(`{"customers":null,"total":"3"}`), "customers")
	f.Fuzz(func(t *testing.T, raw []byte, key string) {
		items, count, total, err := decodeClassicPage[map[string]any](raw, key)
		if err != nil {
			return
		}
		if items == nil || count < -1 || total < -1 {
			t.Fatalf("items=%v count=%d total=%d", items, count, total)
		}
	})
}
