package central

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/centralmsp/centralmsp/internal/httpcore"
)

// App names an API family and the matching credential block.
type App string

// Apps a Client can call.
const (
	AppGLP     App = "glp"
	AppCentral App = "new_central"
	// AppUnified names the unified credential block in a LoginError; it is
	// not a request target.
	AppUnified App = "unified"
)

// TokenSource supplies access tokens. Implementations must be safe for
// concurrent use; callers must not modify the returned token.
type TokenSource interface {
	Token(ctx context.Context) (*oauth2.Token, error)
}

// Invalidator is implemented by sources that can drop a token a server
// rejected. Compare-and-invalidate: the token is dropped only if it is still
// the cached one, so a late 401 cannot discard a token refreshed meanwhile.
type Invalidator interface {
	Invalidate(rejected *oauth2.Token)
}

// TokenSourceFunc adapts a function to TokenSource.
type TokenSourceFunc func(ctx context.Context) (*oauth2.Token, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context) (*oauth2.Token, error) { return f(ctx) }

// ErrTokenExpired reports that an access token expired or was rejected and no
// client credentials were given to obtain a new one.
var ErrTokenExpired = errors.New("central: access token expired or was rejected, and no client credentials were given to renew it")

// CacheOptions configures a CachedSource.
type CacheOptions struct {
	// EarlyExpiry renews a token this long before its expiry (default 60s;
	// negative means 0).
	EarlyExpiry time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FetchTimeout bounds one fetch, which runs detached from the caller's
	// cancellation so one leaving caller does not fail the others (default 30s).
	FetchTimeout time.Duration
	// Initial seeds the cache, e.g. with a configured access_token.
	Initial *oauth2.Token
}

// CachedSource caches a token and refreshes it single-flight: however many
// goroutines find it missing or expired, one fetch runs and all share its
// result, including its error. Each caller can leave when its own context
// ends; the fetch keeps running for the others.
type CachedSource struct {
	fetch func(ctx context.Context) (*oauth2.Token, error)
	early time.Duration
	now   func() time.Time
	ftout time.Duration

	mu       sync.Mutex
	tok      *oauth2.Token
	tokEarly time.Duration // early expiry for tok, at most half its lifetime
	sf       singleflight.Group
}

// NewCachedSource returns a CachedSource around fetch.
func NewCachedSource(fetch func(ctx context.Context) (*oauth2.Token, error), opts CacheOptions) *CachedSource {
	s := &CachedSource{fetch: fetch, early: opts.EarlyExpiry, now: opts.Now, ftout: opts.FetchTimeout}
	if s.early == 0 {
		s.early = 60 * time.Second
	} else if s.early < 0 {
		s.early = 0
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ftout <= 0 {
		s.ftout = 30 * time.Second
	}
	if opts.Initial != nil {
		s.store(opts.Initial)
	}
	return s
}

// store caches t (s.mu held or not yet shared). The early-expiry margin is
// capped at half the token's remaining lifetime, so a short-lived token is
// not refetched on every call.
func (s *CachedSource) store(t *oauth2.Token) {
	s.tok, s.tokEarly = t, s.early
	if t != nil && !t.Expiry.IsZero() {
		if half := t.Expiry.Round(0).Sub(s.now().Round(0)) / 2; half < s.tokEarly {
			s.tokEarly = max(half, 0)
		}
	}
}

// validLocked reports whether the cached token is usable (s.mu held).
func (s *CachedSource) validLocked() bool {
	t := s.tok
	if t == nil || t.AccessToken == "" {
		return false
	}
	if t.Expiry.IsZero() {
		return true
	}
	return s.now().Round(0).Before(t.Expiry.Round(0).Add(-s.tokEarly))
}

// Current returns the cached token without fetching (nil if none).
func (s *CachedSource) Current() *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}

// Set replaces the cached token.
func (s *CachedSource) Set(t *oauth2.Token) {
	s.mu.Lock()
	s.store(t)
	s.mu.Unlock()
}

// Invalidate drops rejected if it is still the cached token.
func (s *CachedSource) Invalidate(rejected *oauth2.Token) {
	if rejected == nil {
		return
	}
	s.mu.Lock()
	if s.tok != nil && s.tok.AccessToken == rejected.AccessToken {
		s.tok = nil
	}
	s.mu.Unlock()
}

