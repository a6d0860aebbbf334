package classic

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/centralmsp/centralmsp/internal/httpcore"
	"github.com/centralmsp/centralmsp/pkg/central"
	"golang.org/x/oauth2"
	"golang.org/x/time/rate"
)

// Classic rate-limit headers
// (https://developer.arubanetworks.com/aruba-central/docs/api-rate-limits).
const (
	HeaderLimitDay        = "X-RateLimit-Limit-day"
	HeaderRemainingDay    = "X-RateLimit-Remaining-day"
	HeaderLimitSecond     = "X-RateLimit-Limit-second"
	HeaderRemainingSecond = "X-RateLimit-Remaining-second"
	// HeaderTenantID selects the tenant of a Classic MSP call.
	HeaderTenantID = "TenantID"
)

// DefaultRate is the Classic gateway's default per-second limit.
const DefaultRate rate.Limit = 7

// Options configures a Client. Unset fields take defaults.
type Options struct {
	// HTTPClient sends API and login requests (default: a client with its own
	// transport and a 60s timeout; ssl_verify false turns off certificate
	// verification of that default client only).
	HTTPClient *http.Client
	// Logger receives structured logs without secrets (default slog.Default()).
	Logger *slog.Logger
	// TokenStore persists tokens (default: a FileStore in Config.TokenStoreDir
	// when set, else none: tokens then live in memory only).
	TokenStore TokenStore
	// Retry bounds retries. MaxAttempts defaults to 10 (PyCentral's
	// user_retries); Sleep is used for every wait (limiter, 429, backoff).
	// Quota is the retry quota drawn on by retries of failures (default: a
	// quota of central.DefaultRetryQuota per Client); share one between
	// clients of the same gateway, as pkg/central's clients do.
	Retry central.RetryPolicy
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Limiter paces requests; share one between clients of the same account
	// (MSP calls for tenants consume the MSP account's quota). nil = a private
	// limiter at RateLimit with burst 1.
	Limiter *rate.Limiter
	// RateLimit is the private limiter's rate (default DefaultRate, 7/s;
	// rate.Inf disables it).
	RateLimit rate.Limit
	// PerSecondWait is the pause after a 429 whose X-RateLimit-Remaining-second
	// is "0", before the jittered backoff is added (default 1s, the window).
	PerSecondWait time.Duration
	// TokenEarlyExpiry renews a token with a known expiry this long before it
	// (default 60s).
	TokenEarlyExpiry time.Duration
	// TokenTimeout bounds one login or refresh (default 60s).
	TokenTimeout time.Duration
	// MaxPages is the pagination guard (default 10000).
	MaxPages int
	// MaxResponseBytes caps the body read from one response (default
	// central.DefaultMaxResponseBytes); a larger body fails the call with
	// central.ErrResponseTooLarge, without retry.
	MaxResponseBytes int64
}

// Client calls the Classic Central API gateway. It is safe for concurrent
// use. WithTenant returns views that share its token, limiter and quota
// state.
type Client struct {
	core   *core
	tenant string
}

type core struct {
	base    string // gateway URL with path prefix, no trailing slash
	hc      *http.Client
	ownHC   bool
	log     *slog.Logger
	tm      *tokenManager
	lim     *rate.Limiter
	retry   central.RetryPolicy
	now     func() time.Time
	psWait  time.Duration
	maxPage int
	maxBody int64

	mu          sync.Mutex
	pausedUntil time.Time
	dailyReset  time.Time
	dailyLimit  int
	limits      RateLimitStatus
}

