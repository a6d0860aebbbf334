// Package centralsim is an in-process simulator of the HPE GreenLake Platform
// (GLP) and HPE Aruba Networking New Central APIs an MSP collector uses, in the
// style of net/http/httptest.
//
// One listener serves GLP at the root (Server.URL) and New Central under the
// path prefix "/central" (Server.CentralURL), so a client that drops a base
// path is caught. Tokens issued by the simulator's unified issuer work on both,
// as real GreenLake tokens do.
//
//	sim := centralsim.NewServer(func(o *centralsim.Options) { o.Tenants = 5 })
//	defer sim.Close()
//	creds := sim.CredentialsYAML() // unified block pointing at sim
//
// The data is generated deterministically from Options.Seed; Records returns
// exactly what the endpoints serve, so tests can compare collected output with
// the ground truth. Latency, faults and rate limits are configurable per
// endpoint and tenant and are deterministic for a given seed.
package centralsim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint names used in Stats, FaultRule.Endpoint and RateLimits. They are
// the request paths as served (Central ones carry the /central prefix).
const (
	EndpointToken           = "/authorization/v2/oauth2/{workspace}/token"
	EndpointStandaloneToken = "/as/token.oauth2"
	EndpointMSPTenants      = "/workspaces/v1/msp-tenants"
	EndpointGLPDevices      = "/devices/v1/devices"
	EndpointSubscriptions   = "/subscriptions/v1/subscriptions"
	EndpointAuditLogs       = "/audit-log/v1/logs"
	EndpointAuditLogsV2     = "/audit-log/v2beta1/logs"
	EndpointDevices         = "/central/network-monitoring/v1/devices"
	EndpointDeviceInventory = "/central/network-monitoring/v1/device-inventory"
	EndpointAPs             = "/central/network-monitoring/v1/aps"
	EndpointSwitches        = "/central/network-monitoring/v1/switches"
	EndpointGateways        = "/central/network-monitoring/v1/gateways"
	EndpointSitesHealth     = "/central/network-monitoring/v1/sites-health"
	EndpointListTenants     = "/central/network-msp/v1/list-tenants"
	EndpointStats           = "/_sim/stats"
)

// CentralPrefix is the path prefix under which New Central is served.
const CentralPrefix = "/central"

// Scope says whose budget a rate limit counts against.
type Scope int

const (
	// ScopeAccount shares one budget across the MSP account: the MSP token
	// and every tenant token exchanged from it.
	ScopeAccount Scope = iota
	// ScopeWorkspace gives every workspace (MSP or tenant) its own budget.
	ScopeWorkspace
)

func (s Scope) String() string {
	if s == ScopeWorkspace {
		return "workspace"
	}
	return "account"
}

// Limit is a fixed-window rate limit. Requests <= 0 means unlimited (and no
// rate-limit headers are sent for GLP).
type Limit struct {
	Requests int
	Window   time.Duration
	Scope    Scope
}

// RateLimits configures the simulated quotas.
type RateLimits struct {
	GLPDevices       Limit // GET /devices/v1/devices: 160/min per workspace
	GLPSubscriptions Limit // GET /subscriptions/v1/subscriptions: 60/min per workspace
	// GLP limits the other GLP API calls (msp-tenants, audit logs), counted
	// per API family (workspaces, audit-log, ...): 300/min per workspace.
	GLP     Limit
	Central Limit // every New Central call: 8/s per MSP account
	// Token limits both token endpoints (unlimited by default). ScopeAccount
	// counts every call of the MSP account together; ScopeWorkspace counts
	// per workspace in the path.
	Token Limit
}

// DefaultRateLimits returns the limits HPE documents
// (developer.greenlake.hpe.com, developer.arubanetworks.com/new-central): GLP devices 160/min and
// subscriptions 60/min per workspace, other GLP families 300/min per
// workspace, New Central 8/s per MSP account.
func DefaultRateLimits() RateLimits {
	return RateLimits{
		GLPDevices:       Limit{Requests: 160, Window: time.Minute, Scope: ScopeWorkspace},
		GLPSubscriptions: Limit{Requests: 60, Window: time.Minute, Scope: ScopeWorkspace},
		GLP:              Limit{Requests: 300, Window: time.Minute, Scope: ScopeWorkspace},
		Central:          Limit{Requests: 8, Window: time.Second, Scope: ScopeAccount},
	}
}

