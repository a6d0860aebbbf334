package central

import (
	"bytes"
	"context"
	"encoding/base64"
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
)

const (
	testClientID = "test-client"
	testSecret   = "test-secret"
	testWS       = "ws1"
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

// testAPI is a loopback server with a GLP-style token endpoint at
// /authorization/v2/oauth2/{ws}/token and an API handler for everything else.
type testAPI struct {
	t          testing.TB
	srv        *httptest.Server
	tokenCalls atomic.Int64
	apiCalls   atomic.Int64

	mu           sync.Mutex
	api          http.HandlerFunc
	tokenHandler http.HandlerFunc
	tokenPrefix  string
	expiresIn    int
}

func newTestAPI(t testing.TB) *testAPI {
	a := &testAPI{t: t, tokenPrefix: "tok-", expiresIn: 900}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testAPI) setAPI(h http.HandlerFunc) {
	a.mu.Lock()
	a.api = h
	a.mu.Unlock()
}

func (a *testAPI) setToken(h http.HandlerFunc) {
	a.mu.Lock()
	a.tokenHandler = h
	a.mu.Unlock()
}

func (a *testAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	api, th := a.api, a.tokenHandler
	a.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/authorization/v2/oauth2/") || r.URL.Path == "/as/token.oauth2" {
		n := a.tokenCalls.Add(1)
		if th != nil {
			th(w, r)
			return
		}
		a.defaultToken(w, r, n)
		return
	}
	a.apiCalls.Add(1)
	if api == nil {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
		return
	}
	api(w, r)
}

func (a *testAPI) defaultToken(w http.ResponseWriter, r *http.Request, n int64) {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(testClientID+":"+testSecret))
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != want {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"Client authentication failed"}`)
		return
	}
	_ = r.ParseForm()
	if r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": fmt.Sprintf("%s%d", a.tokenPrefix, n), "token_type": "Bearer", "expires_in": a.expiresIn,
	})
}

func (a *testAPI) creds() *Credentials {
	return &Credentials{Unified: &Unified{
		ClientID: testClientID, ClientSecret: testSecret, WorkspaceID: testWS,
		GLPBaseURL: a.srv.URL, BaseURL: a.srv.URL + "/central",
	}, Source: "test"}
}

// testClient builds a Client for a with an injected clock and no budgets.
func testClient(t testing.TB, a *testAPI, clk *fakeClock, fns ...func(*Options)) *Client {
	t.Helper()
	base := func(o *Options) {
		o.HTTPClient = a.srv.Client()
		o.Logger = slog.New(slog.DiscardHandler)
		o.Now = clk.Now
		o.Retry = RetryPolicy{Sleep: clk.Sleep, Rand: func() float64 { return 0.5 }}
		o.Budgets = NewBudgets()
	}
	c, err := New(a.creds(), append([]func(*Options){base}, fns...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// bufLogger returns a logger writing JSON at debug level into a buffer.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func bufLogger() (*slog.Logger, *syncBuf) {
	b := &syncBuf{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// makeJWT returns an unsigned JWT with the given exp.
func makeJWT(exp time.Time, secretish string) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	p := enc.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d,"sub":%q}`, exp.Unix(), secretish)))
	return h + "." + p + ".sig"
}