// New builds a Client. cfg is validated and copied; no network I/O happens
// here: the token is acquired on first use.
func New(cfg *Config, optFns ...func(*Options)) (*Client, error) {
	if cfg == nil {
		return nil, &ConfigError{Reason: "nil config"}
	}
	var o Options
	for _, fn := range optFns {
		if fn != nil {
			fn(&o)
		}
	}
	base, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	k := &core{base: base, hc: o.HTTPClient, log: o.Logger, lim: o.Limiter, now: o.Now, psWait: o.PerSecondWait, maxPage: o.MaxPages, maxBody: o.MaxResponseBytes}
	if k.maxBody <= 0 {
		k.maxBody = central.DefaultMaxResponseBytes
	}
	if k.log == nil {
		k.log = slog.Default()
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.psWait <= 0 {
		k.psWait = time.Second
	}
	if k.maxPage <= 0 {
		k.maxPage = 10000
	}
	k.retry = retryDefaults(o.Retry)
	if k.lim == nil {
		r := o.RateLimit
		if r == 0 {
			r = DefaultRate
		}
		k.lim = rate.NewLimiter(r, 1)
	}
	if k.hc == nil {
		hc, err := defaultHTTPClient(cfg, k.log, base)
		if err != nil {
			return nil, err
		}
		k.hc, k.ownHC = hc, true
	}
	if !k.ownHC && ((cfg.SSLVerify != nil && !*cfg.SSLVerify) || cfg.CABundle != "") {
		k.log.Warn("classic: ssl_verify is set but Options.HTTPClient is given; the given client's TLS settings apply")
	}
	store := o.TokenStore
	if store == nil && cfg.TokenStoreDir != "" {
		store = NewFileStore(cfg.TokenStoreDir)
	}
	if store == nil {
		k.log.Info("classic: no token store configured; rotated refresh tokens are kept in memory only")
	}
	k.tm = &tokenManager{cfg: *cfg, base: base, hc: k.hc, store: store, key: StoreKey{CustomerID: cfg.CustomerID, ClientID: cfg.ClientID},
		log: k.log, now: k.now, early: o.TokenEarlyExpiry, timeout: o.TokenTimeout, retry: k.retry}
	if k.tm.early == 0 {
		k.tm.early = 60 * time.Second
	} else if k.tm.early < 0 {
		k.tm.early = 0
	}
	if k.tm.timeout <= 0 {
		k.tm.timeout = 60 * time.Second
	}
	if store != nil && (cfg.CustomerID == "" || cfg.ClientID == "") {
		return nil, &ConfigError{Source: cfg.Source, Account: orAccount(cfg.Account), Field: "customer_id", Reason: "customer_id and client_id are required to use a token store"}
	}
	if cfg.Token.AccessToken != "" && !cfg.canRefresh() {
		k.log.Warn("classic: no client_id/client_secret: the configured token cannot be refreshed")
	}
	return &Client{core: k}, nil
}

// defaultHTTPClient is the client-owned HTTP client: its own transport, a
// 60s timeout, and the TLS settings of ssl_verify (off, or a CA bundle).
func defaultHTTPClient(cfg *Config, log *slog.Logger, base string) (*http.Client, error) {
	tr := httpcore.NewTransport()
	switch {
	case cfg.SSLVerify != nil && !*cfg.SSLVerify:
		log.Warn("classic: ssl_verify is false: TLS certificates are NOT verified", "base_url", base)
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // explicit ssl_verify: false
	case cfg.CABundle != "":
		pem, err := os.ReadFile(cfg.CABundle)
		if err != nil {
			return nil, &ConfigError{Source: cfg.Source, Field: "ssl_verify", Reason: "cannot read CA bundle", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Source: cfg.Source, Field: "ssl_verify", Reason: "no PEM certificate in CA bundle " + cfg.CABundle}
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

func retryDefaults(p central.RetryPolicy) central.RetryPolicy {
	d := central.DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 10
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxWait <= 0 {
		p.MaxWait = d.MaxWait
	}
	if p.Rand == nil {
		p.Rand = d.Rand
	}
	if p.Sleep == nil {
		p.Sleep = d.Sleep
	}
	if p.Quota == nil {
		p.Quota = central.NewRetryQuota(central.DefaultRetryQuota)
	}
	return p
}

// WithTenant returns a view of c whose calls carry the header
// TenantID: customerID (Classic MSP calls for a tenant, made with the MSP's
// token and consuming the MSP's quota). An empty customerID returns the
// MSP-level view.
func (c *Client) WithTenant(customerID string) *Client {
	return &Client{core: c.core, tenant: strings.TrimSpace(customerID)}
}

// Tenant returns the TenantID of this view ("" for the MSP-level view).
func (c *Client) Tenant() string { return c.tenant }

// BaseURL returns the gateway URL.
func (c *Client) BaseURL() string { return c.core.base }

// Token returns the current access token, acquiring one if needed. Callers
// must not modify it, log it or print it.
func (c *Client) Token(ctx context.Context) (*oauth2.Token, error) {
	return c.core.tm.token(ctx)
}

// Close saves a token whose earlier Save failed and releases idle
// connections of a client-owned transport. The Client stays usable.
func (c *Client) Close() error {
	err := c.core.tm.flushUnsaved(context.Background())
	if c.core.ownHC {
		c.core.hc.CloseIdleConnections()
	}
	if err != nil {
		return fmt.Errorf("classic: the current token is not persisted: %w", err)
	}
	return nil
}

// RateLimitStatus is what the last response's rate-limit headers said.
// Fields are -1 when the header was absent.
type RateLimitStatus struct {
	LimitDay, RemainingDay       int
	LimitSecond, RemainingSecond int
	At                           time.Time // zero before any answer with the headers
}

// RateLimits returns the last rate-limit headers seen by any view of c.
func (c *Client) RateLimits() RateLimitStatus {
	c.core.mu.Lock()
	defer c.core.mu.Unlock()
	if c.core.limits.At.IsZero() {
		return RateLimitStatus{LimitDay: -1, RemainingDay: -1, LimitSecond: -1, RemainingSecond: -1}
	}
	return c.core.limits
}

// DailyQuotaError reports that the per-day quota is spent (a 429 with
// X-RateLimit-Remaining-day "0"). Calls fail fast with it until Reset, the
// next midnight UTC. It matches errors.Is(err, central.ErrRateLimited).
type DailyQuotaError struct {
	Method, Path string
	Tenant       string    // TenantID of the call, if any
	Limit        int       // X-RateLimit-Limit-day, 0 if absent
	Reset        time.Time // next 00:00 UTC
}

// Error implements error.
func (e *DailyQuotaError) Error() string {
	lim := "the per-day rate limit"
	if e.Limit > 0 {
		lim = fmt.Sprintf("the per-day rate limit of %d", e.Limit)
	}
	return fmt.Sprintf("classic: %s %s: %s is exhausted; it resets at %s", e.Method, e.Path, lim, e.Reset.UTC().Format(time.RFC3339))
}

// Is matches central.ErrRateLimited.
func (e *DailyQuotaError) Is(target error) bool { return target == central.ErrRateLimited }

// nextUTCMidnight returns the first 00:00 UTC after t.
func nextUTCMidnight(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day()+1, 0, 0, 0, 0, time.UTC)
}

var methods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

func (c *Client) prepare(req central.Request) (*httpcore.Prepared, error) {
	method := httpcore.MethodOf(req.Method)
	if !methods[method] {
		return nil, fmt.Errorf("classic: HTTP method %q not supported; use GET, POST, PUT, PATCH or DELETE", req.Method)
	}
	if req.App != "" {
		return nil, fmt.Errorf("classic: Request.App %q: the Classic gateway has no apps; leave App empty", req.App)
	}
	hdr := req.Header
	if c.tenant != "" {
		hdr = make(http.Header, len(req.Header)+1)
		for k, v := range req.Header {
			if !strings.EqualFold(k, HeaderTenantID) {
				hdr[k] = v
			}
		}
	}
	p, err := httpcore.Prepare(httpcore.Target{Name: "classic", RelativeTo: "the gateway"}, method, c.core.base, req.Path, req.Params, req.Body, hdr)
	if err != nil {
		return nil, err
	}
	if c.tenant != "" {
		p.Header[HeaderTenantID] = []string{c.tenant} // as spelt by the gateway docs
	}
	return p, nil
}

// Command sends a request PyCentral-style: any HTTP status comes back as a
// *central.Response with a nil error (code = StatusCode, msg = Body or Raw,
// headers = Header). On the way it paces requests (7/s), renews the token
// once on a 401 whose body says invalid_token, and retries a 429 whose
// X-RateLimit-Remaining-second is "0" (or that has no rate-limit headers)
// after a pause, within Options.Retry's bounds. Idempotent methods are also
// retried on 5xx and transport errors.
//
// Errors: *DailyQuotaError (X-RateLimit-Remaining-day "0"; the Response is
// returned too), *LoginError or ErrNoCredentials (no token), a
// *central.ResponseError (no usable answer), a bad request, or the
// context's error.
func (c *Client) Command(ctx context.Context, req central.Request) (*central.Response, error) {
	resp, _, err := c.do(ctx, req, true)
	return resp, err
}

// Do is Command, then: a non-2xx answer becomes *central.APIError
// (errors.Is(err, central.ErrUnauthorized) for 401), a 429 that outlasted the
// retries *central.RateLimitError, and a 2xx JSON body is decoded into out
// (if out is not nil).
func (c *Client) Do(ctx context.Context, req central.Request, out any) (*central.Response, error) {
	return c.doTyped(ctx, req, out, out == nil)
}

// doNoFill is Do without decoding: the caller decodes Raw (Pages).
func (c *Client) doNoFill(ctx context.Context, req central.Request) (*central.Response, error) {
	return c.doTyped(ctx, req, nil, false)
}

func (c *Client) doTyped(ctx context.Context, req central.Request, out any, fill bool) (*central.Response, error) {
	resp, sent, err := c.do(ctx, req, fill)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		sent.Merge(c.core.tm.secrets())
		ae := newAPIError(httpcore.MethodOf(req.Method), httpcore.CleanPath(req.Path), resp, sent)
		if resp.StatusCode == http.StatusTooManyRequests {
			return resp, &central.RateLimitError{Budget: "classic", Attempts: c.core.retry.MaxAttempts, Err: ae}
		}
		return resp, ae
	}
	if out != nil && len(bytes.TrimSpace(resp.Raw)) > 0 {
		if err := json.Unmarshal(resp.Raw, out); err != nil {
			return resp, &central.ResponseError{Method: httpcore.MethodOf(req.Method), Path: req.Path, StatusCode: resp.StatusCode, Reason: "cannot decode JSON body", Err: err}
		}
	}
	return resp, nil
}

// do sends req through the shared retry loop (internal/httpcore) with
// this client's limiter, token manager and quota. fill decodes JSON bodies
// into Response.Body; without it a 2xx JSON body is only checked for
// validity (the caller decodes it into its own type). It also returns the
// secrets sent, to scrub errors built from the answer.
func (c *Client) do(ctx context.Context, req central.Request, fill bool) (*central.Response, *httpcore.Secrets, error) {
	p, err := c.prepare(req)
	if err != nil {
		return nil, nil, err
	}
	k := c.core
	attrs := []any{"method", p.Method, "path", p.Path}
	if c.tenant != "" {
		attrs = append(attrs, "tenant", c.tenant)
	}
	hooks := &httpcore.Hooks{
		Log: k.log, LogPrefix: "classic: ", LogAttrs: attrs,
		Wait: func(ctx context.Context, _ int) (time.Duration, func(*central.Response), error) {
			if err := k.dailyBlocked(p, c.tenant); err != nil {
				return 0, nil, err
			}
			w, err := k.wait(ctx)
			return w, func(r *central.Response) { k.observe(r.Header) }, err
		},
		Token:         k.tm.token,
		Authorization: func(tok *oauth2.Token) string { return "Bearer " + tok.AccessToken },
		Secrets: func(tok *oauth2.Token, sent *httpcore.Secrets) {
			sent.Add(tok.AccessToken)
			sent.Merge(k.tm.secrets())
		},
		Unauthorized: func(ctx context.Context, resp *central.Response, tok *oauth2.Token) (bool, error) {
			if !bytes.Contains(resp.Raw, []byte("invalid_token")) {
				return false, nil
			}
			k.log.Info("classic: access token rejected (401 invalid_token); renewing and retrying once", attrs...)
			if _, err := k.tm.renew(ctx, tok); err != nil {
				return false, fmt.Errorf("classic: %s %s: 401 invalid_token and the token could not be renewed: %w", p.Method, p.Path, err)
			}
			return true, nil
		},
		RateLimited: func(resp *central.Response, retries int) (time.Duration, error) {
			return k.rateLimited(p, c.tenant, resp, retries)
		},
		Pause:  func(d time.Duration) { k.pause(k.now().Add(d)) },
		Decode: func(r *central.Response) error { return httpcore.DecodeJSON(r, fill) },
	}
	pol := k.retry
	core := httpcore.Client{HTTP: k.hc, MaxBody: k.maxBody}
	resp, sent, err := core.Do(ctx, p, httpcore.Policy{MaxAttempts: pol.MaxAttempts, MaxWait: pol.MaxWait, MinDelay: pol.BaseDelay, MaxDelay: pol.MaxDelay,
		Sleep: pol.Sleep, Quota: pol.Quota, Backoff: httpcore.JitterBackoff(pol.Rand)}, hooks)
	if resp != nil && resp.Body == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		_ = httpcore.DecodeJSON(resp, true) // best effort for error bodies
		resp.Body = sent.ScrubAny(resp.Body)
	}
	return resp, sent, err
}

// rateLimited handles a 429: the per-day quota ends the call with a
// *DailyQuotaError (and blocks later calls until midnight UTC); the
// per-second limit (or a 429 without headers) waits PerSecondWait plus
// backoff, or Retry-After.
func (k *core) rateLimited(p *httpcore.Prepared, tenant string, resp *central.Response, retries int) (time.Duration, error) {
	h := resp.Header
	if h.Get(HeaderRemainingDay) == "0" {
		lim, _ := strconv.Atoi(strings.TrimSpace(h.Get(HeaderLimitDay)))
		reset := nextUTCMidnight(k.now())
		k.blockDaily(reset, lim)
		k.log.Error("classic: per-day rate limit exhausted", "method", p.Method, "path", p.Path, "limit", lim, "reset", reset)
		return 0, &DailyQuotaError{Method: p.Method, Path: p.Path, Tenant: tenant, Limit: lim, Reset: reset}
	}
	if ra, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && ra > 0 {
		return time.Duration(ra) * time.Second, nil
	}
	return k.psWait + k.retry.Backoff(retries), nil
}

// wait blocks until the pause (after a per-second 429) is over and the
// limiter admits one request. It returns the time waited.
func (k *core) wait(ctx context.Context) (time.Duration, error) {
	var waited time.Duration
	for {
		if err := ctx.Err(); err != nil {
			return waited, err
		}
		k.mu.Lock()
		t := k.now()
		if k.pausedUntil.After(t) {
			d := k.pausedUntil.Sub(t)
			k.mu.Unlock()
			if err := k.retry.Sleep(ctx, d); err != nil {
				return waited, err
			}
			waited += d
			continue
		}
		r := k.lim.ReserveN(t, 1)
		k.mu.Unlock()
		if !r.OK() {
			return waited, errors.New("classic: the rate limiter admits no request (burst 0)")
		}
		d := r.DelayFrom(t)
		if d <= 0 {
			return waited, nil
		}
		if err := k.retry.Sleep(ctx, d); err != nil {
			r.CancelAt(k.now())
			return waited, err
		}
		return waited + d, nil
	}
}

func (k *core) pause(until time.Time) {
	k.mu.Lock()
	if until.After(k.pausedUntil) {
		k.pausedUntil = until
	}
	k.mu.Unlock()
}

func (k *core) blockDaily(reset time.Time, limit int) {
	k.mu.Lock()
	if reset.After(k.dailyReset) {
		k.dailyReset = reset
	}
	k.dailyLimit = limit
	k.mu.Unlock()
}

// dailyBlocked fails fast while the daily quota is known to be spent.
func (k *core) dailyBlocked(p *httpcore.Prepared, tenant string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dailyReset.IsZero() || !k.now().Before(k.dailyReset) {
		return nil
	}
	return &DailyQuotaError{Method: p.Method, Path: p.Path, Tenant: tenant, Limit: k.dailyLimit, Reset: k.dailyReset}
}

// observe records the rate-limit headers; absent headers are fine.
func (k *core) observe(h http.Header) {
	num := func(name string) (int, bool) {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			return -1, false
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return -1, false
		}
		return n, true
	}
	ld, ok1 := num(HeaderLimitDay)
	rd, ok2 := num(HeaderRemainingDay)
	ls, ok3 := num(HeaderLimitSecond)
	rs, ok4 := num(HeaderRemainingSecond)
	if !ok1 && !ok2 && !ok3 && !ok4 {
		return
	}
	k.mu.Lock()
	k.limits = RateLimitStatus{LimitDay: ld, RemainingDay: rd, LimitSecond: ls, RemainingSecond: rs, At: k.now()}
	k.mu.Unlock()
}

