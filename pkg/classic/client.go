package classic

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

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
		tr := http.DefaultTransport.(*http.Transport).Clone()
		switch {
		case cfg.SSLVerify != nil && !*cfg.SSLVerify:
			k.log.Warn("classic: ssl_verify is false: TLS certificates are NOT verified", "base_url", base)
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
		k.hc = &http.Client{Transport: tr, Timeout: 60 * time.Second}
		k.ownHC = true
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

// prepared is a request ready to be sent, possibly several times.
type prepared struct {
	method, path, url string
	body              []byte
	hasBody           bool
	header            http.Header
}

var methods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

func (c *Client) prepare(req central.Request) (*prepared, error) {
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	if !methods[method] {
		return nil, fmt.Errorf("classic: HTTP method %q not supported; use GET, POST, PUT, PATCH or DELETE", req.Method)
	}
	if req.App != "" {
		return nil, fmt.Errorf("classic: Request.App %q: the Classic gateway has no apps; leave App empty", req.App)
	}
	path, rawQuery := req.Path, ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, rawQuery = path[:i], path[i+1:]
	}
	if strings.Contains(path, "://") {
		return nil, fmt.Errorf("classic: path %q: give a path relative to the gateway, not a URL", path)
	}
	path = strings.TrimLeft(path, "/")
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." {
			return nil, fmt.Errorf("classic: path %q: '.' and '..' segments are not allowed", path)
		}
	}
	p := &prepared{method: method, path: "/" + path}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("classic: bad query in path: %w", err)
	}
	central.AddParams(q, req.Params)
	p.url = c.core.base + (&url.URL{Path: "/" + path}).EscapedPath()
	if enc := q.Encode(); enc != "" {
		p.url += "?" + enc
	}
	p.header = http.Header{"Accept": {"application/json"}}
	if req.Body != nil {
		p.hasBody = true
		if p.body, err = central.EncodeBody(req.Body); err != nil {
			return nil, err
		}
		p.header.Set("Content-Type", "application/json")
	}
	for k, v := range req.Header {
		if strings.EqualFold(k, "Authorization") || (c.tenant != "" && strings.EqualFold(k, HeaderTenantID)) {
			continue
		}
		p.header[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	if c.tenant != "" {
		p.header[HeaderTenantID] = []string{c.tenant} // as spelt by the gateway docs
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
	return c.do(ctx, req, true)
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
	resp, err := c.do(ctx, req, fill)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		p := "/" + strings.TrimLeft(strings.SplitN(req.Path, "?", 2)[0], "/")
		ae := newAPIError(methodOf(req), p, resp)
		ae.ErrorCode, ae.Message = c.core.tm.scrub(ae.ErrorCode), c.core.tm.scrub(ae.Message)
		if resp.StatusCode == http.StatusTooManyRequests {
			return resp, &central.RateLimitError{Budget: "classic", Attempts: c.core.retry.MaxAttempts, Err: ae}
		}
		return resp, ae
	}
	if out != nil && len(bytes.TrimSpace(resp.Raw)) > 0 {
		if err := json.Unmarshal(resp.Raw, out); err != nil {
			return resp, &central.ResponseError{Method: methodOf(req), Path: req.Path, StatusCode: resp.StatusCode, Reason: "cannot decode JSON body", Err: err}
		}
	}
	return resp, nil
}

func methodOf(req central.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(req.Method)
}

func idempotent(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE":
		return true
	}
	return false
}

