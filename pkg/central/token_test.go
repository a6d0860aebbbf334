package central

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestClientCredentialsWire(t *testing.T) {
	t.Parallel()
	// An id and secret with characters x/oauth2 would URL-escape.
	id, secret := "id:with%odd chars", "s3cr+t/=&"
	var gotForm url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/tok" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if got, want := r.Header.Get("Authorization"), "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)); got != want {
			t.Errorf("Authorization = %q, want raw basic %q", got, want)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q", ct)
		}
		if a := r.Header.Get("Accept"); a != "application/json" {
			t.Errorf("Accept = %q", a)
		}
		body, _ := io.ReadAll(r.Body)
		gotForm, _ = url.ParseQuery(string(body))
		writeJSON(w, 200, map[string]any{"access_token": "abc", "token_type": "bearer", "expires_in": "899"})
	}))
	defer srv.Close()
	before := time.Now()
	tok, err := ClientCredentials(t.Context(), srv.Client(), srv.URL+"/tok", id, secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotForm) != 1 || gotForm.Get("grant_type") != "client_credentials" {
		t.Errorf("form = %v, want exactly grant_type=client_credentials", gotForm)
	}
	if tok.AccessToken != "abc" || tok.Expiry.Before(before.Add(898*time.Second)) || tok.Expiry.After(time.Now().Add(900*time.Second)) {
		t.Errorf("token = %+v", tok)
	}
}

func TestExchangeTokenWire(t *testing.T) {
	t.Parallel()
	for _, withBasic := range []bool{true, false} {
		var form url.Values
		var auth string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			form, auth = r.PostForm, r.Header.Get("Authorization")
			writeJSON(w, 200, map[string]any{"access_token": "tenant-tok", "expires_in": 900})
		}))
		id, sec := "", ""
		if withBasic {
			id, sec = "msp-id", "msp-secret"
		}
		tok, err := ExchangeToken(t.Context(), srv.Client(), srv.URL+"/authorization/v2/oauth2/abc/token", "msp-token", id, sec)
		srv.Close()
		if err != nil || tok.AccessToken != "tenant-tok" {
			t.Fatalf("ExchangeToken = %v, %v", tok, err)
		}
		want := url.Values{
			"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token":      {"msp-token"},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		}
		if form.Encode() != want.Encode() {
			t.Errorf("form = %v, want exactly %v", form, want)
		}
		if withBasic != (auth != "") {
			t.Errorf("basic=%v but Authorization=%q", withBasic, auth)
		}
	}
}

func TestLoginError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "bad secret TOPSECRET"})
	}))
	defer srv.Close()
	_, err := ClientCredentials(t.Context(), srv.Client(), srv.URL, "id", "TOPSECRET")
	var le *LoginError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	if le.StatusCode != 401 || le.ErrorCode != "invalid_client" {
		t.Errorf("LoginError = %+v", le)
	}
	if strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("secret in error: %v", err)
	}
	if !strings.Contains(err.Error(), "status_code=401") || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("error text: %v", err)
	}

	// 200 with an error field, 500 without JSON, 200 without access_token, form-encoded success.
	for _, tc := range []struct {
		status    int
		ct, body  string
		wantToken string
		wantCode  string
	}{
		{200, "application/json", `{"error":"token_expired"}`, "", "token_expired"},
		{500, "text/html", `<html>oops</html>`, "", ""},
		{200, "application/json", `{"token_type":"Bearer"}`, "", ""},
		{200, "application/x-www-form-urlencoded", `access_token=formtok&expires_in=60`, "formtok", ""},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", tc.ct)
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, tc.body)
		}))
		tok, err := ClientCredentials(t.Context(), srv.Client(), srv.URL, "id", "sec")
		srv.Close()
		if tc.wantToken != "" {
			if err != nil || tok.AccessToken != tc.wantToken {
				t.Errorf("%s: %v %v", tc.body, tok, err)
			}
			continue
		}
		if !errors.As(err, &le) || le.ErrorCode != tc.wantCode || le.StatusCode != tc.status {
			t.Errorf("%s: err = %#v", tc.body, err)
		}
	}
}

func TestJWTExpiry(t *testing.T) {
	t.Parallel()
	exp := time.Unix(1900000000, 0).UTC()
	if got, ok := JWTExpiry(makeJWT(exp, "x")); !ok || !got.Equal(exp) {
		t.Errorf("JWTExpiry = %v %v", got, ok)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":"x"}`)) + ".c"} {
		if _, ok := JWTExpiry(bad); ok {
			t.Errorf("JWTExpiry(%q) ok", bad)
		}
	}
	now := time.Unix(1800000000, 0)
	// expires_in shorter than exp wins; and vice versa.
	if got := tokenExpiry(makeJWT(exp, "x"), 60, now); !got.Equal(now.Add(time.Minute)) {
		t.Errorf("earlier expires_in: %v", got)
	}
	soon := now.Add(30 * time.Second)
	if got := tokenExpiry(makeJWT(soon, "x"), 900, now); !got.Equal(soon.UTC()) {
		t.Errorf("earlier exp: %v", got)
	}
}

