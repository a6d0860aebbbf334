package classic

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/pkg/central"
	"golang.org/x/time/rate"
)

func rateHeaders(w http.ResponseWriter, limDay, remDay, limSec, remSec string) {
	h := w.Header()
	for k, v := range map[string]string{HeaderLimitDay: limDay, HeaderRemainingDay: remDay, HeaderLimitSecond: limSec, HeaderRemainingSecond: remSec} {
		if v != "" {
			h.Set(k, v)
		}
	}
}

// TestPerSecond429Retry: 429 with X-RateLimit-Remaining-second "0" waits
// (injected sleep) and retries until success.
func TestPerSecond429Retry(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	var n atomic.Int64
	g.setAPI(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			rateHeaders(w, "5000", "4990", "7", "0")
			writeJSON(w, 429, map[string]any{"message": "API rate limit exceeded"})
			return
		}
		rateHeaders(w, "5000", "4989", "7", "6")
		writeJSON(w, 200, map[string]any{"aps": []any{}, "total": 0})
	})
	c := newTestClient(t, g, g.config(), clk)
	resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Command: %v %+v", err, resp)
	}
	if n.Load() != 3 {
		t.Fatalf("api calls %d", n.Load())
	}
	if s := clk.Sleeps(); len(s) != 2 || s[0] != time.Second || s[1] != time.Second {
		t.Fatalf("sleeps %v, want [1s 1s]", s)
	}
	if rl := c.RateLimits(); rl.RemainingDay != 4989 || rl.LimitSecond != 7 || rl.RemainingSecond != 6 {
		t.Fatalf("RateLimits %+v", rl)
	}
}

// TestPerSecond429Bounded: retries stop at MaxAttempts; Command returns the
// 429 (PyCentral style), Do a *central.RateLimitError. A 429 without any
// rate-limit header is retried too (no KeyError).
func TestPerSecond429Bounded(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	var n atomic.Int64
	g.setAPI(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeJSON(w, 429, map[string]any{"message": "Too many"})
	})
	c := newTestClient(t, g, g.config(), clk, func(o *Options) { o.Retry.MaxAttempts = 3 })
	resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
	if err != nil || resp.StatusCode != 429 || n.Load() != 3 {
		t.Fatalf("Command: %v %+v calls=%d", err, resp, n.Load())
	}
	_, err = c.Do(context.Background(), central.Request{Path: "/monitoring/v2/aps"}, nil)
	var rle *central.RateLimitError
	if !errors.As(err, &rle) || !errors.Is(err, central.ErrRateLimited) {
		t.Fatalf("Do: want RateLimitError, got %v", err)
	}
	// Context cancelled while rate limited: ends promptly with ctx error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Command(ctx, central.Request{Path: "/x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestDailyQuota: X-RateLimit-Remaining-day "0" is a DailyQuotaError with
// the limit and the next UTC midnight; later calls fail fast until then.
func TestDailyQuota(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock() // 2026-01-02T03:04:05Z
	var n atomic.Int64
	var exhausted atomic.Bool
	exhausted.Store(true)
	g.setAPI(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if exhausted.Load() {
			rateHeaders(w, "5000", "0", "7", "6")
			writeJSON(w, 429, map[string]any{"message": "API rate limit exceeded"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	c := newTestClient(t, g, g.config(), clk)
	tc := c.WithTenant("tenant-7")
	resp, err := tc.Command(context.Background(), central.Request{Path: "/monitoring/v1/switches"})
	var dq *DailyQuotaError
	if !errors.As(err, &dq) || !errors.Is(err, central.ErrRateLimited) {
		t.Fatalf("want DailyQuotaError, got %v", err)
	}
	wantReset := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	if dq.Limit != 5000 || !dq.Reset.Equal(wantReset) || dq.Tenant != "tenant-7" || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("DailyQuotaError %+v resp %v", dq, resp)
	}
	if want := "classic: GET /monitoring/v1/switches: the per-day rate limit of 5000 is exhausted; it resets at 2026-01-03T00:00:00Z"; dq.Error() != want {
		t.Fatalf("Error() = %q", dq.Error())
	}
	if len(clk.Sleeps()) != 0 {
		t.Fatalf("daily quota must not sleep: %v", clk.Sleeps())
	}
	// Fail fast, shared by all views.
	before := n.Load()
	if _, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"}); !errors.As(err, &dq) {
		t.Fatalf("want fast DailyQuotaError, got %v", err)
	}
	if n.Load() != before {
		t.Fatal("a request was sent while the daily quota is spent")
	}
	// After midnight UTC calls flow again.
	exhausted.Store(false)
	clk.Advance(21 * time.Hour)
	if resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after reset: %v", err)
	}
	// Missing limit header: still typed, Limit 0.
	exhausted.Store(true)
	g.setAPI(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRemainingDay, "0")
		writeJSON(w, 429, nil)
	})
	c2 := newTestClient(t, g, g.config(), clk)
	if _, err := c2.Command(context.Background(), central.Request{Path: "/x"}); !errors.As(err, &dq) || dq.Limit != 0 {
		t.Fatalf("no limit header: %v", err)
	}
}

