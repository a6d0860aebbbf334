package msp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/centralmsp/centralmsp/internal/httpcore"
	"github.com/centralmsp/centralmsp/pkg/central"
)

// DefaultMinTokenValidity is how long a tenant token taken from a
// TenantTokenStore must still be valid when Options.MinTokenValidity is zero.
const DefaultMinTokenValidity = 2 * time.Minute

// Options configure an MSP. The zero value is usable.
type Options struct {
	// HTTPClient is shared by the MSP client, every tenant connection and the
	// token requests. Nil means a client with a 60-second timeout.
	HTTPClient *http.Client
	// Logger receives the MSP's logs; nil means slog.Default(). Tokens and
	// secrets are never logged.
	Logger *slog.Logger
	// Budgets are the rate-limit budgets shared by the MSP client and all
	// tenant connections. Nil means central.DefaultBudgets(), created once
	// for this MSP.
	Budgets *central.Budgets
	// Now is the clock used for token expiry; nil means time.Now.
	Now func() time.Time

	// ClientOptions are applied to the central.Options of the MSP client and
	// of every tenant client (retry policy, page guard...). The settings
	// above and the token source, account and workspace are applied after
	// them and win.
	ClientOptions []func(*central.Options)

	// TenantTokens, if set, is asked for a tenant token before exchanging
	// one (for example the Secrets Manager cache).
	TenantTokens TenantTokenStore
	// MinTokenValidity is how long a token from TenantTokens must still be
	// valid to be used (default DefaultMinTokenValidity).
	MinTokenValidity time.Duration

	// EarlyExpiry renews MSP and tenant tokens this long before they expire
	// (central.CacheOptions.EarlyExpiry; zero means pkg/central's default).
	EarlyExpiry time.Duration
	// TokenTimeout bounds one token request or exchange
	// (central.CacheOptions.FetchTimeout; zero means pkg/central's default).
	TokenTimeout time.Duration

	// MaxTenantPages caps the pages of the tenant list (default
	// DefaultMaxTenantPages): a list longer than that is a
	// *central.PaginationError, not an endless read.
	MaxTenantPages int
}

// MSP is an MSP-level client with a cache of tenant connections. It is safe
// for concurrent use. Close it when done: that closes every tenant
// connection and then the MSP client.
type MSP struct {
	creds       *central.Credentials // only the unified block
	unified     central.Unified
	glpBase     string
	opts        Options
	log         *slog.Logger
	hc          *http.Client
	ownHC       bool
	budgets     *central.Budgets
	retryQuota  *central.RetryQuota // shared by the MSP client and every tenant client
	minValidity time.Duration

	mspSource *central.CachedSource
	client    *central.Client
	counters

	dupTenants atomic.Int64 // repeated ids skipped by Tenants

	lookups singleflight.Group // tenant name -> id
	opening singleflight.Group // tenant id -> *TenantConn

	mu      sync.Mutex
	closed  bool
	names   map[string]string      // tenant name -> normalised id
	tenants map[string]*TenantConn // normalised id -> open connection
}

