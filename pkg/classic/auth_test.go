package classic

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/pkg/central"
	"golang.org/x/oauth2"
)

// TestLoginWireFormat checks PyCentral's createToken() on the wire, byte
// for byte where it matters, and that the token is persisted (0600).
func TestLoginWireFormat(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	dir := filepath.Join(t.TempDir(), "temp")
	cfg := g.config()
	cfg.TokenStoreDir = dir
	c := newTestClient(t, g, cfg, clk)
	resp, err := c.Command(context.Background(), central.Request{Method: "GET", Path: "/monitoring/v2/aps"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Command: %v %+v", err, resp)
	}
	w := g.wireLog()
	if len(w) != 4 {
		t.Fatalf("want 4 requests (login, authorize, token, api), got %d: %+v", len(w), w)
	}
	login, auth, tok, api := w[0], w[1], w[2], w[3]

	if login.Method != "POST" || login.Path != "/oauth2/authorize/central/api/login" || login.RawQuery != "client_id="+tClientID {
		t.Errorf("login request line: %s %s?%s", login.Method, login.Path, login.RawQuery)
	}
	if got := login.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("login Content-Type %q", got)
	}
	if want := `{"username":"` + tUser + `","password":"` + tPassword + `"}`; login.Body != want {
		t.Errorf("login body %s, want %s", login.Body, want)
	}

	if auth.Method != "POST" || auth.Path != "/oauth2/authorize/central/api" || auth.RawQuery != "client_id="+tClientID+"&response_type=code&scope=all" {
		t.Errorf("authorize request line: %s %s?%s", auth.Method, auth.Path, auth.RawQuery)
	}
	if auth.Header.Get("X-CSRF-TOKEN") != "csrf-1" || auth.Header.Get("Cookie") != "session=sess-1" {
		t.Errorf("authorize headers: X-CSRF-TOKEN=%q Cookie=%q", auth.Header.Get("X-CSRF-TOKEN"), auth.Header.Get("Cookie"))
	}
	if want := `{"customer_id":"` + tCustomer + `"}`; auth.Body != want || auth.Header.Get("Content-Type") != "application/json" {
		t.Errorf("authorize body %s (%s), want %s", auth.Body, auth.Header.Get("Content-Type"), want)
	}

	if tok.Method != "POST" || tok.Path != "/oauth2/token" ||
		tok.RawQuery != "client_id="+tClientID+"&client_secret="+tSecret+"&grant_type=authorization_code&code=code-2" {
		t.Errorf("token request line: %s %s?%s", tok.Method, tok.Path, tok.RawQuery)
	}
	if tok.Body != "" || tok.Header.Get("Content-Type") != "" {
		t.Errorf("token request must have no body: %q (%q)", tok.Body, tok.Header.Get("Content-Type"))
	}

	if got := api.Header.Get("Authorization"); got != "Bearer at-3" {
		t.Errorf("api Authorization %q", got)
	}
	if api.Header.Get(HeaderTenantID) != "" {
		t.Errorf("MSP-level call sent TenantID %q", api.Header.Get(HeaderTenantID))
	}

	// Persisted: <dir>/tok_<customer_id>_<client_id>.json, 0600, PyCentral keys.
	p := filepath.Join(dir, "tok_"+tCustomer+"_"+tClientID+".json")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode().Perm())
	}
	var st map[string]any
	data, _ := os.ReadFile(p)
	if err := json.Unmarshal(data, &st); err != nil || st["access_token"] != "at-3" || st["refresh_token"] != "rt-3" {
		t.Errorf("token file: %s", data)
	}
	if g.logins.Load() != 1 || g.codeExchanges.Load() != 1 || g.refreshes.Load() != 0 {
		t.Errorf("logins=%d exchanges=%d refreshes=%d", g.logins.Load(), g.codeExchanges.Load(), g.refreshes.Load())
	}
}