// TestSingleFlight64 proves that 64 goroutines which all find the token
// expired cause exactly one token request against a real loopback server.
func TestSingleFlight64(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	api.setToken(func(w http.ResponseWriter, r *http.Request) {
		select { // non-blocking: a (buggy) second request must not hang the test
		case arrived <- struct{}{}:
		default:
		}
		<-release // hold the single fetch until every goroutine is waiting
		writeJSON(w, 200, map[string]any{"access_token": "fresh", "expires_in": 900})
	})
	var okCalls atomic.Int64
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		if bearer(r) != "fresh" {
			writeJSON(w, 401, map[string]any{"message": "expired"})
			return
		}
		okCalls.Add(1)
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	// Seed an expired token through the credentials' access_token.
	cr := api.creds()
	cr.Unified.AccessToken = makeJWT(clk.Now().Add(-time.Hour), "old")
	c, err := New(cr, func(o *Options) {
		o.HTTPClient, o.Now, o.Budgets = api.srv.Client(), clk.Now, NewBudgets()
		o.Logger = slog.New(slog.DiscardHandler)
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(n)
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			resp, err := c.Command(t.Context(), Request{Path: "network-monitoring/v1/aps"})
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			errs <- err
		}()
	}
	started.Wait()
	<-arrived // the one token request is being served
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := api.tokenCalls.Load(); got != 1 {
		t.Errorf("token requests = %d, want exactly 1", got)
	}
	if okCalls.Load() != n {
		t.Errorf("ok calls = %d", okCalls.Load())
	}
}

func TestProactiveRenewal(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	c := testClient(t, api, clk, func(o *Options) { o.TokenEarlyExpiry = 2 * time.Minute })
	call := func() string {
		var got string
		api.setAPI(func(w http.ResponseWriter, r *http.Request) { got = bearer(r); writeJSON(w, 200, map[string]any{}) })
		if _, err := c.Command(t.Context(), Request{Path: "x"}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := call(); got != "tok-1" {
		t.Fatalf("first token %q", got)
	}
	clk.Advance(777 * time.Second) // 900-777 = 123s left > 120s margin
	if got := call(); got != "tok-1" {
		t.Errorf("renewed too early: %q", got)
	}
	clk.Advance(5 * time.Second) // 118s left < margin
	if got := call(); got != "tok-2" {
		t.Errorf("not renewed before expiry: %q", got)
	}
	if api.tokenCalls.Load() != 2 {
		t.Errorf("token calls %d", api.tokenCalls.Load())
	}
}

func TestRenewOn401ExactlyOneRetry(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	c := testClient(t, api, clk)
	// The server rejects tok-1 only.
	var seen []string
	var mu sync.Mutex
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, bearer(r))
		mu.Unlock()
		if bearer(r) == "tok-1" {
			writeJSON(w, 401, map[string]any{"errorCode": "HPE_GL_ERROR_UNAUTHORIZED"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true})
	})
	stats := &CallStats{}
	resp, err := c.Command(WithCallStats(t.Context(), stats), Request{Path: "a"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("resp %v err %v", resp, err)
	}
	if strings.Join(seen, ",") != "tok-1,tok-2" || stats.Unauthorized.Load() != 1 || stats.Requests.Load() != 2 {
		t.Errorf("seen %v stats %d/%d", seen, stats.Unauthorized.Load(), stats.Requests.Load())
	}
	// Always 401: exactly one retry, then the 401 is returned (Command) or an
	// APIError matching ErrUnauthorized (Do).
	api.setAPI(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 401, map[string]any{"message": "no"}) })
	before := api.apiCalls.Load()
	resp, err = c.Command(t.Context(), Request{Path: "a"})
	if err != nil || resp.StatusCode != 401 || api.apiCalls.Load()-before != 2 {
		t.Errorf("Command: %v %v calls=%d", resp, err, api.apiCalls.Load()-before)
	}
	_, err = c.Do(t.Context(), Request{Path: "a"}, nil)
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Do err = %v", err)
	}
}

