package central

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// Options configures a Client. Unset fields take defaults.
type Options struct {
	// HTTPClient sends API and token requests (default: a client with its own
	// pooled transport and a 60s timeout).
	HTTPClient *http.Client
	// Logger receives structured logs; tokens and secrets are never logged
	// (default slog.Default()).
	Logger *slog.Logger
	// TokenSource overrides the credential-derived token source for every app
	// (pkg/msp uses it for tenants). If it implements Invalidator, a 401
	// invalidates the rejected token before the one retry.
	TokenSource TokenSource
	// Account is the bucket key of ScopeAccount budgets (default: the unified
	// workspace_id, else the client_id).
	Account string
	// Workspace is the bucket key of ScopeWorkspace budgets (default as Account).
	Workspace string
	// Budgets is the limiter registry; share one *Budgets between clients to
	// share budgets. nil = DefaultBudgets() private to this client.
	Budgets *Budgets
	// Retry shapes retries (zero value = defaults).
	Retry RetryPolicy
	// Now is the clock for token expiry and rate-limit headers (default time.Now).
	Now func() time.Time
	// MaxPages is the pagination guard (default 10000).
	MaxPages int
	// MaxResponseBytes caps the body read from one response (default
	// DefaultMaxResponseBytes); a larger body fails the call with
	// ErrResponseTooLarge, without retry, instead of exhausting memory.
	MaxResponseBytes int64
	// TokenEarlyExpiry renews tokens this long before they expire (default 60s).
	TokenEarlyExpiry time.Duration
}

// Client calls GLP and New Central. It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	ownHC     bool
	log       *slog.Logger
	routes    map[App]*route
	budgets   *Budgets
	account   string
	workspace string
	retry     RetryPolicy
	now       func() time.Time
	maxPages  int
	maxBody   int64
}

// DefaultMaxResponseBytes is the default Options.MaxResponseBytes: far above
// any list page (1,000 New Central devices are about 1 MB).
const DefaultMaxResponseBytes = 64 << 20

// route is where one app's calls go and where their token comes from.
type route struct {
	app      App
	scheme   string
	host     string
	basePath string // path prefix of the base URL, kept (PyCentral drops it)
	baseURL  string
	src      TokenSource
	tokenFor App // credential block, for messages
}