// Options configures a Server. NewServer starts from defaults (see each
// field) and applies the option functions in order.
type Options struct {
	// Seed drives the data generator, identifiers, credentials and faults.
	Seed int64
	// Tenants is the number of MSP tenants (default 10).
	Tenants int
	// TokenTTL is the lifetime of unified tokens, MSP and tenant (default 899s).
	// Sub-second values are honoured; expires_in is rounded up to a second.
	TokenTTL time.Duration
	// StandaloneTokenTTL is the lifetime of /as/token.oauth2 tokens (default 2h).
	StandaloneTokenTTL time.Duration
	// Latency and Jitter are added to every request (jitter is seeded).
	Latency, Jitter time.Duration
	// Now is the clock for token expiry, rate-limit windows and audit logs
	// (default time.Now). Tests inject a fake clock.
	Now func() time.Time
	// RateLimits defaults to DefaultRateLimits(); set RateLimits{} for none.
	RateLimits RateLimits
	// DevicesPerTenant overrides the generated size of tenant i (0-based):
	// the number of monitored devices. nil keeps the skewed default sizes.
	DevicesPerTenant func(i int) int
	// MSPDevices is the size of the MSP workspace's own inventory (default 3).
	MSPDevices int
	// MSPName is the MSP workspace name (default "Simulated MSP").
	MSPName string
	// TenantNames names the first len(TenantNames) tenants (an empty string
	// keeps the generated name), e.g. to mirror documentation examples.
	// Everything else about those tenants is generated as usual.
	TenantNames []string
	// Logger receives debug logs; nil discards. Tokens are never logged.
	Logger *slog.Logger
	// Listener, when set, is used instead of a local 127.0.0.1:0 listener.
	Listener net.Listener
	// Faults is the initial fault configuration (see SetFaults).
	Faults Faults
}

// Account is a set of client credentials with its workspace.
type Account struct {
	WorkspaceID  string // 32 lowercase hex characters
	ClientID     string
	ClientSecret string
	Name         string
}

// Server is a running (or unstarted) simulator.
type Server struct {
	// URL is the GLP base URL, http://ipaddr:port with no trailing slash.
	// It is empty until Start.
	URL string

	ts      *httptest.Server
	opts    Options
	now     func() time.Time
	log     *slog.Logger
	handler http.Handler

	key        []byte // HMAC key for tokens
	msp        Account
	standalone Account
	tenants    []*tenantState
	byHex      map[string]*tenantState // tenants, MSP and standalone workspaces

	tokenTTL atomic.Int64 // ns
	tokenSeq atomic.Int64
	revoked  sync.Map // jti -> struct{}
	revokeAt atomic.Int64
	claims   sync.Map // token string -> *claims (verified signature cache)
	claimsN  atomic.Int64

	limiter *limiter
	stats   *statsRec

	faultMu sync.RWMutex
	faults  Faults
	fstate  *faultState

	debugSeq atomic.Int64
	// appendSeq numbers AppendAuditLogs entries.
	appendSeq atomic.Int64

	routeOnce    sync.Once
	routesByPath map[string]*route
	listsOnce    sync.Once
	mspTenants   []json.RawMessage // msp-tenants items
	listTenants  []json.RawMessage // list-tenants items
	// alertsMu guards alerts: alerts Mutate added per tenant name.
	alertsMu sync.Mutex
	alerts   map[string]int
}

// NewServer starts a simulator on a local loopback port, like
// httptest.NewServer. It panics if it cannot listen.
func NewServer(optFns ...func(*Options)) *Server {
	s := NewUnstartedServer(optFns...)
	s.Start()
	return s
}

