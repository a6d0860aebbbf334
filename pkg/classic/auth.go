package classic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centralmsp/centralmsp/internal/httpcore"
	"github.com/centralmsp/centralmsp/pkg/central"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// Login steps named in a LoginError.
const (
	StepLogin     = "login"     // POST /oauth2/authorize/central/api/login
	StepAuthorize = "authorize" // POST /oauth2/authorize/central/api
	StepToken     = "token"     // POST /oauth2/token grant_type=authorization_code
	StepRefresh   = "refresh"   // POST /oauth2/token grant_type=refresh_token
)

// ErrNoCredentials reports that a token is needed and the config has neither
// a usable token nor the fields to log in.
var ErrNoCredentials = errors.New("classic: no usable access token, and username, password, client_id, client_secret and customer_id are needed to log in")

// LoginError reports a failed step of the OAuth login or of a refresh. It
// never carries the password, the client secret or a token: URL has no
// query, and echoed secrets are removed from Description.
type LoginError struct {
	Step        string // StepLogin, StepAuthorize, StepToken or StepRefresh
	URL         string // endpoint without query
	StatusCode  int    // 0 if no answer
	ErrorCode   string // OAuth "error", e.g. invalid_grant
	Description string // error_description / message
	Err         error  // transport or decoding error
}

// Error implements error.
func (e *LoginError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "classic: %s step failed at %s", e.Step, e.URL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (status %d)", e.StatusCode)
	}
	if e.ErrorCode != "" {
		b.WriteString(": ")
		b.WriteString(e.ErrorCode)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *LoginError) Unwrap() error { return e.Err }

// Rejected reports whether the server refused the grant (a 4xx answer such
// as 400 invalid_grant), as opposed to a transport failure, a 429 or a 5xx.
func (e *LoginError) Rejected() bool {
	return e.ErrorCode == "invalid_grant" || (e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests)
}

// tokenManager owns the token of one Config: load, login, refresh, persist.
// Renewals are single-flight.
type tokenManager struct {
	cfg     Config
	base    string
	hc      *http.Client
	store   TokenStore
	key     StoreKey
	log     *slog.Logger
	now     func() time.Time
	early   time.Duration
	timeout time.Duration
	retry   central.RetryPolicy // Sleep and Backoff for transient failures

	logins, refreshes atomic.Int64

	mu      sync.Mutex
	tok     *oauth2.Token
	loaded  bool
	unsaved *oauth2.Token // token whose Save failed; retried
	sf      singleflight.Group
}

// valid reports whether t is usable now. Unknown expiry counts as valid
// (the server's 401 will tell).
func (m *tokenManager) valid(t *oauth2.Token) bool {
	if t == nil || t.AccessToken == "" {
		return false
	}
	if t.Expiry.IsZero() {
		return true
	}
	return m.now().Round(0).Before(t.Expiry.Round(0).Add(-m.early))
}

// token returns a usable token, acquiring one if needed.
func (m *tokenManager) token(ctx context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	t, ok := m.tok, m.loaded && m.valid(m.tok)
	m.mu.Unlock()
	if ok {
		return t, nil
	}
	return m.flight(ctx, nil)
}

// renew replaces rejected (compare-and-renew: when another goroutine has
// already replaced it, the newer token is returned without a request).
func (m *tokenManager) renew(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	return m.flight(ctx, rejected)
}

func (m *tokenManager) flight(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	ch := m.sf.DoChan("token", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.timeout)
		defer cancel()
		return m.acquire(fctx, rejected)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*oauth2.Token), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// acquire runs inside the single flight.