func TestAccessTokenOnly401(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	api.setAPI(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 401, map[string]any{"message": "expired"}) })
	cr := &Credentials{NewCentral: &AppCreds{BaseURL: api.srv.URL, AccessToken: "static-token"}}
	c, err := New(cr, func(o *Options) {
		o.HTTPClient = api.srv.Client()
		o.Budgets = NewBudgets()
		o.Logger = slog.New(slog.DiscardHandler)
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Command(t.Context(), Request{Path: "network-monitoring/v1/aps"})
	if !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("err = %v, want ErrTokenExpired", err)
	}
	if resp == nil || resp.StatusCode != 401 {
		t.Errorf("resp = %v", resp)
	}
	if !strings.Contains(err.Error(), "no client credentials") {
		t.Errorf("unclear error: %v", err)
	}
	if api.tokenCalls.Load() != 0 {
		t.Errorf("token endpoint called")
	}
	// An access_token that is already expired (JWT exp) fails before sending.
	cr = &Credentials{GLP: &AppCreds{BaseURL: api.srv.URL, AccessToken: makeJWT(time.Now().Add(-time.Minute), "s")}}
	c, _ = New(cr, func(o *Options) { o.HTTPClient = api.srv.Client(); o.Logger = slog.New(slog.DiscardHandler) })
	before := api.apiCalls.Load()
	if _, err := c.Command(t.Context(), Request{App: AppGLP, Path: "x"}); !errors.Is(err, ErrTokenExpired) || api.apiCalls.Load() != before {
		t.Errorf("expired JWT: %v", err)
	}
}

func TestCachedSourceCompareAndInvalidate(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	s := NewCachedSource(func(ctx context.Context) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "t" + string(rune('0'+n.Add(1)))}, nil
	}, CacheOptions{})
	t1, _ := s.Token(t.Context())
	s.Invalidate(t1)
	t2, _ := s.Token(t.Context())
	if t1.AccessToken == t2.AccessToken {
		t.Fatal("not refreshed")
	}
	s.Invalidate(t1) // stale 401: must not drop t2
	if cur := s.Current(); cur == nil || cur.AccessToken != t2.AccessToken {
		t.Errorf("compare-and-invalidate dropped a fresh token: %v", cur)
	}
	s.Invalidate(nil)
	if n.Load() != 2 {
		t.Errorf("fetches %d", n.Load())
	}
}

func TestCachedSourceCallerLeavesFetchContinues(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var fetchErr atomic.Value
	s := NewCachedSource(func(ctx context.Context) (*oauth2.Token, error) {
		<-release
		if ctx.Err() != nil {
			fetchErr.Store(ctx.Err())
		}
		return &oauth2.Token{AccessToken: "ok"}, nil
	}, CacheOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { _, err := s.Token(ctx); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("leaving caller err = %v", err)
	}
	got := make(chan string)
	go func() { tk, _ := s.Token(t.Context()); got <- tk.AccessToken }()
	close(release)
	if tk := <-got; tk != "ok" {
		t.Errorf("token %q", tk)
	}
	if fetchErr.Load() != nil {
		t.Errorf("fetch saw cancellation of the leaving caller")
	}
}

func TestCachedSourceSharedError(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	s := NewCachedSource(func(ctx context.Context) (*oauth2.Token, error) {
		calls.Add(1)
		return nil, &LoginError{StatusCode: 503}
	}, CacheOptions{})
	_, err := s.Token(t.Context())
	var le *LoginError
	if !errors.As(err, &le) || le.StatusCode != 503 {
		t.Errorf("err = %v", err)
	}
}

func TestShortLivedTokenNotRefetchedEveryCall(t *testing.T) {
	t.Parallel()
	clk := newClock()
	var n atomic.Int64
	s := NewCachedSource(func(ctx context.Context) (*oauth2.Token, error) {
		n.Add(1)
		return &oauth2.Token{AccessToken: "t", Expiry: clk.Now().Add(30 * time.Second)}, nil
	}, CacheOptions{EarlyExpiry: time.Minute, Now: clk.Now})
	for range 5 {
		if _, err := s.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 1 {
		t.Errorf("fetches = %d, want 1 (margin capped at half the lifetime)", n.Load())
	}
	clk.Advance(16 * time.Second)
	_, _ = s.Token(t.Context())
	if n.Load() != 2 {
		t.Errorf("fetches = %d, want 2 after half the lifetime", n.Load())
	}
}

func TestTokenEndpointTransientRetried(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	var n atomic.Int64
	api.setToken(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			writeJSON(w, 503, map[string]any{"message": "busy"})
		default:
			writeJSON(w, 200, map[string]any{"access_token": "t2", "expires_in": 900})
		}
	})
	c := testClient(t, api, clk)
	if resp, err := c.Command(t.Context(), Request{Path: "x"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	// OAuth errors are final: one request only.
	api2 := newTestAPI(t)
	api2.setToken(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, map[string]any{"error": "invalid_client"})
	})
	c2 := testClient(t, api2, newClock())
	_, err := c2.Command(t.Context(), Request{Path: "x"})
	var le *LoginError
	if !errors.As(err, &le) || le.App != AppUnified || le.ErrorCode != "invalid_client" || api2.tokenCalls.Load() != 1 {
		t.Errorf("err = %v calls=%d", err, api2.tokenCalls.Load())
	}
}