// newAPIError builds a central.APIError from a Classic error body
// ({"error","error_description"}, {"message"}, {"description"} ...).
func newAPIError(method, path string, r *central.Response, sent *httpcore.Secrets) *central.APIError {
	r.Raw = sent.ScrubBytes(r.Raw)
	sent.ScrubHeader(r.Header)
	r.Body = sent.ScrubAny(r.Body)
	e := &central.APIError{Method: method, Path: path, StatusCode: r.StatusCode, Response: r}
	defer func() {
		e.ErrorCode, e.Message, e.DebugID = sent.Scrub(e.ErrorCode), sent.Scrub(e.Message), sent.Scrub(e.DebugID)
	}()
	var m map[string]any
	if json.Unmarshal(r.Raw, &m) != nil {
		if s := strings.TrimSpace(string(r.Raw)); s != "" && len(s) <= 512 && !strings.ContainsAny(s, "<{") {
			e.Message = s
		}
		return e
	}
	str := func(keys ...string) string {
		for _, key := range keys {
			if s, ok := m[key].(string); ok && s != "" {
				return s
			}
		}
		return ""
	}
	e.ErrorCode = str("error", "error_code", "errorCode", "code")
	e.Message = str("error_description", "description", "message", "detail", "msg")
	e.DebugID = str("debugId", "debug_id", "request_id")
	return e
}