func (m *tokenManager) acquire(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	if err := m.flushUnsaved(ctx); err != nil {
		m.log.Error("classic: the current token is still not persisted", "key", m.key.String(), "error", err)
	}
	m.mu.Lock()
	loaded, cur := m.loaded, m.tok
	m.mu.Unlock()
	if !loaded {
		cur = m.initial(ctx)
		m.mu.Lock()
		m.tok, m.loaded = cur, true
		m.mu.Unlock()
	}
	if rejected == nil || cur == nil || cur.AccessToken != rejected.AccessToken {
		if m.valid(cur) {
			return cur, nil
		}
	}
	if loaded {
		// Another process (or client) sharing the store may have rotated the
		// token already: its refresh token is then the only valid one.
		if t := m.newerStored(ctx, cur, rejected); t != nil {
			m.mu.Lock()
			m.tok = t
			m.mu.Unlock()
			m.log.Info("classic: using a newer token from the token store", "key", m.key.String())
			return t, nil
		}
	}
	if cur != nil && cur.RefreshToken != "" && m.cfg.canRefresh() {
		rt := cur.RefreshToken
		t, err := m.retrying(ctx, func() (*oauth2.Token, error) { return m.refresh(ctx, rt) })
		if err == nil {
			m.set(ctx, t)
			return t, nil
		}
		var le *LoginError
		if !errors.As(err, &le) || !le.Rejected() || !m.cfg.canLogin() {
			return nil, err
		}
		m.log.Warn("classic: refresh token rejected; logging in again", "customer_id", m.cfg.CustomerID, "error", err)
	}
	if !m.cfg.canLogin() {
		return nil, ErrNoCredentials
	}
	t, err := m.retrying(ctx, func() (*oauth2.Token, error) { return m.login(ctx) })
	if err != nil {
		return nil, err
	}
	m.set(ctx, t)
	return t, nil
}

// maxAuthAttempts bounds retries of a login or refresh on transient failures.
const maxAuthAttempts = 3

// retrying runs fn again after transient failures (no answer, 429, 5xx),
// at most maxAuthAttempts times. Rejections (4xx) are final.
func (m *tokenManager) retrying(ctx context.Context, fn func() (*oauth2.Token, error)) (*oauth2.Token, error) {
	for attempt := 1; ; attempt++ {
		t, err := fn()
		if err == nil {
			return t, nil
		}
		var le *LoginError
		transient := errors.As(err, &le) && le.ErrorCode == "" &&
			(le.StatusCode == 0 || le.StatusCode == http.StatusTooManyRequests || le.StatusCode >= 500)
		if !transient || attempt >= maxAuthAttempts || ctx.Err() != nil {
			return nil, err
		}
		d := max(m.retry.Backoff(attempt-1), 100*time.Millisecond)
		m.log.Warn("classic: token request failed; retrying", "step", le.Step, "attempt", attempt, "wait", d, "error", err)
		if m.retry.Sleep(ctx, d) != nil {
			return nil, err
		}
	}
}

// initial is the start-up token: the store's (newest, since refresh tokens
// rotate), else the configured one, else nil.
func (m *tokenManager) initial(ctx context.Context) *oauth2.Token {
	if m.store != nil {
		t, err := m.store.Load(ctx, m.key)
		if err != nil {
			m.log.Warn("classic: cannot load stored token", "key", m.key.String(), "error", err)
		} else if t != nil && t.AccessToken != "" {
			m.log.Debug("classic: using stored token", "key", m.key.String())
			return t
		}
	}
	if m.cfg.Token.AccessToken != "" {
		return &oauth2.Token{AccessToken: m.cfg.Token.AccessToken, RefreshToken: m.cfg.Token.RefreshToken, TokenType: "Bearer"}
	}
	return nil
}

// newerStored returns the stored token if it differs from cur and rejected
// and is usable, else nil.
func (m *tokenManager) newerStored(ctx context.Context, cur, rejected *oauth2.Token) *oauth2.Token {
	if m.store == nil {
		return nil
	}
	t, err := m.store.Load(ctx, m.key)
	if err != nil || t == nil || t.AccessToken == "" {
		return nil
	}
	if (cur != nil && t.AccessToken == cur.AccessToken) || (rejected != nil && t.AccessToken == rejected.AccessToken) || !m.valid(t) {
		return nil
	}
	return t
}

// set installs and persists t. A failed Save keeps t in memory and is
// retried on the next acquisition and by Close.
func (m *tokenManager) set(ctx context.Context, t *oauth2.Token) {
	m.mu.Lock()
	m.tok, m.loaded = t, true
	m.mu.Unlock()
	if m.store == nil {
		return
	}
	if err := m.store.Save(ctx, m.key, t); err != nil {
		m.log.Error("classic: cannot persist the new token; it is kept in memory and saving will be retried", "key", m.key.String(), "error", err)
		m.mu.Lock()
		m.unsaved = t
		m.mu.Unlock()
		return
	}
	m.mu.Lock()
	m.unsaved = nil // the newest token is saved; older unsaved ones are moot
	m.mu.Unlock()
}