// NewUnstartedServer builds a simulator without starting it; call Start.
func NewUnstartedServer(optFns ...func(*Options)) *Server {
	o := Options{
		Tenants:            10,
		TokenTTL:           899 * time.Second,
		StandaloneTokenTTL: 2 * time.Hour,
		RateLimits:         DefaultRateLimits(),
		MSPDevices:         3,
		MSPName:            "Simulated MSP",
	}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Tenants < 0 {
		panic("centralsim: negative Options.Tenants")
	}
	if o.TokenTTL <= 0 || o.StandaloneTokenTTL <= 0 {
		panic("centralsim: token TTL must be positive")
	}
	s := &Server{opts: o, now: o.Now, log: o.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.tokenTTL.Store(int64(o.TokenTTL))
	s.revokeAt.Store(-1)
	s.init()
	s.limiter = newLimiter()
	s.stats = newStatsRec()
	s.fstate = newFaultState()
	s.faults = o.Faults
	s.handler = http.HandlerFunc(s.serveHTTP)
	s.ts = httptest.NewUnstartedServer(s.handler)
	if o.Listener != nil {
		s.ts.Listener.Close()
		s.ts.Listener = o.Listener
	}
	return s
}

// Start starts the server. It panics if called twice.
func (s *Server) Start() {
	s.ts.Start()
	s.URL = s.ts.URL
}

// Close shuts the server down and blocks until outstanding requests finish.
func (s *Server) Close() { s.ts.Close() }

// CloseClientConnections forcibly closes all client connections.
func (s *Server) CloseClientConnections() { s.ts.CloseClientConnections() }

// Client returns an HTTP client wired to the server (its idle connections are
// closed on Close).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Config returns the underlying *http.Server, adjustable before Start.
func (s *Server) Config() *http.Server { return s.ts.Config }

// Handler returns the simulator's http.Handler, for serving it elsewhere or
// with an httptest.ResponseRecorder.
func (s *Server) Handler() http.Handler { return s.handler }

// CentralURL returns the New Central base URL, URL + "/central".
func (s *Server) CentralURL() string { return s.URL + CentralPrefix }

// MSP returns the MSP account's credentials (unified client).
func (s *Server) MSP() Account { return s.msp }

// Standalone returns the credentials of a standalone, Central-only API client
// accepted by POST /as/token.oauth2. Its workspace has its own inventory.
func (s *Server) Standalone() Account { return s.standalone }

// TokenURL returns the unified issuer URL for workspace (32 hex).
func (s *Server) TokenURL(workspace string) string {
	return s.URL + "/authorization/v2/oauth2/" + workspace + "/token"
}

// CredentialsYAML returns a ready credentials file with a unified block
// (client_id, client_secret, workspace_id, glp_base_url, base_url).
func (s *Server) CredentialsYAML() []byte {
	return fmt.Appendf(nil, "unified:\n  client_id: %q\n  client_secret: %q\n  workspace_id: %q\n  glp_base_url: %q\n  base_url: %q\n",
		s.msp.ClientID, s.msp.ClientSecret, s.msp.WorkspaceID, s.URL, s.CentralURL())
}

// RevokeTokens revokes every token issued so far (they get 401 from now on).
func (s *Server) RevokeTokens() { s.revokeAt.Store(s.tokenSeq.Load()) }

// SetTokenTTL changes the lifetime of unified tokens issued from now on.
func (s *Server) SetTokenTTL(d time.Duration) {
	if d <= 0 {
		panic("centralsim: SetTokenTTL with non-positive duration")
	}
	s.tokenTTL.Store(int64(d))
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// hash64 mixes the seed with the parts into a deterministic 64-bit value.
func hash64(seed int64, parts ...string) uint64 {
	h := hmac.New(sha256.New, []byte("centralsim"))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return binary.LittleEndian.Uint64(h.Sum(nil))
}

func newRand(seed int64, parts ...string) *rand.Rand {
	return rand.New(rand.NewPCG(hash64(seed, parts...), hash64(seed, append(parts, "2")...)))
}