// TestRefreshOn401PersistsRotation: a 401 invalid_token refreshes with query
// parameters only, the rotated refresh token reaches the file store, and
// the next refresh uses the rotated one. A new client on the same store
// starts from the stored (newest) token, not the stale configured one.
func TestRefreshOn401PersistsRotation(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	dir := t.TempDir()
	at, rt := g.issue()
	g.expire(at)
	cfg := g.config()
	cfg.Token = Token{AccessToken: at, RefreshToken: rt}
	cfg.TokenStoreDir = dir
	c := newTestClient(t, g, cfg, clk)
	ctx := context.Background()

	resp, err := c.Command(ctx, central.Request{Path: "monitoring/v2/aps"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Command: %v %+v", err, resp)
	}
	var ref *wireReq
	for _, w := range g.wireLog() {
		if w.Path == "/oauth2/token" {
			ref = &w
		}
	}
	if ref == nil || ref.RawQuery != "client_id="+tClientID+"&client_secret="+tSecret+"&grant_type=refresh_token&refresh_token="+rt || ref.Body != "" {
		t.Fatalf("refresh request: %+v", ref)
	}
	store := NewFileStore(dir)
	key := StoreKey{CustomerID: tCustomer, ClientID: tClientID}
	st, err := store.Load(ctx, key)
	if err != nil || st == nil || st.AccessToken != "at-2" || st.RefreshToken != "rt-2" {
		t.Fatalf("stored after first refresh: %v %v", st != nil, err)
	}
	if st.Expiry.IsZero() || !st.Expiry.Equal(clk.Now().Add(7200*time.Second)) {
		t.Errorf("stored expiry %v", st.Expiry)
	}

	// Second rotation uses rt-2 (rt-1 is single-use on this gateway).
	g.expire("at-2")
	if resp, err := c.Command(ctx, central.Request{Path: "monitoring/v2/aps"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("second Command: %v", err)
	}
	st, _ = store.Load(ctx, key)
	if st.RefreshToken != "rt-3" {
		t.Fatalf("stored refresh token %q, want rt-3", st.RefreshToken)
	}
	if g.refreshes.Load() != 2 || g.logins.Load() != 0 {
		t.Fatalf("refreshes=%d logins=%d", g.refreshes.Load(), g.logins.Load())
	}

	// A restarted process with the stale config token uses the store.
	c2 := newTestClient(t, g, cfg, clk)
	before := g.refreshes.Load()
	if resp, err := c2.Command(ctx, central.Request{Path: "monitoring/v2/aps"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("restarted Command: %v", err)
	}
	if g.refreshes.Load() != before || g.logins.Load() != 0 {
		t.Fatalf("restart should reuse the stored token: refreshes %d→%d logins %d", before, g.refreshes.Load(), g.logins.Load())
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("store dir holds %d entries", len(ents))
	}
}

// TestRefreshInvalidGrantFallsBackToLogin: a rejected refresh token leads
// to the full 3-step login.
func TestRefreshInvalidGrantFallsBackToLogin(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	cfg := g.config()
	cfg.Token = Token{AccessToken: "stale-at", RefreshToken: "revoked-rt"}
	c := newTestClient(t, g, cfg, clk)
	resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Command: %v %+v", err, resp)
	}
	if g.refreshes.Load() != 1 || g.logins.Load() != 1 || g.codeExchanges.Load() != 1 {
		t.Fatalf("refreshes=%d logins=%d exchanges=%d", g.refreshes.Load(), g.logins.Load(), g.codeExchanges.Load())
	}
}

// TestRefreshRejectedNoLogin: without login fields a rejected refresh is a
// typed error next to the 401 response; nothing exits.
func TestRefreshRejectedNoLogin(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	cfg := &Config{ClientID: tClientID, ClientSecret: tSecret, CustomerID: tCustomer, BaseURL: g.srv.URL,
		Token: Token{AccessToken: "stale-at", RefreshToken: "revoked-rt"}}
	c := newTestClient(t, g, cfg, clk)
	resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
	var le *LoginError
	if !errors.As(err, &le) || le.Step != StepRefresh || le.ErrorCode != "invalid_grant" || !le.Rejected() {
		t.Fatalf("want refresh LoginError, got %v", err)
	}
	if resp == nil || resp.StatusCode != 401 {
		t.Fatalf("want the 401 response too, got %+v", resp)
	}
	// No token and no login fields at all.
	cfg2 := &Config{BaseURL: g.srv.URL, Token: Token{AccessToken: "x"}}
	c2 := newTestClient(t, g, cfg2, clk)
	if _, err := c2.Command(context.Background(), central.Request{Path: "/x"}); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("want ErrNoCredentials, got %v", err)
	}
}

// TestLoginFailures: each step's failure is a LoginError naming the step.
func TestLoginFailures(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		step string
	}{
		{"bad password", func(c *Config) { c.Password = "wrong" }, StepLogin},
		{"bad customer", func(c *Config) { c.CustomerID = "other" }, StepAuthorize},
		{"bad secret", func(c *Config) { c.ClientSecret = "wrong" }, StepToken},
	} {
		cfg := g.config()
		tc.mod(cfg)
		c := newTestClient(t, g, cfg, clk)
		_, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
		var le *LoginError
		if !errors.As(err, &le) || le.Step != tc.step {
			t.Errorf("%s: want LoginError at %s, got %v", tc.name, tc.step, err)
		}
	}
}