// Token returns a valid cached token or fetches one (single-flight).
func (s *CachedSource) Token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	t, ok := s.tok, s.validLocked()
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	ch := s.sf.DoChan("token", func() (any, error) {
		// Re-check: a flight that ended between our check and DoChan may
		// already have stored a fresh token.
		s.mu.Lock()
		cur, ok := s.tok, s.validLocked()
		s.mu.Unlock()
		if ok {
			return cur, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.ftout)
		defer cancel()
		nt, err := s.fetch(fctx)
		if err != nil {
			return nil, err
		}
		if nt == nil || nt.AccessToken == "" {
			return nil, errors.New("central: token source returned an empty token")
		}
		s.mu.Lock()
		s.store(nt)
		s.mu.Unlock()
		return nt, nil
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

// LoginError reports a failed token request. It carries the OAuth error code
// and description and the HTTP status, never the secret or a token.
type LoginError struct {
	App         App    // block the token was for ("" when unknown)
	TokenURL    string // token endpoint
	StatusCode  int    // HTTP status, 0 if no response
	ErrorCode   string // OAuth "error" field, e.g. invalid_client
	Description string // OAuth "error_description"
	Err         error  // transport or decoding error, if any
}

// Error implements error.
func (e *LoginError) Error() string {
	var b strings.Builder
	b.WriteString("central: login failed")
	if e.App != "" {
		fmt.Fprintf(&b, " for %s", e.App)
	}
	fmt.Fprintf(&b, " at %s", e.TokenURL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (status_code=%d)", e.StatusCode)
	}
	if e.ErrorCode != "" {
		b.WriteString(": ")
		b.WriteString(e.ErrorCode)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.ErrorCode == "invalid_client" {
		b.WriteString(". Provide valid client_id and client_secret to create an access token")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *LoginError) Unwrap() error { return e.Err }

// ClientCredentials runs the OAuth2 client_credentials grant exactly as
// PyCentral does on the wire: POST tokenURL with HTTP Basic auth built from the
// raw (not URL-escaped) id and secret, and the form grant_type=client_credentials.
// hc nil means http.DefaultClient.
func ClientCredentials(ctx context.Context, hc *http.Client, tokenURL, clientID, clientSecret string) (*oauth2.Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	return tokenRequest(ctx, hc, "", tokenURL, form, clientID, clientSecret, time.Now)
}

// ExchangeToken runs the RFC 8693 token exchange HPE documents for MSPs
// (https://developer.greenlake.hpe.com/docs/greenlake/services/credentials/public/msp-token-exchange): the form holds
// exactly grant_type, subject_token and subject_token_type. When clientID and
// clientSecret are both non-empty they are sent as HTTP Basic auth, as PyCentral
// does. hc nil means http.DefaultClient.
func ExchangeToken(ctx context.Context, hc *http.Client, tokenURL, subjectToken, clientID, clientSecret string) (*oauth2.Token, error) {
	form := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {subjectToken},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
	}
	if clientID == "" || clientSecret == "" {
		clientID, clientSecret = "", ""
	}
	return tokenRequest(ctx, hc, "", tokenURL, form, clientID, clientSecret, time.Now)
}

const maxTokenBody = 1 << 20

func tokenRequest(ctx context.Context, hc *http.Client, app App, tokenURL string, form url.Values, id, secret string, now func() time.Time) (*oauth2.Token, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	// Every secret the request carries, scrubbed from every error built
	// from the answer.
	sent := &httpcore.Secrets{}
	sent.AddBasic(id, secret)
	sent.Add(form.Get("subject_token"), form.Get("client_secret"), form.Get("refresh_token"))
	lerr := func(status int, err error) *LoginError {
		return &LoginError{App: app, TokenURL: tokenURL, StatusCode: status, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, lerr(0, errors.New("invalid token URL"))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if id != "" || secret != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, lerr(0, ctx.Err())
		}
		return nil, lerr(0, sanitizeTransportErr(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return nil, lerr(resp.StatusCode, fmt.Errorf("reading token response: %w", sanitizeTransportErr(err)))
	}
	tr, perr := parseTokenResponse(resp.Header.Get("Content-Type"), body)
	scrub := sent.Scrub
	if tr.Error != "" {
		e := lerr(resp.StatusCode, nil)
		e.ErrorCode, e.Description = scrub(tr.Error), scrub(tr.ErrorDescription)
		return nil, e
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := lerr(resp.StatusCode, nil)
		e.Description = scrub(tr.Message)
		if e.Description == "" {
			e.Description = http.StatusText(resp.StatusCode)
		}
		return nil, e
	}
	if perr != nil {
		return nil, lerr(resp.StatusCode, perr)
	}
	if tr.AccessToken == "" {
		return nil, lerr(resp.StatusCode, errors.New("token response has no access_token"))
	}
	tok := &oauth2.Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType, RefreshToken: tr.RefreshToken}
	tok.Expiry = tokenExpiry(tr.AccessToken, tr.ExpiresIn, now())
	if tr.ExpiresIn > 0 {
		tok.ExpiresIn = tr.ExpiresIn
	}
	return tok, nil
}

type tokenResponse struct {
	AccessToken      string
	TokenType        string
	RefreshToken     string
	ExpiresIn        int64
	Error            string
	ErrorDescription string
	Message          string
}

// parseTokenResponse decodes JSON, falling back to form encoding as oauthlib
// does.
func parseTokenResponse(contentType string, body []byte) (tokenResponse, error) {
	var tr tokenResponse
	mt, _, _ := mime.ParseMediaType(contentType)
	// A JSON object is parsed as JSON whatever the content type says (text/plain,
	// missing, ...), as oauthlib does; form encoding is the fallback.
	looksJSON := strings.HasPrefix(strings.TrimSpace(string(body)), "{")
	if !looksJSON && (mt == "application/x-www-form-urlencoded" || mt == "text/plain") {
		if vals, err := url.ParseQuery(string(body)); err == nil && len(vals) > 0 {
			tr.AccessToken, tr.TokenType, tr.RefreshToken = vals.Get("access_token"), vals.Get("token_type"), vals.Get("refresh_token")
			tr.Error, tr.ErrorDescription = vals.Get("error"), vals.Get("error_description")
			tr.ExpiresIn, _ = strconv.ParseInt(vals.Get("expires_in"), 10, 64)
			return tr, nil
		}
	}
	var raw map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		if vals, qerr := url.ParseQuery(string(body)); qerr == nil && (vals.Has("access_token") || vals.Has("error")) {
			tr.AccessToken, tr.TokenType = vals.Get("access_token"), vals.Get("token_type")
			tr.Error, tr.ErrorDescription = vals.Get("error"), vals.Get("error_description")
			tr.ExpiresIn, _ = strconv.ParseInt(vals.Get("expires_in"), 10, 64)
			return tr, nil
		}
		return tr, errors.New("token response is not JSON")
	}
	str := func(k string) string {
		if s, ok := raw[k].(string); ok {
			return s
		}
		return ""
	}
	tr.AccessToken, tr.TokenType, tr.RefreshToken = str("access_token"), str("token_type"), str("refresh_token")
	tr.Error, tr.ErrorDescription, tr.Message = str("error"), str("error_description"), str("message")
	if tr.Error == "" {
		if v, ok := raw["error"]; ok && v != nil {
			if m, ok := v.(map[string]any); ok {
				if s, ok := m["message"].(string); ok {
					tr.Error = s
				}
			}
		}
	}
	switch v := raw["expires_in"].(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil && f > 0 {
			tr.ExpiresIn = int64(math.Min(f, math.MaxInt32))
		}
	case string:
		if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
			tr.ExpiresIn = int64(math.Min(n, math.MaxInt32))
		}
	}
	return tr, nil
}

// tokenExpiry combines expires_in and the JWT exp claim, taking the earlier
// when both are present. Zero means unknown.
func tokenExpiry(access string, expiresIn int64, now time.Time) time.Time {
	var exp time.Time
	if expiresIn > 0 {
		exp = now.Add(time.Duration(expiresIn) * time.Second)
	}
	if jexp, ok := JWTExpiry(access); ok && (exp.IsZero() || jexp.Before(exp)) {
		exp = jexp
	}
	return exp
}

// JWTExpiry returns the exp claim of a JWT access token without verifying it.
// ok is false when the token is not a JWT or has no numeric exp.
func JWTExpiry(token string) (t time.Time, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// staticToken builds the token of a configured access_token.
func staticToken(access string) *oauth2.Token {
	t := &oauth2.Token{AccessToken: access, TokenType: "Bearer"}
	if exp, ok := JWTExpiry(access); ok {
		t.Expiry = exp
	}
	return t
}

func sanitizeTransportErr(err error) error { return httpcore.SanitizeTransportErr(err) }