// New builds a Client from validated credentials. No network I/O happens
// here: tokens are fetched on first use.
func New(creds *Credentials, optFns ...func(*Options)) (*Client, error) {
	var o Options
	for _, fn := range optFns {
		if fn != nil {
			fn(&o)
		}
	}
	c := &Client{hc: o.HTTPClient, log: o.Logger, budgets: o.Budgets, retry: o.Retry.withDefaults(), now: o.Now, maxPages: o.MaxPages,
		maxBody: o.MaxResponseBytes, routes: map[App]*route{}}
	if c.retry.Quota == nil {
		c.retry.Quota = NewRetryQuota(DefaultRetryQuota)
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		c.hc = &http.Client{Transport: tr, Timeout: 60 * time.Second}
		c.ownHC = true
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.budgets == nil {
		c.budgets = DefaultBudgets()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.maxPages <= 0 {
		c.maxPages = 10000
	}
	if err := creds.validate(c.log, o.TokenSource != nil); err != nil {
		return nil, err
	}
	cache := func(app App, tokenURL, id, secret, access string) TokenSource {
		var initial *oauth2.Token
		if access != "" {
			initial = staticToken(access)
		}
		fetch := func(ctx context.Context) (*oauth2.Token, error) {
			if id == "" || secret == "" {
				return nil, fmt.Errorf("central: %s: %w", app, ErrTokenExpired)
			}
			// Transport errors, 429 and 5xx of the token endpoint are retried
			// (the grant has no side effects); OAuth errors are final.
			for attempt := 1; ; attempt++ {
				c.log.Info("requesting access token", "app", string(app), "token_url", tokenURL, "attempt", attempt)
				t, err := tokenRequest(ctx, c.hc, app, tokenURL, url.Values{"grant_type": {"client_credentials"}}, id, secret, c.now)
				if err == nil {
					return t, nil
				}
				c.log.Warn("access token request failed", "app", string(app), "error", err)
				var le *LoginError
				transient := errors.As(err, &le) && le.ErrorCode == "" &&
					(le.StatusCode == 0 || le.StatusCode == http.StatusTooManyRequests || retryableStatus(le.StatusCode))
				if !transient || attempt >= min(c.retry.MaxAttempts, 3) || ctx.Err() != nil {
					return nil, err
				}
				if serr := c.retry.Sleep(ctx, c.retry.Backoff(attempt-1)); serr != nil {
					return nil, err
				}
			}
		}
		return NewCachedSource(fetch, CacheOptions{EarlyExpiry: o.TokenEarlyExpiry, Now: c.now, Initial: initial})
	}
	add := func(app, block App, base string, src TokenSource) error {
		if o.TokenSource != nil {
			src = o.TokenSource
		}
		u, err := url.Parse(base)
		if err != nil || u.Host == "" {
			return &CredentialsError{Source: orValue(creds.Source), Block: string(block), Field: "base_url", Reason: "invalid base URL"}
		}
		c.routes[app] = &route{app: app, scheme: u.Scheme, host: u.Host, basePath: strings.TrimRight(u.EscapedPath(), "/"), baseURL: base, src: src, tokenFor: block}
		return nil
	}
	defKey := ""
	if u := creds.Unified; u != nil {
		src := cache(AppUnified, u.TokenURL(), u.ClientID, u.ClientSecret, u.AccessToken)
		if err := add(AppGLP, AppUnified, u.GLPURL(), src); err != nil {
			return nil, err
		}
		if cu := u.CentralURL(); cu != "" {
			if err := add(AppCentral, AppUnified, cu, src); err != nil {
				return nil, err
			}
		} else {
			c.log.Info("no New Central base_url or cluster_name given: only GLP calls are supported")
		}
		defKey = strings.ReplaceAll(u.WorkspaceID, "-", "")
	} else {
		for _, p := range []struct {
			app App
			a   *AppCreds
		}{{AppCentral, creds.NewCentral}, {AppGLP, creds.GLP}} {
			if p.a == nil {
				continue
			}
			if err := add(p.app, p.app, p.a.URL(p.app), cache(p.app, p.a.TokenURL(), p.a.ClientID, p.a.ClientSecret, p.a.AccessToken)); err != nil {
				return nil, err
			}
			if defKey == "" {
				defKey = p.a.ClientID
			}
		}
	}
	if defKey == "" {
		defKey = "default"
	}
	c.account, c.workspace = o.Account, o.Workspace
	if c.account == "" {
		c.account = defKey
	}
	if c.workspace == "" {
		c.workspace = defKey
	}
	return c, nil
}

// HasApp reports whether the client can call app.
func (c *Client) HasApp(app App) bool {
	_, ok := c.routes[app]
	return ok
}

// BaseURL returns the base URL used for app ("" if not configured).
func (c *Client) BaseURL(app App) string {
	if r, ok := c.routes[app]; ok {
		return r.baseURL
	}
	return ""
}

// Token returns the current access token of app, fetching it if needed
// (pkg/msp uses the MSP token as the subject of a token exchange).
func (c *Client) Token(ctx context.Context, app App) (*oauth2.Token, error) {
	r, ok := c.routes[app]
	if !ok {
		return nil, c.notConfigured(app)
	}
	return r.src.Token(ctx)
}

// InvalidateToken drops tok from app's token cache if it is still cached
// (compare-and-invalidate), so the next call fetches a new one.
func (c *Client) InvalidateToken(app App, tok *oauth2.Token) {
	if r, ok := c.routes[app]; ok {
		if inv, ok := r.src.(Invalidator); ok {
			inv.Invalidate(tok)
		}
	}
}

// HTTPClient returns the HTTP client the Client uses.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// Budgets returns the limiter registry, to share it with other clients.
func (c *Client) Budgets() *Budgets { return c.budgets }

// RetryPolicy returns the client's retry policy with its defaults filled in;
// its Quota is the retry quota the client draws on.
func (c *Client) RetryPolicy() RetryPolicy { return c.retry }

// Logger returns the client's logger.
func (c *Client) Logger() *slog.Logger { return c.log }

// Close releases idle connections of a client-owned transport. The Client
// stays usable, as PyCentral's does after close().
func (c *Client) Close() error {
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
	return nil
}

func (c *Client) notConfigured(app App) error {
	return fmt.Errorf("%w: Missing configuration for '%s'. Please provide access token or client credentials to generate an access token for app - %s", ErrAppNotConfigured, app, app)
}

// Request is one API call.
type Request struct {
	Method string // GET, POST, PUT, PATCH, DELETE ("" = GET)
	Path   string // relative to the app's base URL, e.g. "network-monitoring/v1/aps"
	App    App    // "" = AppCentral (PyCentral's default)
	// Params are query parameters: nil values are dropped; slices repeat the
	// key; other values are formatted with fmt.
	Params map[string]any
	// Body is sent as JSON, unless it is []byte, string or io.Reader (sent
	// as is).
	Body any
	// Header adds or replaces headers (Authorization cannot be set).
	Header http.Header
}

// Response is an HTTP answer.
type Response struct {
	StatusCode int
	Header     http.Header
	// Body is the decoded JSON body (map[string]any, []any, ...) or nil when
	// the body is empty or not JSON. Do leaves it nil and decodes into out.
	Body any
	// Raw is the body as received.
	Raw []byte
	// Attempts is how many times the request was sent to produce this
	// answer (retries included; the one repeat after a token renewal is not
	// counted, as it is not counted against RetryPolicy.MaxAttempts).
	Attempts int
}

// Command sends a request PyCentral-style: any HTTP status is returned as a
// Response with a nil error, after retries (429, and for idempotent methods
// 5xx) and at most one token renewal on 401. An error means no usable answer:
// bad request, login failure, transport failure or malformed 2xx body after
// retries (*ResponseError), or the context ended.
func (c *Client) Command(ctx context.Context, req Request) (*Response, error) {
	resp, err := c.do(ctx, req, decodeAny)
	if resp != nil && resp.Body == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		_ = decodeAny(resp, resp.Header.Get("Content-Type")) // best effort for error bodies
	}
	return resp, err
}

// Do sends a request and decodes a 2xx JSON body into out (if out is not
// nil). A non-2xx answer becomes *APIError (errors.Is(err, ErrUnauthorized)
// for 401), a 429 that outlasted the retries *RateLimitError. The Response is
// returned whenever one arrived.
func (c *Client) Do(ctx context.Context, req Request, out any) (*Response, error) {
	resp, err := c.do(ctx, req, func(r *Response, ct string) error {
		if out == nil || len(bytes.TrimSpace(r.Raw)) == 0 {
			return nil
		}
		if rd, ok := out.(rawDecoder); ok {
			return rd.decodeRaw(r.Raw)
		}
		return json.Unmarshal(r.Raw, out)
	})
	if err != nil {
		return resp, err
	}
	return resp, c.check(req, resp)
}

func (c *Client) check(req Request, resp *Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	e := newAPIError(methodOf(req), cleanPath(req.Path), resp)
	if resp.StatusCode == http.StatusTooManyRequests {
		app := req.App
		if app == "" {
			app = AppCentral
		}
		hint, _ := retryAfterHint(resp.Header, c.now())
		bk := c.budgets.bucketFor(app, methodOf(req), cleanPath(req.Path), c.account, c.workspace)
		return &RateLimitError{Budget: bk.name, RetryAfter: hint, Attempts: resp.Attempts, Err: e}
	}
	return e
}

func methodOf(req Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(req.Method)
}

func cleanPath(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return "/" + strings.TrimLeft(p, "/")
}

// decodeAny decodes JSON bodies into Response.Body. A body declared JSON (or
// undeclared and looking like JSON) that does not parse is an error.
func decodeAny(r *Response, ct string) error {
	raw := bytes.TrimSpace(r.Raw)
	if len(raw) == 0 {
		return nil
	}
	if !looksJSON(ct, raw) {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	r.Body = v
	return nil
}

func looksJSON(ct string, raw []byte) bool {
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err == nil {
			return mt == "application/json" || strings.HasSuffix(mt, "+json")
		}
	}
	return raw[0] == '{' || raw[0] == '['
}

var supportedMethods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

// CallStats counts what calls cost. Attach it to a context with
// WithCallStats; every call made with that context adds to it.
type CallStats struct {
	Requests     atomic.Int64 // HTTP attempts sent
	Retries      atomic.Int64 // attempts re-sent after 429, 5xx, transport or body errors
	RateLimited  atomic.Int64 // 429 answers
	Unauthorized atomic.Int64 // 401 answers
	Wait         atomic.Int64 // nanoseconds spent waiting (budgets, backoff)
}

type statsKey struct{}

// WithCallStats returns a context whose calls are counted in s.
func WithCallStats(ctx context.Context, s *CallStats) context.Context {
	return context.WithValue(ctx, statsKey{}, s)
}

// CallStatsFrom returns the CallStats attached to ctx, or nil.
func CallStatsFrom(ctx context.Context) *CallStats {
	s, _ := ctx.Value(statsKey{}).(*CallStats)
	return s
}

type statField int

const (
	statRequests statField = iota
	statRetries
	statRateLimited
	statUnauthorized
	statWait
)

func (s *CallStats) add(f statField, n int64) {
	if s == nil {
		return
	}
	switch f {
	case statRequests:
		s.Requests.Add(n)
	case statRetries:
		s.Retries.Add(n)
	case statRateLimited:
		s.RateLimited.Add(n)
	case statUnauthorized:
		s.Unauthorized.Add(n)
	case statWait:
		s.Wait.Add(n)
	}
}

// prepared is a request ready to be sent (possibly several times).
type prepared struct {
	method, path, url string
	app               App
	body              []byte
	hasBody           bool
	header            http.Header
}

func (c *Client) prepare(req Request) (*prepared, *route, error) {
	method := methodOf(req)
	if !supportedMethods[method] {
		return nil, nil, fmt.Errorf("central: HTTP method '%s' not supported. Please provide an API with one of the supported methods - POST, PATCH, DELETE, GET, PUT", req.Method)
	}
	app := req.App
	if app == "" {
		app = AppCentral
	}
	rt, ok := c.routes[app]
	if !ok {
		return nil, nil, c.notConfigured(app)
	}
	p := &prepared{method: method, app: app, path: cleanPath(req.Path)}
	u, err := rt.buildURL(req.Path, req.Params)
	if err != nil {
		return nil, nil, err
	}
	p.url = u
	p.header = make(http.Header, 3+len(req.Header))
	p.header["Accept"] = []string{"application/json"}
	if req.Body != nil {
		p.hasBody = true
		if p.body, err = EncodeBody(req.Body); err != nil {
			return nil, nil, err
		}
		p.header["Content-Type"] = []string{"application/json"} // PyCentral's default; Header may override
	}
	for k, v := range req.Header {
		if strings.EqualFold(k, "Authorization") {
			continue
		}
		p.header[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	return p, rt, nil
}

// EncodeBody returns the bytes sent for a [Request.Body]: []byte and string as
// they are, an io.Reader read to the end, anything else encoded as JSON.
func EncodeBody(body any) ([]byte, error) {
	switch b := body.(type) {
	case []byte:
		return b, nil
	case string:
		return []byte(b), nil
	case io.Reader:
		data, err := io.ReadAll(b)
		if err != nil {
			return nil, fmt.Errorf("central: reading request body: %w", err)
		}
		return data, nil
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("central: encoding request body: %w", err)
		}
		return data, nil
	}
}

// buildURL joins the base URL (keeping its path prefix), the request path and
// the query parameters.
func (r *route) buildURL(path string, params map[string]any) (string, error) {
	rawQuery := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, rawQuery = path[:i], path[i+1:]
	}
	if strings.Contains(path, "://") {
		return "", fmt.Errorf("central: path %q: give a path relative to the app's base URL, not a URL", path)
	}
	path = strings.TrimLeft(path, "/")
	for _, seg := range strings.Split(path, "/") {
		if seg == ".." || seg == "." {
			return "", fmt.Errorf("central: path %q: '.' and '..' segments are not allowed", path)
		}
	}
	var b strings.Builder
	b.Grow(len(r.scheme) + len(r.host) + len(r.basePath) + len(path) + 32)
	b.WriteString(r.scheme)
	b.WriteString("://")
	b.WriteString(r.host)
	b.WriteString(r.basePath)
	b.WriteByte('/')
	b.WriteString((&url.URL{Path: path}).EscapedPath())
	q, err := encodeParams(rawQuery, params)
	if err != nil {
		return "", err
	}
	if q != "" {
		b.WriteByte('?')
		b.WriteString(q)
	}
	return b.String(), nil
}

func encodeParams(rawQuery string, params map[string]any) (string, error) {
	if len(params) == 0 {
		return rawQuery, nil
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("central: bad query in path: %w", err)
	}
	AddParams(vals, params)
	return vals.Encode(), nil
}

// AddParams adds params to vals the way [Request.Params] are sent: nil values
// (and nil pointers, slices and maps) are dropped, like PyCentral drops None,
// and slices and arrays repeat the key (id=a&id=b).
func AddParams(vals url.Values, params map[string]any) {
	for k, v := range params {
		addParam(vals, k, v)
	}
}

func addParam(vals url.Values, k string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		vals.Add(k, x)
		return
	case []string:
		for _, s := range x {
			vals.Add(k, s)
		}
		return
	case int:
		vals.Add(k, strconv.Itoa(x))
		return
	case bool:
		vals.Add(k, strconv.FormatBool(x))
		return
	case fmt.Stringer:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return
		}
		vals.Add(k, x.String())
		return
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return
		}
		addParam(vals, k, rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return
		}
		for i := 0; i < rv.Len(); i++ {
			addParam(vals, k, rv.Index(i).Interface())
		}
	case reflect.Map:
		if rv.IsNil() {
			return
		}
		vals.Add(k, fmt.Sprint(v))
	default:
		vals.Add(k, fmt.Sprint(v))
	}
}

