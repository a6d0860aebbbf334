package central

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/centralmsp/centralmsp/internal/httpcore"
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
	policy    httpcore.Policy // retry for the shared loop, from retry
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
	base     string // scheme://host + basePath
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
	c := newClient(&o)
	if err := creds.validate(c.log, o.TokenSource != nil); err != nil {
		return nil, err
	}
	cache := func(app App, tokenURL, id, secret, access string) TokenSource {
		return c.tokenCache(o.TokenEarlyExpiry, app, tokenURL, id, secret, access)
	}
	add := func(app, block App, base string, src TokenSource) error {
		if o.TokenSource != nil {
			src = o.TokenSource
		}
		u, err := url.Parse(base)
		if err != nil || u.Host == "" {
			return &CredentialsError{Source: orValue(creds.Source), Block: string(block), Field: "base_url", Reason: "invalid base URL"}
		}
		bp := strings.TrimRight(u.EscapedPath(), "/")
		c.routes[app] = &route{app: app, scheme: u.Scheme, host: u.Host, basePath: bp, base: u.Scheme + "://" + u.Host + bp, baseURL: base, src: src, tokenFor: block}
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

// newClient fills a Client's defaults from o (no routes yet).
func newClient(o *Options) *Client {
	c := &Client{hc: o.HTTPClient, log: o.Logger, budgets: o.Budgets, retry: o.Retry.withDefaults(), now: o.Now, maxPages: o.MaxPages,
		maxBody: o.MaxResponseBytes, routes: map[App]*route{}}
	if c.retry.Quota == nil {
		c.retry.Quota = NewRetryQuota(DefaultRetryQuota)
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.hc == nil {
		tr := httpcore.NewTransport()
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
	c.policy = c.retry.corePolicy(c.now)
	return c
}

// tokenCache is the cached token source of one credential block: the
// configured access token first, then client credentials grants.
func (c *Client) tokenCache(early time.Duration, app App, tokenURL, id, secret, access string) TokenSource {
	var initial *oauth2.Token
	if access != "" {
		initial = staticToken(access)
	}
	fetch := func(ctx context.Context) (*oauth2.Token, error) {
		return c.fetchToken(ctx, app, tokenURL, id, secret)
	}
	return NewCachedSource(fetch, CacheOptions{EarlyExpiry: early, Now: c.now, Initial: initial})
}

// fetchToken runs the client credentials grant. Transport errors, 429 and
// 5xx of the token endpoint are retried (the grant has no side effects);
// OAuth errors are final.
func (c *Client) fetchToken(ctx context.Context, app App, tokenURL, id, secret string) (*oauth2.Token, error) {
	if id == "" || secret == "" {
		return nil, fmt.Errorf("central: %s: %w", app, ErrTokenExpired)
	}
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

	into *[]byte // Pages with PageSpec.Reuse: the page body's memory
}

// Response is an HTTP answer: StatusCode, Header, Body (the decoded JSON
// body, or nil when the body is empty or not JSON; Do leaves it nil and
// decodes into out), Raw (the body as received; in an error answer every
// secret sent with the request is replaced by [REDACTED]) and Attempts (how
// many times the request was sent to produce it, retries included; the one
// repeat after a token renewal is not counted).
type Response = httpcore.Response

// Command sends a request PyCentral-style: any HTTP status is returned as a
// Response with a nil error, after retries (429, and for idempotent methods
// 5xx) and at most one token renewal on 401. An error means no usable answer:
// bad request, login failure, transport failure or malformed 2xx body after
// retries (*ResponseError), or the context ended.
func (c *Client) Command(ctx context.Context, req Request) (*Response, error) {
	resp, sent, err := c.do(ctx, req, decodeAny)
	if resp != nil && resp.Body == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		_ = decodeAny(resp, resp.Header.Get("Content-Type")) // best effort for error bodies
		resp.Body = sent.ScrubAny(resp.Body)
	}
	return resp, err
}

// Do sends a request and decodes a 2xx JSON body into out (if out is not
// nil). A non-2xx answer becomes *APIError (errors.Is(err, ErrUnauthorized)
// for 401), a 429 that outlasted the retries *RateLimitError. The Response is
// returned whenever one arrived.
func (c *Client) Do(ctx context.Context, req Request, out any) (*Response, error) {
	resp, sent, err := c.do(ctx, req, func(r *Response, ct string) error {
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
	return resp, c.check(req, resp, sent)
}

func (c *Client) check(req Request, resp *Response, sent *httpcore.Secrets) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	e := newAPIError(methodOf(req), cleanPath(req.Path), resp, sent)
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

func methodOf(req Request) string { return httpcore.MethodOf(req.Method) }

func cleanPath(p string) string { return httpcore.CleanPath(p) }

// decodeAny decodes JSON bodies into Response.Body. A body declared JSON (or
// undeclared and looking like JSON) that does not parse is an error.
func decodeAny(r *Response, _ string) error { return httpcore.DecodeJSON(r, true) }

var supportedMethods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}

// CallStats counts what calls cost: Requests (HTTP attempts sent), Retries
// (attempts re-sent after 429, 5xx, transport or body errors), RateLimited
// (429 answers), Unauthorized (401 answers) and Wait (nanoseconds spent
// waiting for budgets and backoff). Attach it to a context with
// WithCallStats; every call made with that context adds to it.
type CallStats = httpcore.CallStats

// WithCallStats returns a context whose calls are counted in s.
func WithCallStats(ctx context.Context, s *CallStats) context.Context {
	return httpcore.WithCallStats(ctx, s)
}

// CallStatsFrom returns the CallStats attached to ctx, or nil.
func CallStatsFrom(ctx context.Context) *CallStats { return httpcore.CallStatsFrom(ctx) }

func (c *Client) prepare(req Request) (*httpcore.Prepared, *route, error) {
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
	p, err := httpcore.Prepare(httpcore.Target{Name: "central", RelativeTo: "the app's base URL"}, method, rt.base, req.Path, req.Params, req.Body, req.Header)
	if err != nil {
		return nil, nil, err
	}
	p.Path = cleanPath(req.Path)
	p.Into = req.into
	return p, rt, nil
}

// do sends req through the shared retry loop (internal/httpcore) with this
// client's token source, rate budgets and retry policy. decode runs on 2xx
// bodies; its error marks the body as malformed. It also returns the
// secrets sent, to scrub errors built from the answer.
func (c *Client) do(ctx context.Context, req Request, decode func(*Response, string) error) (*Response, *httpcore.Secrets, error) {
	p, rt, err := c.prepare(req)
	if err != nil {
		return nil, nil, err
	}
	app := rt.app
	bk := c.budgets.bucketFor(app, p.Method, p.Path, c.account, c.workspace)
	hooks := &httpcore.Hooks{
		Log:      c.log,
		LogAttrs: []any{"method", p.Method, "app", string(app), "path", p.Path, "budget", bk.name},
		Wait: func(ctx context.Context, attempts int) (time.Duration, func(*Response), error) {
			w, seq, err := bk.wait(ctx, c.now, c.retry.Sleep)
			if rle, ok := errors.AsType[*RateLimitError](err); ok {
				rle.Attempts = attempts
			}
			return w, func(r *Response) { c.budgets.observe(bk, c.workspace, r.Header, c.now(), seq, c.log) }, err
		},
		Token: rt.src.Token,
		RenewFailed: func(err error) error {
			return fmt.Errorf("central: %s %s: 401 Unauthorized and the token could not be renewed: %w", p.Method, p.Path, err)
		},
		Unauthorized: func(_ context.Context, _ *Response, tok *oauth2.Token) (bool, error) {
			inv, ok := rt.src.(Invalidator)
			if !ok {
				return false, nil
			}
			c.log.Info("access token rejected (401); renewing and retrying once", "app", string(app), "path", p.Path)
			inv.Invalidate(tok)
			return true, nil
		},
		RateLimited: func(resp *Response, retries int) (time.Duration, error) {
			if d, hinted := retryAfterHint(resp.Header, c.now()); hinted {
				return d, nil
			}
			return c.retry.Backoff(retries), nil
		},
		Pause:  func(d time.Duration) { bk.pause(c.now().Add(d)) },
		Decode: func(r *Response) error { return decode(r, r.Header.Get("Content-Type")) },
	}
	core := httpcore.Client{HTTP: c.hc, MaxBody: c.maxBody}
	return core.Do(ctx, p, c.policy, hooks)
}
