package central

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzParseCredentials: any input either fails with a *CredentialsError or
// yields credentials that validate and never print their secrets.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		"unified:\n  client_id: a\n  client_secret: b\n  workspace_id: w\n  cluster_name: US-2\n",
		`{"unified":{"client_id":"a","client_secret":"b","workspace_id":"w","base_url":"http://127.0.0.1:1/central"}}`,
		"glp:\n  access_token: t\nnew_central:\n  base_url: us1.api.central.arubanetworks.com\n  access_token: 5\n",
		`{"new_central":{"cluster_name":"internal","client_id":"x","client_secret":"y"},"classic":{}}`,
		"unified: [1,2]\n", "", "~", "glp: {token_endpoint: 'http://[::1]:80/x', access_token: t}",
	} {
		f.Add([]byte(s), strings.HasPrefix(s, "{"))
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		format := FormatYAML
		if isJSON {
			format = FormatJSON
		}
		c, err := parseCredentials(data, format, "fuzz", log)
		if err != nil {
			ce, ok := err.(*CredentialsError)
			if !ok || ce.Source != "fuzz" {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if err := c.validate(log, false); err != nil {
			t.Fatalf("parsed credentials do not validate: %v", err)
		}
		s := c.String()
		public := publicText(c)
		for _, secret := range secretsOf(c) {
			if len(secret) >= 4 && strings.Contains(s, secret) && !strings.Contains(public, secret) {
				t.Fatalf("secret printed: %q", s)
			}
		}
		if c.Unified != nil {
			_ = c.Unified.TokenURL()
			_ = c.Unified.CentralURL()
		}
	})
}

// publicText is everything String may legitimately print.
func publicText(c *Credentials) string {
	var b strings.Builder
	b.WriteString("<redacted><unset>credentials(fuzz)unified{client_id: workspace_id: central: glp: client_secret: access_token:}app{cluster_name: base_url:}new_central:")
	if u := c.Unified; u != nil {
		for _, v := range []string{u.ClientID, u.WorkspaceID, u.CentralURL(), u.GLPURL(), u.ClusterName, u.BaseURL} {
			b.WriteString(v + "\x00")
		}
	}
	for _, a := range []*AppCreds{c.GLP, c.NewCentral} {
		if a != nil {
			for _, v := range []string{a.ClientID, a.ClusterName, a.BaseURL} {
				b.WriteString(v + "\x00")
			}
		}
	}
	return b.String()
}

func secretsOf(c *Credentials) []string {
	var out []string
	if c.Unified != nil {
		out = append(out, c.Unified.ClientSecret, c.Unified.AccessToken)
	}
	for _, a := range []*AppCreds{c.GLP, c.NewCentral} {
		if a != nil {
			out = append(out, a.ClientSecret, a.AccessToken)
		}
	}
	return out
}

// FuzzDecodePage: page decoding never panics, and a decoded page is sane.
func FuzzDecodePage(f *testing.F) {
	for _, s := range []string{
		`{"items":[{"id":"a"}],"count":1,"total":5,"next":"2"}`,
		`{"items":[],"count":0,"total":0,"next":null}`,
		`{"items":[1,2],"offset":"0","total":"2","next":3}`,
		`{"items":null}`, `{"items":{}}`, `[]`, `{"items":[],"total":-1}`, `{"items":[],"total":1e99}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := decodePage[any](raw)
		if err != nil {
			return
		}
		if env.Items == nil {
			t.Fatal("nil items accepted")
		}
		for _, fi := range []flexInt{env.Count, env.Total, env.Offset} {
			if fi.ok && fi.v < 0 {
				t.Fatalf("negative count %d", fi.v)
			}
		}
		if env.Next.ok && env.Next.s == "" {
			t.Fatal("empty cursor marked present")
		}
	})
}

// FuzzResponseParsers: token responses, error bodies and rate-limit headers
// from servers never panic.
func FuzzResponseParsers(f *testing.F) {
	f.Add([]byte(`{"access_token":"x","expires_in":"899"}`), "application/json", "48")
	f.Add([]byte(`access_token=x&expires_in=60`), "application/x-www-form-urlencoded", "2026-01-01T00:00:00Z")
	f.Add([]byte(`{"error":{"message":"m"},"errorCode":"E","debugId":"d"}`), "", "Thu, 01 Jan 2026 00:00:30 GMT")
	f.Fuzz(func(t *testing.T, body []byte, ct, reset string) {
		_, _ = parseTokenResponse(ct, body)
		var e APIError
		parseErrorBody(body, &e)
		now := time.Unix(1800000000, 0)
		h := http.Header{}
		h.Set("Ratelimit-Reset", reset)
		h.Set("Ratelimit-Remaining", "0")
		if d, ok := retryAfterHint(h, now); ok && d < 0 {
			t.Fatalf("negative wait %v", d)
		}
		_, _, _ = rateHints(h, now)
		_, _ = JWTExpiry(string(body))
	})
}