// flushUnsaved retries a failed Save.
func (m *tokenManager) flushUnsaved(ctx context.Context) error {
	m.mu.Lock()
	t := m.unsaved
	m.mu.Unlock()
	if t == nil || m.store == nil {
		return nil
	}
	if err := m.store.Save(ctx, m.key, t); err != nil {
		return err
	}
	m.mu.Lock()
	if m.unsaved == t {
		m.unsaved = nil
	}
	m.mu.Unlock()
	return nil
}

// login runs PyCentral's createToken(): the OAuth 3-step flow.
func (m *tokenManager) login(ctx context.Context) (*oauth2.Token, error) {
	m.logins.Add(1)
	m.log.Info("classic: logging in (OAuth 3-step)", "base_url", m.base, "customer_id", m.cfg.CustomerID)
	c := &m.cfg
	// Step 1: login with username/password, read csrftoken and session cookies.
	loginURL := m.base + "/oauth2/authorize/central/api/login"
	creds, _ := json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{c.Username, c.Password})
	resp, body, err := m.post(ctx, StepLogin, loginURL, query("client_id", c.ClientID), creds, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, m.failure(StepLogin, loginURL, resp.StatusCode, body)
	}
	var csrf, session string
	for _, ck := range resp.Cookies() {
		switch ck.Name {
		case "csrftoken":
			csrf = ck.Value
		case "session":
			session = ck.Value
		}
	}
	if csrf == "" || session == "" {
		return nil, &LoginError{Step: StepLogin, URL: loginURL, StatusCode: resp.StatusCode, Description: "the answer has no csrftoken and session cookies"}
	}
	// Step 2: authorize, read auth_code.
	authURL := m.base + "/oauth2/authorize/central/api"
	cust, _ := json.Marshal(struct {
		CustomerID string `json:"customer_id"`
	}{c.CustomerID})
	hdr := http.Header{"X-Csrf-Token": {csrf}, "Cookie": {"session=" + session}}
	resp, body, err = m.post(ctx, StepAuthorize, authURL, query("client_id", c.ClientID, "response_type", "code", "scope", "all"), cust, hdr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, m.failure(StepAuthorize, authURL, resp.StatusCode, body, csrf, session)
	}
	var ac struct {
		AuthCode string `json:"auth_code"`
	}
	if json.Unmarshal(body, &ac) != nil || ac.AuthCode == "" {
		return nil, &LoginError{Step: StepAuthorize, URL: authURL, StatusCode: resp.StatusCode, Description: "the answer has no auth_code"}
	}
	// Step 3: exchange the code, all parameters in the query, no body.
	tokURL := m.base + "/oauth2/token"
	resp, body, err = m.post(ctx, StepToken, tokURL, query("client_id", c.ClientID, "client_secret", c.ClientSecret, "grant_type", "authorization_code", "code", ac.AuthCode), nil, nil)
	if err != nil {
		return nil, err
	}
	t, err := m.parseToken(StepToken, tokURL, resp.StatusCode, body, ac.AuthCode)
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" {
		m.log.Warn("classic: login answer has no refresh_token; the token cannot be refreshed")
	}
	return t, nil
}

// refresh runs PyCentral's refreshToken(): grant_type=refresh_token with
// every parameter in the query string.
func (m *tokenManager) refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	m.refreshes.Add(1)
	m.log.Info("classic: refreshing access token", "base_url", m.base, "customer_id", m.cfg.CustomerID)
	tokURL := m.base + "/oauth2/token"
	resp, body, err := m.post(ctx, StepRefresh, tokURL, query("client_id", m.cfg.ClientID, "client_secret", m.cfg.ClientSecret, "grant_type", "refresh_token", "refresh_token", refreshToken), nil, nil)
	if err != nil {
		return nil, err
	}
	t, err := m.parseToken(StepRefresh, tokURL, resp.StatusCode, body, refreshToken)
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" { // not rotated: keep the current one
		t.RefreshToken = refreshToken
	}
	return t, nil
}

