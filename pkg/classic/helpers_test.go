package classic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/pkg/central"
	"golang.org/x/time/rate"
)

const (
	tUser     = "admin@example.com"
	tPassword = "pa55word"
	tClientID = "cid-123"
	tSecret   = "client-secret-xyz"
	tCustomer = "cust0001"
)

// fakeClock is an injected clock whose Sleep advances time instantly.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// wireReq is what the gateway received.
type wireReq struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

// gateway emulates the Classic API gateway: the three OAuth steps, the
// refresh grant with rotation, and an API handler behind bearer auth.
type gateway struct {
	t   testing.TB
	srv *httptest.Server

	logins, authorizes, codeExchanges, refreshes, apiCalls atomic.Int64

	mu       sync.Mutex
	seq      int
	csrf     map[string]string // session -> csrftoken
	codes    map[string]bool
	access   map[string]bool
	refresh  map[string]bool
	wire     []wireReq
	api      http.HandlerFunc
	tokenHdl http.HandlerFunc // overrides /oauth2/token when set
}

func newGateway(t testing.TB) *gateway {
	g := &gateway{t: t, csrf: map[string]string{}, codes: map[string]bool{}, access: map[string]bool{}, refresh: map[string]bool{}}
	g.api = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"aps": []any{map[string]any{"serial": "CN0001", "status": "Up"}}, "count": 1, "total": 1})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/authorize/central/api/login", g.handleLogin)
	mux.HandleFunc("POST /oauth2/authorize/central/api", g.handleAuthorize)
	mux.HandleFunc("POST /oauth2/token", g.handleToken)
	mux.HandleFunc("/", g.handleAPI)
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) record(r *http.Request) wireReq {
	b, _ := io.ReadAll(r.Body)
	w := wireReq{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(b)}
	g.mu.Lock()
	g.wire = append(g.wire, w)
	g.mu.Unlock()
	return w
}

func (g *gateway) wireLog() []wireReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]wireReq(nil), g.wire...)
}

func (g *gateway) setAPI(h http.HandlerFunc) {
	g.mu.Lock()
	g.api = h
	g.mu.Unlock()
}

func (g *gateway) setTokenHandler(h http.HandlerFunc) {
	g.mu.Lock()
	g.tokenHdl = h
	g.mu.Unlock()
}

// issue mints a token pair (caller may hand it out through the config).
func (g *gateway) issue() (string, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seq++
	at, rt := fmt.Sprintf("at-%d", g.seq), fmt.Sprintf("rt-%d", g.seq)
	g.access[at], g.refresh[rt] = true, true
	return at, rt
}

// expire invalidates an access token (the refresh token stays valid).
func (g *gateway) expire(at string) {
	g.mu.Lock()
	delete(g.access, at)
	g.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (g *gateway) handleLogin(w http.ResponseWriter, r *http.Request) {
	g.logins.Add(1)
	wr := g.record(r)
	var body map[string]string
	if wr.RawQuery != "client_id="+tClientID || json.Unmarshal([]byte(wr.Body), &body) != nil || r.Header.Get("Content-Type") != "application/json" {
		writeJSON(w, 400, map[string]any{"message": "bad login request"})
		return
	}
	if body["username"] != tUser || body["password"] != tPassword {
		writeJSON(w, 401, map[string]any{"message": "Invalid credentials"})
		return
	}
	g.mu.Lock()
	g.seq++
	sess, csrf := fmt.Sprintf("sess-%d", g.seq), fmt.Sprintf("csrf-%d", g.seq)
	g.csrf[sess] = csrf
	g.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "csrftoken", Value: csrf, Path: "/"})
	http.SetCookie(w, &http.Cookie{Name: "session", Value: sess, Path: "/", HttpOnly: true})
	writeJSON(w, 200, map[string]any{"extra": map[string]any{"message": "login ok"}, "status": true})
}

func (g *gateway) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	g.authorizes.Add(1)
	wr := g.record(r)
	ck, err := r.Cookie("session")
	g.mu.Lock()
	want, ok := "", false
	if err == nil {
		want, ok = g.csrf[ck.Value]
	}
	g.mu.Unlock()
	var body map[string]string
	if wr.RawQuery != "client_id="+tClientID+"&response_type=code&scope=all" || !ok || r.Header.Get("X-CSRF-TOKEN") != want ||
		json.Unmarshal([]byte(wr.Body), &body) != nil || body["customer_id"] != tCustomer {
		writeJSON(w, 401, map[string]any{"message": "authorization refused"})
		return
	}
	g.mu.Lock()
	g.seq++
	code := fmt.Sprintf("code-%d", g.seq)
	g.codes[code] = true
	g.mu.Unlock()
	writeJSON(w, 200, map[string]any{"auth_code": code})
}

func (g *gateway) handleToken(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	h := g.tokenHdl
	g.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	wr := g.record(r)
	q := r.URL.Query()
	if wr.Body != "" || q.Get("client_id") != tClientID || q.Get("client_secret") != tSecret {
		writeJSON(w, 400, map[string]any{"error": "invalid_client", "error_description": "bad client"})
		return
	}
	switch q.Get("grant_type") {
	case "authorization_code":
		g.codeExchanges.Add(1)
		g.mu.Lock()
		ok := g.codes[q.Get("code")]
		delete(g.codes, q.Get("code"))
		g.mu.Unlock()
		if !ok {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "bad code"})
			return
		}
	case "refresh_token":
		g.refreshes.Add(1)
		g.mu.Lock()
		ok := g.refresh[q.Get("refresh_token")]
		delete(g.refresh, q.Get("refresh_token")) // rotation: single use
		g.mu.Unlock()
		if !ok {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "Invalid refresh_token"})
			return
		}
	default:
		writeJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
		return
	}
	at, rt := g.issue()
	writeJSON(w, 200, map[string]any{"access_token": at, "refresh_token": rt, "token_type": "bearer", "expires_in": 7200, "scope": "all"})
}

func (g *gateway) handleAPI(w http.ResponseWriter, r *http.Request) {
	g.apiCalls.Add(1)
	g.record(r)
	at, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	g.mu.Lock()
	ok := g.access[at]
	api := g.api
	g.mu.Unlock()
	if !ok {
		writeJSON(w, 401, map[string]any{"error": "invalid_token", "error_description": "Invalid access token"})
		return
	}
	api(w, r)
}

func (g *gateway) config() *Config {
	return &Config{Username: tUser, Password: tPassword, ClientID: tClientID, ClientSecret: tSecret, CustomerID: tCustomer, BaseURL: g.srv.URL}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func bufLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// newTestClient builds a client on g with an injected clock, no limiter
// (unless o sets one) and quiet logs.
func newTestClient(t testing.TB, g *gateway, cfg *Config, clk *fakeClock, more ...func(*Options)) *Client {
	t.Helper()
	fns := append([]func(*Options){func(o *Options) {
		o.HTTPClient = g.srv.Client()
		o.Logger = quietLogger()
		o.Now = clk.Now
		o.Retry = central.RetryPolicy{Sleep: clk.Sleep, Rand: func() float64 { return 0 }}
		o.RateLimit = rate.Inf
	}}, more...)
	c, err := New(cfg, fns...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