// New returns an MSP client for unified credentials. Credentials with only
// "glp" or "new_central" blocks are refused with *UnifiedRequiredError. When
// the unified block has no cluster_name or base_url, the MSP works in
// GLP-only mode: New Central calls, MSP-level or tenant, fail with an error
// matching central.ErrAppNotConfigured.
//
// New makes no network call; the MSP token is fetched on first use.
func New(creds *central.Credentials, optFns ...func(*Options)) (*MSP, error) {
	if creds == nil {
		return nil, errors.New("msp: nil credentials")
	}
	if creds.Unified == nil {
		var blocks []string
		if creds.GLP != nil {
			blocks = append(blocks, "glp")
		}
		if creds.NewCentral != nil {
			blocks = append(blocks, "new_central")
		}
		return nil, &UnifiedRequiredError{Source: creds.Source, Blocks: blocks}
	}
	var opts Options
	for _, fn := range optFns {
		fn(&opts)
	}
	m := &MSP{
		unified: *creds.Unified,
		opts:    opts,
		log:     opts.Logger,
		hc:      opts.HTTPClient,
		budgets: opts.Budgets,
		names:   make(map[string]string),
		tenants: make(map[string]*TenantConn),
	}
	m.creds = &central.Credentials{Unified: &m.unified, Source: creds.Source}
	// Strict validation: pkg/central relaxes it when a token source is
	// supplied, but the MSP's own token needs client credentials.
	if err := m.creds.Validate(); err != nil {
		return nil, fmt.Errorf("msp: %w", err)
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.hc == nil {
		tr := httpcore.NewTransport()
		m.hc = &http.Client{Transport: tr, Timeout: 60 * time.Second}
		m.ownHC = true
	}
	if m.budgets == nil {
		m.budgets = central.DefaultBudgets()
	}
	m.retryQuota = central.NewRetryQuota(central.DefaultRetryQuota)
	m.minValidity = opts.MinTokenValidity
	if m.minValidity <= 0 {
		m.minValidity = DefaultMinTokenValidity
	}
	m.glpBase = strings.TrimRight(m.unified.GLPURL(), "/")
	if creds.GLP != nil || creds.NewCentral != nil {
		m.log.Info("unified credentials present: standalone glp/new_central blocks are ignored in MSP mode")
	}
	mspCache := m.cacheOptions()
	if m.unified.AccessToken != "" {
		// The configured access_token is used until it expires or is
		// rejected, as PyCentral does; then client credentials take over.
		mspCache.Initial = &oauth2.Token{AccessToken: m.unified.AccessToken, TokenType: "Bearer"}
		if exp, ok := central.JWTExpiry(m.unified.AccessToken); ok {
			mspCache.Initial.Expiry = exp
		}
	}
	m.mspSource = central.NewCachedSource(m.fetchMSPToken, mspCache)
	client, err := central.New(m.creds, m.clientOptions(m.mspSource, m.unified.WorkspaceID))
	if err != nil {
		return nil, fmt.Errorf("msp: %w", err)
	}
	m.client = client
	return m, nil
}

// NewFromFile loads unified credentials from a YAML or JSON file (see
// central.LoadCredentials) and calls New.
func NewFromFile(path string, optFns ...func(*Options)) (*MSP, error) {
	creds, err := central.LoadCredentials(path)
	if err != nil {
		return nil, fmt.Errorf("msp: %w", err)
	}
	return New(creds, optFns...)
}

func (m *MSP) cacheOptions() central.CacheOptions {
	return central.CacheOptions{EarlyExpiry: m.opts.EarlyExpiry, Now: m.opts.Now, FetchTimeout: m.opts.TokenTimeout}
}

// clientOptions builds the central.Options of the MSP client or of a tenant
// client (workspace = tenant id). The MSP workspace id is the account.
func (m *MSP) clientOptions(src central.TokenSource, workspace string) func(*central.Options) {
	return func(o *central.Options) {
		for _, fn := range m.opts.ClientOptions {
			fn(o)
		}
		o.HTTPClient = m.hc
		o.Logger = m.log
		o.Budgets = m.budgets
		if o.Retry.Quota == nil {
			// One quota for the whole MSP: when the API fails for most
			// tenants, retries stop for all of them.
			o.Retry.Quota = m.retryQuota
		}
		if m.opts.Now != nil {
			o.Now = m.opts.Now
		}
		o.TokenSource = src
		o.Account = m.unified.WorkspaceID
		o.Workspace = workspace
	}
}

// fetchMSPToken gets an MSP token with client credentials at
// Unified.TokenURL (token_endpoint or the per-workspace GLP issuer).
func (m *MSP) fetchMSPToken(ctx context.Context) (*oauth2.Token, error) {
	if m.unified.ClientID == "" || m.unified.ClientSecret == "" {
		return nil, &central.LoginError{App: central.AppUnified, TokenURL: m.unified.TokenURL(), Err: central.ErrTokenExpired}
	}
	sent := m.now()
	tok, err := central.ClientCredentials(ctx, m.hc, m.unified.TokenURL(), m.unified.ClientID, m.unified.ClientSecret)
	if err != nil {
		m.log.Warn("MSP token request failed", slog.Any("error", err))
		return nil, err
	}
	tok = settleExpiry(tok, sent)
	m.mspRenewals.Add(1)
	m.log.Debug("MSP token fetched", slog.Time("expiry", tok.Expiry))
	return tok, nil
}

func (m *MSP) now() time.Time {
	if m.opts.Now != nil {
		return m.opts.Now()
	}
	return time.Now()
}

// Command makes an MSP-level call, like PyCentral's msp.command: any HTTP
// status is a *central.Response. App "" is New Central; use central.AppGLP
// for GLP. A 401 renews the MSP token and retries once.
func (m *MSP) Command(ctx context.Context, req central.Request) (*central.Response, error) {
	return m.client.Command(ctx, req)
}

// Do makes an MSP-level call and decodes a 2xx JSON body into out; other
// statuses are a *central.APIError.
func (m *MSP) Do(ctx context.Context, req central.Request, out any) (*central.Response, error) {
	return m.client.Do(ctx, req, out)
}

// Client returns the MSP-level client, for central.Pages and central.Items.
func (m *MSP) Client() *central.Client { return m.client }

// HasApp reports whether MSP-level calls to app are configured (New Central
// needs cluster_name or base_url).
func (m *MSP) HasApp(app central.App) bool { return m.client.HasApp(app) }

// WorkspaceID returns the MSP's own workspace id as configured.
func (m *MSP) WorkspaceID() string { return m.unified.WorkspaceID }

// Token returns the current MSP token, fetching or renewing it if needed.
// It is what tenant tokens are exchanged from.
func (m *MSP) Token(ctx context.Context) (*oauth2.Token, error) { return m.mspSource.Token(ctx) }

// Stats counts the MSP's token work since New.
type Stats struct {
	MSPTokens   int64 // MSP tokens fetched with client credentials
	Exchanges   int64 // token exchange requests made (including retries)
	StoreHits   int64 // tenant tokens taken from the TenantTokenStore
	OpenTenants int   // tenant connections currently cached
	CachedNames int   // tenant names resolved and cached
}

// Stats returns the MSP's counters.
func (m *MSP) Stats() Stats {
	m.mu.Lock()
	open, names := len(m.tenants), len(m.names)
	m.mu.Unlock()
	return Stats{
		MSPTokens:   m.mspRenewals.Load(),
		Exchanges:   m.exchanges.Load(),
		StoreHits:   m.storeHits.Load(),
		OpenTenants: open,
		CachedNames: names,
	}
}

// Close closes every cached tenant connection, then the MSP client. Later
// calls to Tenant fail with ErrClosed. Close is idempotent.
func (m *MSP) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	conns := m.tenants
	m.tenants = make(map[string]*TenantConn)
	m.mu.Unlock()
	var errs []error
	for id, c := range conns {
		if err := c.client.Close(); err != nil {
			m.log.Debug("closing tenant connection failed", slog.String("tenant", id), slog.Any("error", err))
			errs = append(errs, fmt.Errorf("msp: close tenant %s: %w", id, err))
		}
	}
	if err := m.client.Close(); err != nil {
		errs = append(errs, fmt.Errorf("msp: close: %w", err))
	}
	if m.ownHC {
		m.hc.CloseIdleConnections()
	}
	return errors.Join(errs...)
}