// TestTenantHeader: WithTenant views send TenantID and share one token.
func TestTenantHeader(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	var seen atomic.Value
	g.setAPI(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Values(HeaderTenantID))
		writeJSON(w, 200, map[string]any{})
	})
	c := newTestClient(t, g, g.config(), clk)
	ctx := context.Background()
	t1 := c.WithTenant("tenant-1")
	if _, err := t1.Command(ctx, central.Request{Path: "/monitoring/v2/aps", Header: http.Header{"Tenantid": {"evil"}}}); err != nil {
		t.Fatal(err)
	}
	if v := seen.Load().([]string); len(v) != 1 || v[0] != "tenant-1" {
		t.Fatalf("TenantID %v", v)
	}
	if _, err := c.Command(ctx, central.Request{Path: "/msp_api/v1/customers"}); err != nil {
		t.Fatal(err)
	}
	if v := seen.Load().([]string); len(v) != 0 {
		t.Fatalf("MSP-level call sent TenantID %v", v)
	}
	if _, err := c.WithTenant("tenant-2").Command(ctx, central.Request{Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	if g.logins.Load() != 1 || t1.Tenant() != "tenant-1" || c.Tenant() != "" {
		t.Fatalf("views must share the token: logins=%d", g.logins.Load())
	}
}

// TestLimiterPaces: the default limiter spaces requests 1/7 s apart.
func TestLimiterPaces(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	c := newTestClient(t, g, g.config(), clk, func(o *Options) { o.RateLimit = 0 }) // default 7/s
	for range 8 {
		if _, err := c.Command(context.Background(), central.Request{Path: "/x"}); err != nil {
			t.Fatal(err)
		}
	}
	s := clk.Sleeps()
	if len(s) != 7 {
		t.Fatalf("want 7 limiter waits, got %v", s)
	}
	for _, d := range s {
		if d < 142*time.Millisecond || d > 143*time.Millisecond {
			t.Fatalf("wait %v, want ~1/7 s", d)
		}
	}
	// A shared limiter is honoured.
	lim := rate.NewLimiter(rate.Inf, 1)
	c2 := newTestClient(t, g, g.config(), clk, func(o *Options) { o.Limiter = lim })
	if c2.core.lim != lim {
		t.Fatal("shared limiter ignored")
	}
}

// TestCommandShapes: any status is a Response; Do types errors; retries
// of 5xx for GET only; bad requests are refused before any I/O.
func TestCommandShapes(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	var n atomic.Int64
	g.setAPI(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/notfound":
			writeJSON(w, 404, map[string]any{"error": "not_found", "error_description": "no such thing"})
		case "/flaky":
			if n.Add(1) == 1 {
				w.WriteHeader(503)
				return
			}
			writeJSON(w, 200, map[string]any{"ok": true})
		case "/post":
			w.WriteHeader(502)
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("plain answer"))
		case "/echo":
			writeJSON(w, 200, map[string]any{"q": r.URL.RawQuery, "ct": r.Header.Get("Content-Type")})
		}
	})
	c := newTestClient(t, g, g.config(), clk)
	ctx := context.Background()
	resp, err := c.Command(ctx, central.Request{Path: "/notfound"})
	if err != nil || resp.StatusCode != 404 || resp.Body.(map[string]any)["error"] != "not_found" {
		t.Fatalf("404: %v %+v", err, resp)
	}
	_, err = c.Do(ctx, central.Request{Path: "/notfound"}, nil)
	var ae *central.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != "not_found" || ae.Message != "no such thing" {
		t.Fatalf("Do 404: %v", err)
	}
	var out struct{ OK bool }
	if _, err := c.Do(ctx, central.Request{Path: "/flaky"}, &out); err != nil || !out.OK {
		t.Fatalf("flaky GET: %v %+v", err, out)
	}
	before := g.apiCalls.Load()
	if resp, err := c.Command(ctx, central.Request{Method: "POST", Path: "/post", Body: map[string]any{"a": 1}}); err != nil || resp.StatusCode != 502 || g.apiCalls.Load()-before != 1 {
		t.Fatalf("POST must not be retried: %v %v", err, g.apiCalls.Load()-before)
	}
	if resp, err := c.Command(ctx, central.Request{Path: "/text"}); err != nil || resp.Body != nil || string(resp.Raw) != "plain answer" {
		t.Fatalf("text: %v %+v", err, resp)
	}
	resp, err = c.Command(ctx, central.Request{Method: "post", Path: "/echo?a=1", Params: map[string]any{"b": []string{"x", "y"}, "c": nil, "d": 5}, Body: `{"k":1}`})
	if err != nil || resp.Body.(map[string]any)["q"] != "a=1&b=x&b=y&d=5" || resp.Body.(map[string]any)["ct"] != "application/json" {
		t.Fatalf("echo: %v %+v", err, resp.Body)
	}
	for _, bad := range []central.Request{
		{Method: "TRACE", Path: "/x"},
		{Path: "https://evil.example/x"},
		{Path: "/a/../b"},
		{Path: "/x", App: central.AppCentral},
	} {
		if _, err := c.Command(ctx, bad); err == nil {
			t.Errorf("%+v should be refused", bad)
		}
	}
}

