package centralsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
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

// harness is a started simulator with a fake clock.
type harness struct {
	*Server
	t     *testing.T
	clock *fakeClock
	hc    *http.Client
}

func newSim(t *testing.T, optFns ...func(*Options)) *harness {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	fns := append([]func(*Options){func(o *Options) {
		o.Tenants = 6
		o.Seed = 1
		o.Now = clock.Now
		o.RateLimits = RateLimits{}
	}}, optFns...)
	s := NewServer(fns...)
	t.Cleanup(s.Close)
	return &harness{Server: s, t: t, clock: clock, hc: s.Client()}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
	return m
}

func (h *harness) do(req *http.Request) resp {
	h.t.Helper()
	res, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (h *harness) postForm(u string, form url.Values, basicID, basicSecret string) resp {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(basicID, basicSecret)
	}
	return h.do(req)
}

func (h *harness) get(u, tok string) resp {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return h.do(req)
}

func (h *harness) mspToken() string {
	h.t.Helper()
	m := h.MSP()
	r := h.postForm(h.TokenURL(m.WorkspaceID), url.Values{"grant_type": {GrantClientCredentials}}, m.ClientID, m.ClientSecret)
	if r.status != 200 {
		h.t.Fatalf("client_credentials: %d %s", r.status, r.body)
	}
	return r.json(h.t)["access_token"].(string)
}

func exchangeForm(subject string) url.Values {
	return url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {TokenTypeAccessToken}}
}

func (h *harness) tenantToken(hex string) string {
	h.t.Helper()
	r := h.postForm(h.TokenURL(hex), exchangeForm(h.mspToken()), "", "")
	if r.status != 200 {
		h.t.Fatalf("exchange: %d %s", r.status, r.body)
	}
	return r.json(h.t)["access_token"].(string)
}

// pageItems decodes the items of a page as raw messages.
func pageItems(t *testing.T, r resp) ([]json.RawMessage, map[string]json.RawMessage) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("page is not JSON: %v", err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(m["items"], &items); err != nil {
		t.Fatalf("items: %v", err)
	}
	return items, m
}

func equalRaw(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if string(a[i]) != string(b[i]) {
			return false
		}
	}
	return true
}

// bigTenant returns the first tenant with more than min devices.
func (h *harness) tenantWith(pred func(Tenant) bool) Tenant {
	h.t.Helper()
	for _, tn := range h.Tenants() {
		if pred(tn) {
			return tn
		}
	}
	h.t.Fatal("no tenant matches")
	return Tenant{}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func newGet(u, tok string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err == nil && tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req, err
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