// do runs the retry loop. decode runs on 2xx bodies; its error marks the
// body as malformed.
func (c *Client) do(ctx context.Context, req Request, decode func(*Response, string) error) (*Response, error) {
	p, rt, err := c.prepare(req)
	if err != nil {
		return nil, err
	}
	stats := CallStatsFrom(ctx)
	pol := c.retry
	bk := c.budgets.bucketFor(p.app, p.method, p.path, c.account, c.workspace)
	idem := idempotent(p.method)
	var (
		attempts  int
		retries   int
		renewed   bool
		totalWait time.Duration
		last      *Response
	)
	// backoff waits before a retry; false means the retry budget or the
	// shared retry quota is spent.
	quotaTaken := 0
	backoff := func(reason string, d time.Duration, cost int) (bool, error) {
		if attempts >= pol.MaxAttempts || totalWait+d > pol.MaxWait || exceedsDeadline(ctx, d) {
			return false, nil
		}
		if !pol.Quota.take(cost) {
			c.log.Warn("retry quota exhausted; not retrying", "method", p.method, "app", string(p.app), "path", p.path, "reason", reason, "attempt", attempts)
			return false, nil
		}
		quotaTaken += cost
		c.log.Warn("retrying request", "method", p.method, "app", string(p.app), "path", p.path, "reason", reason, "attempt", attempts, "wait", d)
		stats.add(statRetries, 1)
		retries++
		if d > 0 {
			if err := pol.Sleep(ctx, d); err != nil {
				return false, err
			}
			totalWait += d
			stats.add(statWait, int64(d))
		}
		return true, nil
	}
	for {
		w, seq, err := bk.wait(ctx, c.now, pol.Sleep)
		totalWait += w
		stats.add(statWait, int64(w))
		if err != nil {
			var rle *RateLimitError
			if errors.As(err, &rle) {
				rle.Attempts = attempts
			}
			return last, err
		}
		tok, err := rt.src.Token(ctx)
		if err != nil {
			if renewed && last != nil {
				return last, fmt.Errorf("central: %s %s: 401 Unauthorized and the token could not be renewed: %w", p.method, p.path, err)
			}
			return nil, err
		}
		attempts++
		stats.add(statRequests, 1)
		start := time.Now()
		resp, ct, err := c.send(ctx, p, tok)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			reason := "transport error"
			status := 0
			if resp != nil {
				reason, status = "response body cut short", resp.StatusCode
			}
			if errors.Is(err, ErrResponseTooLarge) {
				return nil, &ResponseError{Method: p.method, Path: p.path, StatusCode: status, Reason: "response body too large", Attempts: attempts, Err: err}
			}
			c.log.Warn("request failed", "method", p.method, "app", string(p.app), "path", p.path, "attempt", attempts, "error", err)
			cost := RetryCost
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				cost = RetryTimeoutCost
			}
			if idem {
				ok, werr := backoff(reason, pol.Backoff(retries), cost)
				if werr != nil {
					return nil, werr
				}
				if ok {
					continue
				}
			}
			return nil, &ResponseError{Method: p.method, Path: p.path, StatusCode: status, Reason: reason, Attempts: attempts, Err: err}
		}
		last = resp
		resp.Attempts = attempts
		c.log.Debug("api call", "method", p.method, "app", string(p.app), "path", p.path, "status", resp.StatusCode, "attempt", attempts, "duration", time.Since(start))
		c.budgets.observe(bk, c.workspace, resp.Header, c.now(), seq, c.log)
		switch code := resp.StatusCode; {
		case code == http.StatusUnauthorized:
			stats.add(statUnauthorized, 1)
			if renewed {
				c.log.Error("request still unauthorized after token renewal", "method", p.method, "app", string(p.app), "path", p.path)
				return resp, nil
			}
			renewed = true
			inv, ok := rt.src.(Invalidator)
			if !ok {
				return resp, nil
			}
			c.log.Info("access token rejected (401); renewing and retrying once", "app", string(p.app), "path", p.path)
			inv.Invalidate(tok)
			attempts-- // the renewal retry does not count against MaxAttempts
			continue
		case code == http.StatusTooManyRequests:
			stats.add(statRateLimited, 1)
			d, hinted := retryAfterHint(resp.Header, c.now())
			if !hinted {
				d = pol.Backoff(retries)
			}
			if attempts >= pol.MaxAttempts || totalWait+d > pol.MaxWait || exceedsDeadline(ctx, d) {
				c.log.Warn("rate limited; giving up", "method", p.method, "app", string(p.app), "path", p.path, "budget", bk.name, "attempt", attempts, "retry_after", d)
				return resp, nil
			}
			// Every request sharing the budget waits, not only this one.
			bk.pause(c.now().Add(d))
			c.log.Warn("rate limited; pausing budget", "method", p.method, "app", string(p.app), "path", p.path, "budget", bk.name, "attempt", attempts, "retry_after", d)
			stats.add(statRetries, 1)
			retries++
			continue
		case retryableStatus(code):
			if idem {
				d := pol.Backoff(retries)
				if ra, ok := parseReset(resp.Header.Get("Retry-After"), c.now()); ok && code == http.StatusServiceUnavailable {
					d = max(ra.Sub(c.now()), 0)
				}
				ok, werr := backoff(fmt.Sprintf("status %d", code), d, RetryCost)
				if werr != nil {
					return resp, werr
				}
				if ok {
					continue
				}
			}
			return resp, nil
		case code >= 200 && code <= 299:
			if derr := decode(resp, ct); derr != nil {
				if idem {
					ok, werr := backoff("malformed body", pol.Backoff(retries), RetryCost)
					if werr != nil {
						return resp, werr
					}
					if ok {
						continue
					}
				}
				return resp, &ResponseError{Method: p.method, Path: p.path, StatusCode: code, Reason: "malformed JSON body", Attempts: attempts, Err: derr}
			}
			// A success gives back what its retries took, or adds one.
			pol.Quota.release(max(quotaTaken, 1))
			return resp, nil
		default:
			return resp, nil
		}
	}
}