// TestNewRefuses: invalid configs and a store without a key are refused.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	if _, err := New(nil); err == nil {
		t.Fatal("nil config accepted")
	}
	if _, err := New(&Config{BaseURL: "http://example.com", Token: Token{AccessToken: "x"}}); err == nil {
		t.Fatal("plain http to a public host accepted")
	}
	cfg := &Config{ClusterName: "eu-1", Token: Token{AccessToken: "x"}}
	c, err := New(cfg, func(o *Options) { o.Logger = quietLogger() })
	if err != nil || c.BaseURL() != "https://eu-apigw.central.arubanetworks.com" {
		t.Fatalf("cluster: %v %v", err, c)
	}
	if _, err := New(cfg, func(o *Options) { o.Logger = quietLogger(); o.TokenStore = NewMemoryStore() }); err == nil {
		t.Fatal("token store without customer_id/client_id accepted")
	}
}

// TestTLSVerify: ssl_verify as a CA bundle path trusts that CA on a real
// TLS loopback server; without it verification fails; false skips it.
func TestTLSVerify(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	ts := httptest.NewTLSServer(g.srv.Config.Handler)
	defer ts.Close()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(bundle, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := func(verify string) []byte {
		return []byte(fmt.Sprintf("central_info:\n  username: %s\n  password: %s\n  client_id: %s\n  client_secret: %s\n  customer_id: %s\n  base_url: %s\n%s",
			tUser, tPassword, tClientID, tSecret, tCustomer, ts.URL, verify))
	}
	run := func(verify string) error {
		cfg, err := ParseConfig(doc(verify), "", "tls.yaml")
		if err != nil {
			t.Fatal(err)
		}
		clk := newClock()
		c, err := New(cfg, func(o *Options) {
			o.Logger = quietLogger()
			o.Now = clk.Now
			o.Retry = central.RetryPolicy{Sleep: clk.Sleep, Rand: func() float64 { return 0 }, MaxAttempts: 1}
			o.RateLimit = rate.Inf
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err
	}
	if err := run("ssl_verify: " + bundle + "\n"); err != nil {
		t.Fatalf("CA bundle: %v", err)
	}
	var le *LoginError
	if err := run(""); !errors.As(err, &le) || le.Step != StepLogin {
		t.Fatalf("unverified certificate accepted or wrong error: %v", err)
	}
	if err := run("ssl_verify: false\n"); err != nil {
		t.Fatalf("ssl_verify false: %v", err)
	}
	cfg, _ := ParseConfig(doc("ssl_verify: "+filepath.Join(dir, "missing.pem")+"\n"), "", "tls.yaml")
	if _, err := New(cfg, func(o *Options) { o.Logger = quietLogger() }); err == nil {
		t.Fatal("missing CA bundle accepted")
	}
}

// TestMaxResponseBytes: a body over Options.MaxResponseBytes fails the call
// once, without retry, with central.ErrResponseTooLarge.
func TestMaxResponseBytes(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	var n atomic.Int64
	g.setAPI(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeJSON(w, 200, map[string]any{"aps": []any{"0123456789012345678901234567890123456789"}, "total": 1})
	})
	c := newTestClient(t, g, g.config(), newClock(), func(o *Options) { o.MaxResponseBytes = 32 })
	_, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
	var re *central.ResponseError
	if !errors.Is(err, central.ErrResponseTooLarge) || !errors.As(err, &re) || re.Attempts != 1 || n.Load() != 1 {
		t.Fatalf("error %v after %d requests", err, n.Load())
	}
}