// query builds a query string in the given order (as PyCentral's dicts).
func query(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

const maxAuthBody = 1 << 20

// post sends one login/token request. JSON bodies get Content-Type JSON.
func (m *tokenManager) post(ctx context.Context, step, endpoint, rawQuery string, body []byte, hdr http.Header) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"?"+rawQuery, rd)
	if err != nil {
		return nil, nil, &LoginError{Step: step, URL: endpoint, Err: errors.New("invalid URL")}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, nil, &LoginError{Step: step, URL: endpoint, Err: sanitizeErr(err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthBody))
	if err != nil {
		return nil, nil, &LoginError{Step: step, URL: endpoint, StatusCode: resp.StatusCode, Err: fmt.Errorf("reading answer: %w", sanitizeErr(err))}
	}
	return resp, raw, nil
}

// failure builds a LoginError from an error answer, scrubbing secrets.
func (m *tokenManager) failure(step, endpoint string, status int, body []byte, extra ...string) *LoginError {
	e := &LoginError{Step: step, URL: endpoint, StatusCode: status}
	var v map[string]any
	if json.Unmarshal(body, &v) == nil {
		str := func(keys ...string) string {
			for _, k := range keys {
				if s, ok := v[k].(string); ok && s != "" {
					return s
				}
			}
			return ""
		}
		e.ErrorCode = str("error", "error_code")
		e.Description = str("error_description", "description", "message", "detail")
	} else if s := strings.TrimSpace(string(body)); s != "" && len(s) <= 256 && !strings.ContainsAny(s, "<{") {
		e.Description = s
	}
	if e.Description == "" {
		e.Description = http.StatusText(status)
	}
	sent := m.secrets(extra...)
	e.ErrorCode, e.Description = sent.Scrub(e.ErrorCode), sent.Scrub(e.Description)
	return e
}

// secrets returns every secret the manager knows (password, client
// secret, configured and current tokens) plus extra ones sent on a step.
func (m *tokenManager) secrets(extra ...string) *httpcore.Secrets {
	sent := &httpcore.Secrets{}
	sent.Add(m.cfg.Password, m.cfg.ClientSecret, m.cfg.Token.AccessToken, m.cfg.Token.RefreshToken)
	sent.Add(extra...)
	m.mu.Lock()
	if m.tok != nil {
		sent.Add(m.tok.AccessToken, m.tok.RefreshToken)
	}
	m.mu.Unlock()
	return sent
}

// parseToken reads a token answer: 200 with access_token (and normally
// refresh_token and expires_in).
func (m *tokenManager) parseToken(step, endpoint string, status int, body []byte, sent ...string) (*oauth2.Token, error) {
	if status != http.StatusOK {
		return nil, m.failure(step, endpoint, status, body, sent...)
	}
	var tr struct {
		AccessToken  string          `json:"access_token"`
		RefreshToken string          `json:"refresh_token"`
		TokenType    string          `json:"token_type"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, &LoginError{Step: step, URL: endpoint, StatusCode: status, Err: errors.New("token answer is not JSON")}
	}
	if tr.AccessToken == "" {
		return nil, &LoginError{Step: step, URL: endpoint, StatusCode: status, Description: "token answer has no access_token"}
	}
	t := &oauth2.Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, TokenType: "Bearer"}
	if n := parseSeconds(tr.ExpiresIn); n > 0 {
		t.ExpiresIn = n
		t.Expiry = m.now().Add(time.Duration(n) * time.Second)
	}
	return t, nil
}

func parseSeconds(raw json.RawMessage) int64 {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0
	}
	return int64(math.Min(f, math.MaxInt32))
}

// sanitizeErr drops the query (client_secret, refresh_token) and user
// information from a *url.Error.
func sanitizeErr(err error) error { return httpcore.SanitizeTransportErr(err) }

func toStored(t *oauth2.Token) storedToken {
	st := storedToken{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType, ExpiresIn: t.ExpiresIn}
	if !t.Expiry.IsZero() {
		st.Expiry = t.Expiry.UTC().Format(time.RFC3339Nano)
	}
	return st
}

func fromStored(st storedToken) *oauth2.Token {
	t := &oauth2.Token{AccessToken: st.AccessToken, RefreshToken: st.RefreshToken, TokenType: st.TokenType, ExpiresIn: st.ExpiresIn}
	if t.TokenType == "" {
		t.TokenType = "Bearer"
	}
	if st.Expiry != "" {
		if e, err := time.Parse(time.RFC3339Nano, st.Expiry); err == nil {
			t.Expiry = e
		}
	}
	return t
}