// send makes one HTTP attempt and reads the whole body. On a read error the
// returned Response is non-nil (status known) along with the error.
func (c *Client) send(ctx context.Context, p *prepared, tok *oauth2.Token) (*Response, string, error) {
	var body io.Reader
	if p.hasBody {
		body = bytes.NewReader(p.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, p.method, p.url, body)
	if err != nil {
		return nil, "", fmt.Errorf("building request: %w", err)
	}
	for k, v := range p.header {
		hreq.Header[k] = v
	}
	typ := tok.Type()
	hreq.Header["Authorization"] = []string{typ + " " + tok.AccessToken}
	hresp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, "", sanitizeTransportErr(err)
	}
	defer hresp.Body.Close()
	raw, err := ReadBody(hresp.Body, c.maxBody)
	r := &Response{StatusCode: hresp.StatusCode, Header: hresp.Header, Raw: raw}
	if errors.Is(err, ErrResponseTooLarge) {
		return r, "", err
	}
	if err != nil {
		return r, "", sanitizeTransportErr(err)
	}
	return r, hresp.Header.Get("Content-Type"), nil
}

// ReadBody reads a response body of at most limit bytes; a longer one is an
// error matching ErrResponseTooLarge (and no bytes are returned).
func ReadBody(body io.Reader, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return raw, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes (Options.MaxResponseBytes)", ErrResponseTooLarge, limit)
	}
	return raw, nil
}
