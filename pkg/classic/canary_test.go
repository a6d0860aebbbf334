package classic

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/centralmsp/centralmsp/pkg/central"
	"golang.org/x/time/rate"
)

// TestCanaryNeverLeaks plants canary secrets (password, client secret,
// access and refresh tokens), drives success and every failure path against
// a hostile gateway that echoes everything it receives, and searches all
// log output, error strings and formatted values for them.
func TestCanaryNeverLeaks(t *testing.T) {
	t.Parallel()
	const (
		pw     = "CANARY-PW+91/f2=&<"
		secret = "CANARY-SECRET+7f/3a=&"
		cfgAT  = "CANARY-CFGAT-11aa"
		cfgRT  = "CANARY-CFGRT-22bb"
		newAT  = "CANARY-NEWAT-33cc"
		newRT  = "CANARY-NEWRT-44dd"
	)
	canaries := []string{pw, secret, cfgAT, cfgRT, newAT, newRT, url.QueryEscape(pw), url.QueryEscape(secret), "CANARY"}
	echo := func(r *http.Request) string {
		b, _ := io.ReadAll(r.Body)
		return fmt.Sprintf("%s?%s %v %s", r.URL.Path, r.URL.RawQuery, r.Header, b)
	}
	var mode atomic.Value
	mode.Store("ok")
	var issued atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := mode.Load().(string)
		switch r.URL.Path {
		case "/oauth2/authorize/central/api/login":
			if m == "login-fail" {
				writeJSON(w, 401, map[string]any{"message": "bad login " + echo(r)})
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "csrftoken", Value: "c"})
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "s"})
			writeJSON(w, 200, map[string]any{})
		case "/oauth2/authorize/central/api":
			writeJSON(w, 200, map[string]any{"auth_code": "code"})
		case "/oauth2/token":
			if m == "token-fail" || (m == "refresh-fail" && r.URL.Query().Get("grant_type") == "refresh_token") {
				writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "rejected " + echo(r)})
				return
			}
			if m == "token-drop" { // connection dropped: the client's error names the URL
				hj, _ := w.(http.Hijacker)
				conn, _, _ := hj.Hijack()
				_ = conn.Close()
				return
			}
			if m == "token-text" {
				w.WriteHeader(500)
				_, _ = io.WriteString(w, "oops "+r.URL.RawQuery)
				return
			}
			issued.Store(true)
			writeJSON(w, 200, map[string]any{"access_token": newAT, "refresh_token": newRT, "expires_in": 7200})
		default:
			auth := r.Header.Get("Authorization")
			switch {
			case m == "api-echo":
				writeJSON(w, 403, map[string]any{"error": "forbidden", "error_description": "you sent " + echo(r)})
			case auth == "Bearer "+newAT:
				writeJSON(w, 200, map[string]any{"aps": []any{}})
			default:
				writeJSON(w, 401, map[string]any{"error": "invalid_token", "error_description": "bad token " + auth})
			}
		}
	}))
	defer srv.Close()

	log, logs := bufLogger()
	var outputs []string
	record := func(v ...any) {
		for _, x := range v {
			if x == nil {
				continue
			}
			outputs = append(outputs, fmt.Sprintf("%v|%+v|%#v|%s", x, x, x, x))
		}
	}
	doc := fmt.Sprintf("central_info:\n  username: u\n  password: %q\n  client_id: cid\n  client_secret: %q\n  customer_id: cust\n  base_url: %s\n  token:\n    access_token: %s\n    refresh_token: %s\n",
		pw, secret, srv.URL, cfgAT, cfgRT)
	cfg, err := ParseConfig([]byte(doc), "", "canary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	record(cfg, *cfg, cfg.Token)
	log.Info("config", "cfg", cfg, "token", cfg.Token)

	clk := newClock()
	newClient := func(c *Config) *Client {
		cl, err := New(c, func(o *Options) {
			o.HTTPClient = srv.Client()
			o.Logger = log
			o.Now = clk.Now
			o.Retry = central.RetryPolicy{Sleep: clk.Sleep, Rand: func() float64 { return 0 }, MaxAttempts: 2}
			o.RateLimit = rate.Inf
			o.TokenStore = NewMemoryStore()
		})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	ctx := context.Background()
	call := func(c *Client) {
		resp, err := c.Command(ctx, central.Request{Path: "/monitoring/v2/aps"})
		record(err)
		if resp != nil {
			log.Info("response", "status", resp.StatusCode)
		}
		_, err = c.Do(ctx, central.Request{Path: "/monitoring/v2/aps"}, nil)
		record(err)
		for _, err := range Items[map[string]any](ctx, c, PageSpec{Path: "/monitoring/v2/aps"}) {
			record(err)
		}
	}

	// 1. Refresh path (config token rejected) then success.
	c := newClient(cfg)
	call(c)
	if !issued.Load() {
		t.Fatal("the token path was not exercised")
	}
	record(c)
	// 2. Hostile echoes on each failure path, with fresh clients.
	for _, m := range []string{"refresh-fail", "login-fail", "token-fail", "token-text", "token-drop", "api-echo"} {
		mode.Store(m)
		call(newClient(cfg))
	}
	// 3. Transport failure: the refresh/token URLs carry the secret in
	// their query.
	mode.Store("ok")
	dead := *cfg
	dead.BaseURL = "http://127.0.0.1:1"
	call(newClient(&dead))
	dead.Token = Token{}
	call(newClient(&dead))

	all := logs.String() + "\n" + strings.Join(outputs, "\n")
	for _, cn := range canaries {
		if strings.Contains(all, cn) {
			i := strings.Index(all, cn)
			t.Errorf("canary %s leaked: ...%s...", cn, all[max(0, i-200):min(len(all), i+50)])
		}
	}
	if !strings.Contains(all, "[REDACTED]") || !strings.Contains(all, "invalid_grant") || !strings.Contains(all, "127.0.0.1:1") || !strings.Contains(all, "EOF") {
		t.Errorf("the failure paths were not all exercised:\n%s", all)
	}
}