// TestSingleFlight401: 64 goroutines hitting 401 with the same expired
// token cause exactly one refresh, and all succeed.
func TestSingleFlight401(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	at, rt := g.issue()
	g.expire(at)
	cfg := g.config()
	cfg.Token = Token{AccessToken: at, RefreshToken: rt}
	store := NewMemoryStore()
	c := newTestClient(t, g, cfg, clk, func(o *Options) { o.TokenStore = store })
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
			if err == nil && resp.StatusCode != 200 {
				err = errors.New(http.StatusText(resp.StatusCode))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := g.refreshes.Load(); n != 1 {
		t.Fatalf("refreshes = %d, want exactly 1", n)
	}
	if g.logins.Load() != 0 {
		t.Fatalf("logins = %d", g.logins.Load())
	}
	if st, _ := store.Load(context.Background(), StoreKey{tCustomer, tClientID}); st == nil || st.RefreshToken != "rt-2" {
		t.Fatalf("store not updated")
	}
}

// TestSingleFlightExpiry: a stored token past its expiry is refreshed
// before use, once for 64 goroutines, with no 401 round trip.
func TestSingleFlightExpiry(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	at, rt := g.issue()
	store := NewMemoryStore()
	_ = store.Save(context.Background(), StoreKey{tCustomer, tClientID}, &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: clk.Now().Add(30 * time.Second)})
	c := newTestClient(t, g, g.config(), clk, func(o *Options) { o.TokenStore = store })
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 64 {
		wg.Go(func() {
			resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
			if err == nil && resp.StatusCode != 200 {
				err = errors.New(http.StatusText(resp.StatusCode))
			}
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
	if g.refreshes.Load() != 1 || g.logins.Load() != 0 {
		t.Fatalf("refreshes=%d logins=%d", g.refreshes.Load(), g.logins.Load())
	}
	for _, w := range g.wireLog() {
		if w.Header.Get("Authorization") == "Bearer "+at {
			t.Fatal("the expiring token was still sent")
		}
	}
}

// failingStore fails Save until ok is set.
type failingStore struct {
	MemoryStore
	mu sync.Mutex
	ok bool
}

func (s *failingStore) Save(ctx context.Context, k StoreKey, t *oauth2.Token) error {
	s.mu.Lock()
	ok := s.ok
	s.mu.Unlock()
	if !ok {
		return errors.New("disk full")
	}
	return s.MemoryStore.Save(ctx, k, t)
}

// TestUnsavedTokenKept: a failed Save keeps the rotated token in memory and
// Close reports it, then saves it once the store works again.
func TestUnsavedTokenKept(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	fs := &failingStore{}
	c := newTestClient(t, g, g.config(), clk, func(o *Options) { o.TokenStore = fs })
	if resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("Command: %v", err)
	}
	if err := c.Close(); err == nil {
		t.Fatal("Close should report the unsaved token")
	}
	fs.mu.Lock()
	fs.ok = true
	fs.mu.Unlock()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := fs.Load(context.Background(), StoreKey{tCustomer, tClientID}); st == nil || st.RefreshToken != "rt-3" {
		t.Fatal("token not saved after recovery")
	}
}

// TestFileStore: PyCentral-format files load; path traversal is refused.
func TestFileStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := NewFileStore(dir)
	ctx := context.Background()
	key := StoreKey{CustomerID: "c1", ClientID: "id1"}
	if tok, err := s.Load(ctx, key); tok != nil || err != nil {
		t.Fatalf("empty store: %v %v", tok, err)
	}
	py := `{
  "access_token": "pyat",
  "refresh_token": "pyrt",
  "expires_in": 7200,
  "token_type": "bearer",
  "appname": "central"
}`
	if err := os.WriteFile(filepath.Join(dir, "tok_c1_id1.json"), []byte(py), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Load(ctx, key)
	if err != nil || tok.AccessToken != "pyat" || tok.RefreshToken != "pyrt" || !tok.Expiry.IsZero() {
		t.Fatalf("PyCentral file: %+v %v", tok != nil, err)
	}
	for _, bad := range []StoreKey{{"../x", "id"}, {"c", "a/b"}, {"", "id"}, {"..", "id"}} {
		if err := s.Save(ctx, bad, &oauth2.Token{AccessToken: "a"}); err == nil {
			t.Errorf("Save(%v) should fail", bad)
		}
	}
}

// TestSharedStoreAdoptsRotation: two clients (think two processes) share a
// FileStore. After one rotates the token, the other adopts the stored token
// on its next 401 instead of burning its stale refresh token.
func TestSharedStoreAdoptsRotation(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	dir := t.TempDir()
	cfg := g.config()
	cfg.TokenStoreDir = dir
	ctx := context.Background()
	c1 := newTestClient(t, g, cfg, clk)
	if _, err := c1.Command(ctx, central.Request{Path: "/x"}); err != nil { // login: at-3/rt-3
		t.Fatal(err)
	}
	c2 := newTestClient(t, g, cfg, clk)
	if _, err := c2.Command(ctx, central.Request{Path: "/x"}); err != nil { // loads at-3 from the store
		t.Fatal(err)
	}
	g.expire("at-3")
	if _, err := c1.Command(ctx, central.Request{Path: "/x"}); err != nil { // c1 rotates to at-4/rt-4
		t.Fatal(err)
	}
	resp, err := c2.Command(ctx, central.Request{Path: "/x"}) // c2: 401 → adopts at-4
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("c2: %v %+v", err, resp)
	}
	if g.logins.Load() != 1 || g.refreshes.Load() != 1 {
		t.Fatalf("logins=%d refreshes=%d, want 1 and 1", g.logins.Load(), g.refreshes.Load())
	}
	if tok, _ := c2.Token(ctx); tok.AccessToken != "at-4" {
		t.Fatalf("c2 token %q", tok.AccessToken)
	}
}

// TestTransientTokenFailureRetried: a 503 from the token endpoint is
// retried (bounded, injected sleep); a 400 is not.
func TestTransientTokenFailureRetried(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	clk := newClock()
	var n atomic.Int64
	g.setTokenHandler(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(503)
		default:
			writeJSON(w, 200, map[string]any{"access_token": "at-x", "refresh_token": "rt-x", "expires_in": 7200})
		}
	})
	g.mu.Lock()
	g.access["at-x"] = true
	g.mu.Unlock()
	c := newTestClient(t, g, g.config(), clk)
	if resp, err := c.Command(context.Background(), central.Request{Path: "/x"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("Command: %v", err)
	}
	if n.Load() != 2 || g.logins.Load() != 2 || len(clk.Sleeps()) != 1 {
		t.Fatalf("token calls %d logins %d sleeps %v", n.Load(), g.logins.Load(), clk.Sleeps())
	}
	g.setTokenHandler(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		writeJSON(w, 400, map[string]any{"error": "invalid_client"})
	})
	before := n.Load()
	c2 := newTestClient(t, g, g.config(), clk)
	if _, err := c2.Command(context.Background(), central.Request{Path: "/x"}); err == nil || n.Load()-before != 1 {
		t.Fatalf("rejection must not be retried: %v (%d calls)", err, n.Load()-before)
	}
}