// do runs the retry loop. fill decodes JSON bodies into Response.Body;
// without it a 2xx JSON body is only checked for validity (the caller
// decodes it into its own type).
func (c *Client) do(ctx context.Context, req central.Request, fill bool) (*central.Response, error) {
	p, err := c.prepare(req)
	if err != nil {
		return nil, err
	}
	k := c.core
	pol := k.retry
	stats := central.CallStatsFrom(ctx)
	idem := idempotent(p.method)
	var (
		attempts, retries int
		renewed           bool
		totalWait         time.Duration
		last              *central.Response
	)
	log := k.log.With("method", p.method, "path", p.path)
	if c.tenant != "" {
		log = log.With("tenant", c.tenant)
	}
	// backoff waits d before a retry; false means the retry budget is spent.
	backoff := func(reason string, d time.Duration) (bool, error) {
		if attempts >= pol.MaxAttempts || totalWait+d > pol.MaxWait || exceedsDeadline(ctx, d) {
			return false, nil
		}
		log.Warn("classic: retrying request", "reason", reason, "attempt", attempts, "wait", d)
		retries++
		if stats != nil {
			stats.Retries.Add(1)
			stats.Wait.Add(int64(d))
		}
		totalWait += d
		return true, pol.Sleep(ctx, d)
	}
	for {
		if err := k.dailyBlocked(p, c.tenant); err != nil {
			return last, err
		}
		w, err := k.wait(ctx)
		totalWait += w
		if stats != nil {
			stats.Wait.Add(int64(w))
		}
		if err != nil {
			return last, err
		}
		tok, err := k.tm.token(ctx)
		if err != nil {
			return nil, err
		}
		attempts++
		if stats != nil {
			stats.Requests.Add(1)
		}
		resp, err := k.send(ctx, p, tok)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			reason, status := "transport error", 0
			if resp != nil {
				reason, status = "response body cut short", resp.StatusCode
			}
			if errors.Is(err, central.ErrResponseTooLarge) {
				return nil, &central.ResponseError{Method: p.method, Path: p.path, StatusCode: status, Reason: "response body too large", Attempts: attempts, Err: err}
			}
			if idem {
				ok, werr := backoff(reason, pol.Backoff(retries))
				if werr != nil {
					return nil, werr
				}
				if ok {
					continue
				}
			}
			return nil, &central.ResponseError{Method: p.method, Path: p.path, StatusCode: status, Reason: reason, Attempts: attempts, Err: err}
		}
		last = resp
		log.Debug("classic: api call", "status", resp.StatusCode, "attempt", attempts)
		k.observe(resp.Header)
		switch code := resp.StatusCode; {
		case code == http.StatusUnauthorized:
			if stats != nil {
				stats.Unauthorized.Add(1)
			}
			if renewed || !bytes.Contains(resp.Raw, []byte("invalid_token")) {
				return resp, nil
			}
			renewed = true
			log.Info("classic: access token rejected (401 invalid_token); renewing and retrying once")
			if _, err := k.tm.renew(ctx, tok); err != nil {
				return resp, fmt.Errorf("classic: %s %s: 401 invalid_token and the token could not be renewed: %w", p.method, p.path, err)
			}
			attempts-- // the renewal retry is free
			continue
		case code == http.StatusTooManyRequests:
			if stats != nil {
				stats.RateLimited.Add(1)
			}
			h := resp.Header
			if h.Get(HeaderRemainingDay) == "0" {
				lim, _ := strconv.Atoi(strings.TrimSpace(h.Get(HeaderLimitDay)))
				reset := nextUTCMidnight(k.now())
				k.blockDaily(reset, lim)
				e := &DailyQuotaError{Method: p.method, Path: p.path, Tenant: c.tenant, Limit: lim, Reset: reset}
				log.Error("classic: per-day rate limit exhausted", "limit", lim, "reset", reset)
				return resp, e
			}
			// Per-second limit (or a 429 without headers): pause every
			// request of this client, then retry.
			d := k.psWait + pol.Backoff(retries)
			if ra, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && ra > 0 {
				d = time.Duration(ra) * time.Second
			}
			if attempts >= pol.MaxAttempts || totalWait+d > pol.MaxWait || exceedsDeadline(ctx, d) {
				log.Warn("classic: rate limited; giving up", "attempt", attempts, "wait", d)
				return resp, nil
			}
			log.Warn("classic: rate limited (per second); pausing", "attempt", attempts, "wait", d)
			k.pause(k.now().Add(d))
			retries++
			if stats != nil {
				stats.Retries.Add(1)
			}
			continue
		case code >= 500 && code != 501 && code != 505:
			if idem {
				ok, werr := backoff(fmt.Sprintf("status %d", code), pol.Backoff(retries))
				if werr != nil {
					return resp, werr
				}
				if ok {
					continue
				}
			}
			return resp, nil
		default:
			if derr := decodeBody(resp, fill || code < 200 || code > 299); derr != nil && code >= 200 && code <= 299 {
				if idem {
					ok, werr := backoff("malformed JSON body", pol.Backoff(retries))
					if werr != nil {
						return resp, werr
					}
					if ok {
						continue
					}
				}
				return resp, &central.ResponseError{Method: p.method, Path: p.path, StatusCode: code, Reason: "malformed JSON body", Attempts: attempts, Err: derr}
			}
			return resp, nil
		}
	}
}

func exceedsDeadline(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < d
}

// decodeBody fills Body from a JSON Raw (or, without fill, only checks that
// it is valid JSON). Non-JSON bodies stay in Raw.
func decodeBody(r *central.Response, fill bool) error {
	raw := bytes.TrimSpace(r.Raw)
	if len(raw) == 0 {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	isJSON := raw[0] == '{' || raw[0] == '['
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			isJSON = mt == "application/json" || strings.HasSuffix(mt, "+json")
		}
	}
	if !isJSON {
		return nil
	}
	if !fill {
		if !json.Valid(raw) {
			return errors.New("invalid JSON")
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	r.Body = v
	return nil
}

// send makes one attempt and reads the whole body.
func (k *core) send(ctx context.Context, p *prepared, tok *oauth2.Token) (*central.Response, error) {
	var body io.Reader
	if p.hasBody {
		body = bytes.NewReader(p.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, p.method, p.url, body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	for key, v := range p.header {
		hreq.Header[key] = v
	}
	hreq.Header["Authorization"] = []string{"Bearer " + tok.AccessToken}
	hresp, err := k.hc.Do(hreq)
	if err != nil {
		return nil, sanitizeErr(err)
	}
	defer hresp.Body.Close()
	raw, err := central.ReadBody(hresp.Body, k.maxBody)
	r := &central.Response{StatusCode: hresp.StatusCode, Header: hresp.Header, Raw: raw}
	if errors.Is(err, central.ErrResponseTooLarge) {
		return r, err
	}
	if err != nil {
		return r, sanitizeErr(err)
	}
	return r, nil
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
func (k *core) dailyBlocked(p *prepared, tenant string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dailyReset.IsZero() || !k.now().Before(k.dailyReset) {
		return nil
	}
	return &DailyQuotaError{Method: p.method, Path: p.path, Tenant: tenant, Limit: k.dailyLimit, Reset: k.dailyReset}
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
func newAPIError(method, path string, r *central.Response) *central.APIError {
	e := &central.APIError{Method: method, Path: path, StatusCode: r.StatusCode, Response: r}
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
