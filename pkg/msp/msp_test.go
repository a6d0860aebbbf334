package msp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// newSim starts a simulator without rate limits (unless fns set them).
func newSim(t testing.TB, fns ...func(*centralsim.Options)) *centralsim.Server {
	t.Helper()
	all := append([]func(*centralsim.Options){func(o *centralsim.Options) {
		o.Tenants = 10
		o.RateLimits = centralsim.RateLimits{}
		o.DevicesPerTenant = func(i int) int { return 3 + i%4 }
	}}, fns...)
	sim := centralsim.NewServer(all...)
	t.Cleanup(sim.Close)
	return sim
}

// simCreds parses the simulator's unified credentials; glpOnly drops base_url.
func simCreds(t testing.TB, sim *centralsim.Server, glpOnly bool) *central.Credentials {
	t.Helper()
	data := sim.CredentialsYAML()
	if glpOnly {
		var kept []string
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.Contains(line, "base_url:") || strings.Contains(line, "glp_base_url:") {
				kept = append(kept, line)
			}
		}
		data = []byte(strings.Join(kept, "\n"))
	}
	creds, err := central.ParseCredentials(data, central.FormatYAML, "sim.yaml")
	if err != nil {
		t.Fatalf("ParseCredentials: %v", err)
	}
	return creds
}

// logBuffer collects debug logs so tests can look for leaked secrets.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	sim  *centralsim.Server
	msp  *msp.MSP
	logs *logBuffer
}

func setup(t testing.TB, simFns []func(*centralsim.Options), fns ...func(*msp.Options)) *fixture {
	t.Helper()
	sim := newSim(t, simFns...)
	return setupWith(t, sim, simCreds(t, sim, false), fns...)
}

func setupWith(t testing.TB, sim *centralsim.Server, creds *central.Credentials, fns ...func(*msp.Options)) *fixture {
	t.Helper()
	logs := &logBuffer{}
	all := append([]func(*msp.Options){func(o *msp.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Budgets = unlimitedBudgets()
	}}, fns...)
	m, err := msp.New(creds, all...)
	if err != nil {
		t.Fatalf("msp.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return &fixture{sim: sim, msp: m, logs: logs}
}

func unlimitedBudgets() *central.Budgets {
	return central.NewBudgets()
}

func mspKind(st centralsim.Stats) int64 { return st.TokensByKind[centralsim.KindMSP] }

func TestNewRequiresUnified(t *testing.T) {
	tests := []struct {
		name   string
		creds  *central.Credentials
		blocks []string
	}{
		{"glp", &central.Credentials{GLP: &central.AppCreds{ClientID: "id", ClientSecret: "s3cr3t"}, Source: "glp.yaml"}, []string{"glp"}},
		{"new_central", &central.Credentials{NewCentral: &central.AppCreds{ClientID: "id", ClientSecret: "s3cr3t", ClusterName: "US-1"}, Source: "nc.yaml"}, []string{"new_central"}},
		{"both", &central.Credentials{GLP: &central.AppCreds{ClientID: "id", ClientSecret: "s3cr3t"}, NewCentral: &central.AppCreds{ClientID: "id", ClientSecret: "s3cr3t", ClusterName: "US-1"}}, []string{"glp", "new_central"}},
		{"empty", &central.Credentials{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := msp.New(tt.creds)
			if m != nil || !errors.Is(err, msp.ErrUnifiedRequired) {
				t.Fatalf("New = %v, %v; want ErrUnifiedRequired", m, err)
			}
			var ue *msp.UnifiedRequiredError
			if !errors.As(err, &ue) || !slices.Equal(ue.Blocks, tt.blocks) {
				t.Fatalf("error %#v; want blocks %v", err, tt.blocks)
			}
			if msg := err.Error(); !strings.Contains(msg, "MSP mode needs unified credentials") || strings.Contains(msg, "s3cr3t") {
				t.Errorf("message %q", msg)
			}
		})
	}
	if _, err := msp.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestMSPLevelCalls(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	// The seed's New Central example: network-msp/v1/list-tenants.
	resp, err := f.msp.Command(ctx, central.Request{Method: "GET", Path: "network-msp/v1/list-tenants",
		Params: map[string]any{"limit": 100, "next": 1}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list-tenants: %v, %+v", err, resp)
	}
	items, _ := resp.Body.(map[string]any)["items"].([]any)
	if len(items) != len(f.sim.Tenants()) {
		t.Errorf("list-tenants items = %d, want %d", len(items), len(f.sim.Tenants()))
	}
	first, _ := items[0].(map[string]any)
	if first["tenantId"] == nil || first["tenantName"] == nil {
		t.Errorf("item lacks tenantId/tenantName: %v", first)
	}
	// A GLP MSP-level call.
	resp, err = f.msp.Command(ctx, central.Request{Method: "GET", Path: "workspaces/v1/msp-tenants", App: central.AppGLP})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("msp-tenants: %v, %+v", err, resp)
	}
	if !f.msp.HasApp(central.AppCentral) || !f.msp.HasApp(central.AppGLP) {
		t.Error("HasApp false")
	}
	if got := f.msp.WorkspaceID(); got != f.sim.MSP().WorkspaceID {
		t.Errorf("WorkspaceID = %q", got)
	}
}

func TestGLPOnlyMode(t *testing.T) {
	sim := newSim(t)
	f := setupWith(t, sim, simCreds(t, sim, true))
	ctx := t.Context()
	if f.msp.HasApp(central.AppCentral) {
		t.Fatal("HasApp(AppCentral) in GLP-only mode")
	}
	_, err := f.msp.Command(ctx, central.Request{Method: "GET", Path: "network-msp/v1/list-tenants"})
	if !errors.Is(err, central.ErrAppNotConfigured) {
		t.Fatalf("MSP Central call: %v; want ErrAppNotConfigured", err)
	}
	tn := sim.Tenants()[2]
	conn, err := f.msp.Tenant(ctx, msp.ByID(tn.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Command(ctx, central.Request{Method: "GET", Path: "network-monitoring/v1/aps"}); !errors.Is(err, central.ErrAppNotConfigured) {
		t.Fatalf("tenant Central call: %v; want ErrAppNotConfigured", err)
	} else if !strings.Contains(err.Error(), "new_central") {
		t.Errorf("message %q does not name new_central", err)
	}
	resp, err := conn.Command(ctx, central.Request{Method: "GET", Path: "devices/v1/devices", App: central.AppGLP})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("tenant GLP call: %v %+v", err, resp)
	}
}

func TestTenantsAllPages(t *testing.T) {
	f := setup(t, []func(*centralsim.Options){func(o *centralsim.Options) {
		o.Tenants = 650
		o.DevicesPerTenant = func(int) int { return 0 }
	}})
	var got []msp.Tenant
	for tn, err := range f.msp.Tenants(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tn)
	}
	want := f.sim.Tenants()
	if len(got) != len(want) {
		t.Fatalf("got %d tenants, want %d", len(got), len(want))
	}
	byID := map[string]msp.Tenant{}
	for _, tn := range got {
		byID[tn.ID] = tn
	}
	for _, w := range want {
		g, ok := byID[w.HexID]
		if !ok || g.WorkspaceID != w.ID || g.Name != w.Name || g.Ownership != w.Ownership {
			t.Fatalf("tenant %s: got %+v, want %+v", w.HexID, g, w)
		}
	}
	if n := f.sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants]; n != 3 {
		t.Errorf("msp-tenants requests = %d, want 3 pages of 300", n)
	}
	// Early stop.
	n := 0
	for range f.msp.Tenants(t.Context()) {
		n++
		if n == 5 {
			break
		}
	}
}

func TestTenantIDQuotingAndCache(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	var apos, nonASCII centralsim.Tenant
	for _, tn := range f.sim.Tenants() {
		if strings.Contains(tn.Name, "'") && apos.Name == "" {
			apos = tn
		}
		if strings.ContainsFunc(tn.Name, func(r rune) bool { return r > 127 }) && nonASCII.Name == "" {
			nonASCII = tn
		}
	}
	if apos.Name == "" || nonASCII.Name == "" {
		t.Fatal("simulator has no tenant name with an apostrophe or non-ASCII letters")
	}
	for _, tn := range []centralsim.Tenant{apos, nonASCII} {
		before := f.sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants]
		for range 3 {
			id, err := f.msp.TenantID(ctx, tn.Name)
			if err != nil || id != tn.HexID {
				t.Fatalf("TenantID(%q) = %q, %v; want %q", tn.Name, id, err, tn.HexID)
			}
		}
		if n := f.sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants] - before; n != 1 {
			t.Errorf("TenantID(%q): %d lookups, want 1 (cached)", tn.Name, n)
		}
	}
	_, err := f.msp.TenantID(ctx, "No Such Tenant's Name")
	var nf *msp.TenantNotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, msp.ErrTenantNotFound) || nf.Name != "No Such Tenant's Name" {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := f.msp.TenantID(ctx, ""); err == nil {
		t.Error("empty name accepted")
	}
}

// TestTenantIDConcurrent checks that concurrent lookups of one name share a call.
func TestTenantIDConcurrent(t *testing.T) {
	f := setup(t, nil)
	tn := f.sim.Tenants()[3]
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if id, err := f.msp.TenantID(t.Context(), tn.Name); err != nil || id != tn.HexID {
				t.Errorf("TenantID = %q, %v", id, err)
			}
		})
	}
	wg.Wait()
	if n := f.sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants]; n != 1 {
		t.Errorf("%d lookups, want 1", n)
	}
}

// TestTenantIDErrors uses a loopback front for the simulator that answers
// chosen lookups with duplicates or errors.
func TestTenantIDErrors(t *testing.T) {
	sim := newSim(t)
	dup := sim.Tenants()[0]
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == centralsim.EndpointMSPTenants {
			switch r.URL.Query().Get("filter") {
			case "workspaceName eq 'Twins'":
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"offset":0,"count":2,"total":2,"items":[{"id":%q,"workspaceName":"Twins"},{"id":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","workspaceName":"Twins"}]}`, dup.ID)
				return
			case "workspaceName eq 'Forbidden'":
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"debugId":"d1","httpStatusCode":403,"errorCode":"HPE_GL_ERROR_FORBIDDEN","message":"no permission"}`)
				return
			case "workspaceName eq 'Bad Id'":
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"offset":0,"count":1,"total":1,"items":[{"id":"not-an-id","workspaceName":"Bad Id"}]}`)
				return
			}
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	creds := simCreds(t, sim, false)
	creds.Unified.GLPBaseURL = front.URL
	creds.Unified.BaseURL = front.URL + centralsim.CentralPrefix
	f := setupWith(t, sim, creds)
	ctx := t.Context()

	_, err := f.msp.TenantID(ctx, "Twins")
	var amb *msp.AmbiguousTenantError
	if !errors.As(err, &amb) || !errors.Is(err, msp.ErrAmbiguousTenant) || len(amb.IDs) != 2 {
		t.Errorf("Twins: %v", err)
	}
	_, err = f.msp.TenantID(ctx, "Forbidden")
	var le *msp.TenantLookupError
	var api *central.APIError
	if !errors.As(err, &le) || le.StatusCode != 403 || !errors.As(err, &api) || !errors.Is(err, msp.ErrTenantLookup) {
		t.Errorf("Forbidden: %v", err)
	} else if !strings.Contains(err.Error(), "no permission") {
		t.Errorf("message %q lacks the server's message", err)
	}
	_, err = f.msp.TenantID(ctx, "Bad Id")
	if !errors.Is(err, msp.ErrInvalidTenantID) || !strings.Contains(err.Error(), `"not-an-id"`) {
		t.Errorf("Bad Id: %v", err)
	}
	// The errors are distinct.
	if errors.Is(amb, msp.ErrTenantNotFound) || errors.Is(le, msp.ErrAmbiguousTenant) {
		t.Error("errors match each other's sentinels")
	}
	// Failures are not cached: a second lookup asks again.
	before := sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants]
	_, _ = f.msp.TenantID(ctx, "Nobody")
	_, _ = f.msp.TenantID(ctx, "Nobody")
	if n := sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants] - before; n != 2 {
		t.Errorf("failed lookups: %d calls, want 2", n)
	}
	// Tenant by name passes the errors on.
	if _, err := f.msp.Tenant(ctx, msp.ByName("Twins")); !errors.Is(err, msp.ErrAmbiguousTenant) {
		t.Errorf("Tenant(ByName(Twins)) = %v", err)
	}
}

func TestTenantConnectionCalls(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	tn := f.sim.Tenants()[4]
	conn, err := f.msp.Tenant(ctx, msp.ByID(tn.ID)) // with dashes
	if err != nil {
		t.Fatal(err)
	}
	if conn.ID() != tn.HexID {
		t.Errorf("ID = %q, want %q", conn.ID(), tn.HexID)
	}
	// New Central through the tenant token: the tenant's own APs.
	var aps []map[string]any
	for ap, err := range central.Items[map[string]any](ctx, conn.Client(), central.PageSpec{Path: "network-monitoring/v1/aps", Style: central.CursorPaging}) {
		if err != nil {
			t.Fatal(err)
		}
		aps = append(aps, ap)
	}
	if want := len(f.sim.Records(tn.HexID, "aps")); len(aps) != want {
		t.Errorf("tenant APs = %d, want %d", len(aps), want)
	}
	// GLP through the tenant token.
	var out struct {
		Total int `json:"total"`
	}
	if _, err := conn.Do(ctx, central.Request{Path: "devices/v1/devices", App: central.AppGLP}, &out); err != nil {
		t.Fatal(err)
	}
	if want := len(f.sim.Records(tn.HexID, "glp-devices")); out.Total != want {
		t.Errorf("GLP devices total = %d, want %d", out.Total, want)
	}
	if got := f.sim.Stats().ByTenant[tn.HexID]; got == 0 {
		t.Error("simulator saw no call scoped to the tenant")
	}
	// By name gives the same connection.
	byName, err := f.msp.Tenant(ctx, msp.ByName(tn.Name))
	if err != nil || byName != conn {
		t.Errorf("Tenant(ByName) = %p, %v; want %p", byName, err, conn)
	}
	if _, err := f.msp.Tenant(ctx, msp.ByID("abc-def-123")); !errors.Is(err, msp.ErrInvalidTenantID) || !strings.Contains(err.Error(), `"abc-def-123"`) {
		t.Errorf("bad id: %v", err)
	}
	if _, err := f.msp.Tenant(ctx, msp.TenantRef{}); !errors.Is(err, msp.ErrNoTenant) {
		t.Errorf("zero ref: %v", err)
	}
}

func TestTenantCacheSingleFlight(t *testing.T) {
	f := setup(t, nil)
	tn := f.sim.Tenants()[5]
	conns := make([]*msp.TenantConn, 100)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range conns {
		wg.Go(func() {
			<-start
			ref := msp.ByID(tn.ID)
			if i%2 == 0 {
				ref = msp.ByID(tn.HexID)
			}
			c, err := f.msp.Tenant(t.Context(), ref)
			if err != nil {
				t.Error(err)
			}
			conns[i] = c
		})
	}
	close(start)
	wg.Wait()
	for _, c := range conns {
		if c != conns[0] || c == nil {
			t.Fatal("different connections for one tenant")
		}
	}
	if n := f.sim.Stats().ExchangesByTenant[tn.HexID]; n != 1 {
		t.Errorf("simulator saw %d exchanges, want 1", n)
	}
	if st := f.msp.Stats(); st.Exchanges != 1 || st.OpenTenants != 1 || st.MSPTokens != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestCloseTenantAndClose(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	ts := f.sim.Tenants()
	c1, err := f.msp.Tenant(ctx, msp.ByID(ts[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.msp.Tenant(ctx, msp.ByID(ts[1].ID)); err != nil {
		t.Fatal(err)
	}
	if err := f.msp.CloseTenant(ts[0].ID); err != nil { // dashes stripped
		t.Fatal(err)
	}
	err = f.msp.CloseTenant(ts[0].HexID)
	var ut *msp.UnknownTenantError
	if !errors.As(err, &ut) || !errors.Is(err, msp.ErrUnknownTenant) || ut.ID != ts[0].HexID {
		t.Fatalf("second CloseTenant = %v; want ErrUnknownTenant", err)
	}
	if err := f.msp.CloseTenant(ts[9].HexID); !errors.Is(err, msp.ErrUnknownTenant) {
		t.Errorf("CloseTenant(never opened) = %v", err)
	}
	if err := f.msp.CloseTenant("nope"); !errors.Is(err, msp.ErrInvalidTenantID) {
		t.Errorf("CloseTenant(nope) = %v", err)
	}
	c1b, err := f.msp.Tenant(ctx, msp.ByID(ts[0].HexID))
	if err != nil || c1b == c1 {
		t.Fatalf("reopen = %p, %v; want a new connection", c1b, err)
	}
	if n := f.sim.Stats().ExchangesByTenant[ts[0].HexID]; n != 2 {
		t.Errorf("exchanges after reopen = %d, want 2", n)
	}
	// TenantConn.Close evicts too and may be repeated.
	if err := c1b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c1b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.msp.CloseTenant(ts[0].HexID); !errors.Is(err, msp.ErrUnknownTenant) {
		t.Errorf("after conn.Close: %v", err)
	}
	if st := f.msp.Stats(); st.OpenTenants != 1 {
		t.Errorf("open tenants = %d, want 1", st.OpenTenants)
	}
	if err := f.msp.Close(); err != nil {
		t.Fatal(err)
	}
	if st := f.msp.Stats(); st.OpenTenants != 0 {
		t.Errorf("open tenants after Close = %d", st.OpenTenants)
	}
	if _, err := f.msp.Tenant(ctx, msp.ByID(ts[1].HexID)); !errors.Is(err, msp.ErrClosed) {
		t.Errorf("Tenant after Close = %v", err)
	}
	if err := f.msp.CloseTenant(ts[1].HexID); !errors.Is(err, msp.ErrUnknownTenant) {
		t.Errorf("CloseTenant after Close = %v", err)
	}
	if err := f.msp.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestTenant401RenewalChain revokes every token: ten tenants hit 401 at once,
// which must renew the MSP token once, re-exchange once per tenant and retry.
func TestTenant401RenewalChain(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	var conns []*msp.TenantConn
	for _, tn := range f.sim.Tenants() {
		c, err := f.msp.Tenant(ctx, msp.ByID(tn.HexID))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	before := f.sim.Stats()
	f.sim.RevokeTokens()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, c := range conns {
		for range 3 {
			wg.Go(func() {
				<-start
				resp, err := c.Command(ctx, central.Request{Path: "devices/v1/devices", App: central.AppGLP, Params: map[string]any{"limit": 5}})
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("tenant %s: %v %v", c.ID(), err, resp)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	after := f.sim.Stats()
	if n := mspKind(after) - mspKind(before); n != 1 {
		t.Errorf("MSP renewals = %d, want 1", n)
	}
	for _, c := range conns {
		if n := after.ExchangesByTenant[c.ID()] - before.ExchangesByTenant[c.ID()]; n != 1 {
			t.Errorf("tenant %s: %d re-exchanges, want 1", c.ID(), n)
		}
	}
	if n := after.Unauthorized - before.Unauthorized; n < 10 || n > 30 {
		t.Errorf("401s = %d, want between 10 and 30", n)
	}
}

// TestExchangeRenewsRefusedMSPToken: the exchange is refused with
// invalid_token because the MSP token was revoked; the MSP token is renewed
// and the exchange retried once.
func TestExchangeRenewsRefusedMSPToken(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	if _, err := f.msp.Token(ctx); err != nil {
		t.Fatal(err)
	}
	f.sim.RevokeTokens()
	before := f.sim.Stats()
	tn := f.sim.Tenants()[1]
	tok, err := f.msp.ExchangeTenantToken(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := f.sim.ParseToken(tok.AccessToken)
	if err != nil || claims.Workspace != tn.HexID || claims.Kind != centralsim.KindTenant {
		t.Fatalf("exchanged token claims %+v, %v", claims, err)
	}
	if tok.Expiry.IsZero() {
		t.Error("exchanged token has no expiry")
	}
	after := f.sim.Stats()
	if n := mspKind(after) - mspKind(before); n != 1 {
		t.Errorf("MSP renewals = %d, want 1", n)
	}
	if st := f.msp.Stats(); st.Exchanges != 2 {
		t.Errorf("exchange requests = %d, want 2 (refused, retried)", st.Exchanges)
	}
	// ExchangeTenantToken does not open a connection.
	if st := f.msp.Stats(); st.OpenTenants != 0 {
		t.Errorf("open tenants = %d", st.OpenTenants)
	}
}

// TestExchangeOtherFailure: a refusal that is not about the MSP token is a
// *central.LoginError without any MSP renewal.
func TestExchangeOtherFailure(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	stranger := strings.Repeat("ab", 16) // not a tenant of this MSP
	_, err := f.msp.ExchangeTenantToken(ctx, stranger)
	var le *central.LoginError
	if !errors.As(err, &le) || le.ErrorCode != "invalid_grant" {
		t.Fatalf("err = %v; want LoginError invalid_grant", err)
	}
	if !strings.Contains(err.Error(), stranger) {
		t.Errorf("message %q does not name the tenant", err)
	}
	if st := f.msp.Stats(); st.MSPTokens != 1 || st.Exchanges != 1 {
		t.Errorf("Stats = %+v; want 1 MSP token, 1 exchange", st)
	}
	if _, err := f.msp.Tenant(ctx, msp.ByID(stranger)); !errors.As(err, &le) {
		t.Errorf("Tenant(stranger) = %v; want LoginError", err)
	}
	if st := f.msp.Stats(); st.OpenTenants != 0 {
		t.Errorf("failed tenant was cached")
	}
	if _, err := f.msp.ExchangeTenantToken(ctx, "xyz"); !errors.Is(err, msp.ErrInvalidTenantID) {
		t.Errorf("bad id: %v", err)
	}

	// Wrong client secret: the MSP token itself cannot be had.
	sim := newSim(t)
	creds := simCreds(t, sim, false)
	creds.Unified.ClientSecret = "wrong-secret-canary"
	g := setupWith(t, sim, creds)
	_, err = g.msp.Tenant(ctx, msp.ByID(sim.Tenants()[0].HexID))
	if !errors.As(err, &le) || le.ErrorCode != "invalid_client" {
		t.Fatalf("bad secret: %v; want LoginError invalid_client", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-canary") || strings.Contains(g.logs.String(), "wrong-secret-canary") {
		t.Error("secret leaked")
	}
}

// fakeClock is a manually advanced clock shared by the simulator and the MSP.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestProactiveRenewal: with a fake clock past the early-expiry point, both
// tokens are renewed before use, so the simulator never answers 401.
func TestProactiveRenewal(t *testing.T) {
	// Token expiry is computed from the real clock when a token arrives
	// (pkg/central), so the fake clock starts at real time.
	clock := &fakeClock{now: time.Now()}
	f := setup(t, []func(*centralsim.Options){func(o *centralsim.Options) {
		o.Now = clock.Now
		o.TokenTTL = 15 * time.Minute
	}}, func(o *msp.Options) {
		o.Now = clock.Now
		o.EarlyExpiry = time.Minute
	})
	ctx := t.Context()
	tn := f.sim.Tenants()[2]
	conn, err := f.msp.Tenant(ctx, msp.ByID(tn.HexID))
	if err != nil {
		t.Fatal(err)
	}
	call := func() {
		t.Helper()
		resp, err := conn.Command(ctx, central.Request{Path: "devices/v1/devices", App: central.AppGLP})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("call: %v %v", err, resp)
		}
	}
	call()
	clock.Advance(13 * time.Minute) // still valid
	call()
	if st := f.msp.Stats(); st.MSPTokens != 1 || st.Exchanges != 1 {
		t.Fatalf("before renewal point: %+v", st)
	}
	clock.Advance(90 * time.Second) // 14.5 min: inside the early-expiry minute
	call()
	if st := f.msp.Stats(); st.MSPTokens != 2 || st.Exchanges != 2 {
		t.Errorf("after renewal point: %+v; want 2 MSP tokens, 2 exchanges", st)
	}
	if n := f.sim.Stats().Unauthorized; n != 0 {
		t.Errorf("simulator answered %d 401s", n)
	}
}

// memStore is a TenantTokenStore backed by a map.
type memStore struct {
	mu    sync.Mutex
	toks  map[string]*oauth2.Token
	calls int
	err   error
	asked []time.Duration
}

func (s *memStore) TenantToken(_ context.Context, id string, min time.Duration) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.asked = append(s.asked, min)
	if s.err != nil {
		return nil, s.err
	}
	tok := s.toks[id]
	if tok == nil || (!tok.Expiry.IsZero() && time.Until(tok.Expiry) < min) {
		return nil, fmt.Errorf("store: %s: %w", id, msp.ErrTokenMiss)
	}
	return tok, nil
}

func TestTenantTokenStore(t *testing.T) {
	sim := newSim(t)
	ctx := t.Context()
	ts := sim.Tenants()
	// A refresher MSP fills the store with ExchangeTenantToken.
	refresher := setupWith(t, sim, simCreds(t, sim, false))
	store := &memStore{toks: map[string]*oauth2.Token{}}
	for _, tn := range ts[:2] {
		tok, err := refresher.msp.ExchangeTenantToken(ctx, tn.HexID)
		if err != nil {
			t.Fatal(err)
		}
		store.toks[tn.HexID] = tok
	}
	// A short-lived token in the store does not last MinTokenValidity.
	short, err := refresher.msp.ExchangeTenantToken(ctx, ts[2].HexID)
	if err != nil {
		t.Fatal(err)
	}
	shortCopy := *short
	shortCopy.Expiry = time.Now().Add(30 * time.Second)
	store.toks[ts[2].HexID] = &shortCopy

	reader := setupWith(t, sim, simCreds(t, sim, false), func(o *msp.Options) {
		o.TenantTokens = store
		o.MinTokenValidity = 5 * time.Minute
	})
	for _, tn := range ts[:3] {
		conn, err := reader.msp.Tenant(ctx, msp.ByID(tn.HexID))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := conn.Command(ctx, central.Request{Path: "network-monitoring/v1/aps"})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", err, resp)
		}
	}
	st := reader.msp.Stats()
	if st.StoreHits != 2 || st.Exchanges != 1 {
		t.Errorf("reader stats %+v; want 2 store hits, 1 exchange (the short token)", st)
	}
	if !slices.Contains(store.asked, 5*time.Minute) {
		t.Errorf("store asked with %v", store.asked)
	}

	// A store token the server rejects is not used again: the connection
	// exchanges its own.
	sim.RevokeTokens()
	conn, _ := reader.msp.Tenant(ctx, msp.ByID(ts[0].HexID))
	resp, err := conn.Command(ctx, central.Request{Path: "network-monitoring/v1/aps"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after revocation: %v %v", err, resp)
	}

	// A failing store is logged and treated as a miss.
	store.mu.Lock()
	store.err = errors.New("secrets manager unavailable")
	store.mu.Unlock()
	conn, err = reader.msp.Tenant(ctx, msp.ByID(ts[5].HexID))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reader.logs.String(), "secrets manager unavailable") {
		t.Error("store failure not logged")
	}
	_ = conn
}

// TestNoTokensInLogsOrErrors runs the flows at debug level and checks that
// no token or secret appears in the logs (PyCentral logs the exchange
// response at DEBUG).
func TestNoTokensInLogsOrErrors(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	ts := f.sim.Tenants()
	conn, err := f.msp.Tenant(ctx, msp.ByName(ts[0].Name))
	if err != nil {
		t.Fatal(err)
	}
	f.sim.RevokeTokens()
	if _, err := conn.Command(ctx, central.Request{Path: "network-monitoring/v1/aps"}); err != nil {
		t.Fatal(err)
	}
	mspTok, err := f.msp.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tenTok, err := f.msp.ExchangeTenantToken(ctx, ts[0].HexID)
	if err != nil {
		t.Fatal(err)
	}
	_, exErr := f.msp.ExchangeTenantToken(ctx, strings.Repeat("cd", 16))
	logs := f.logs.String()
	if !strings.Contains(logs, "level=DEBUG") {
		t.Fatal("no debug logs captured")
	}
	for _, secret := range []string{f.sim.MSP().ClientSecret, mspTok.AccessToken, tenTok.AccessToken, sigOf(mspTok.AccessToken), sigOf(tenTok.AccessToken)} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret or token")
		}
		if exErr != nil && strings.Contains(exErr.Error(), secret) {
			t.Errorf("error contains a secret or token")
		}
	}
}

func sigOf(jwt string) string {
	if i := strings.LastIndexByte(jwt, '.'); i >= 0 {
		return jwt[i+1:]
	}
	return jwt
}

// TestLoad: 50 goroutines across 10 tenants with 1-second tokens for 10
// seconds (real time, since the simulator's tokens expire in real time).
// The simulator must see one MSP token per MSP expiry, one exchange per
// tenant per expiry, and no call may fail.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("10-second load test")
	}
	const (
		tenants    = 10
		goroutines = 50
		duration   = 10 * time.Second
		ttl        = time.Second
	)
	sim := newSim(t, func(o *centralsim.Options) {
		o.Tenants = tenants
		o.TokenTTL = ttl
	})
	f := setupWith(t, sim, simCreds(t, sim, false), func(o *msp.Options) {
		// Renew half-way through the lifetime: on two shared cores under
		// the race detector a call can take a few hundred milliseconds
		// between taking a token and reaching the server.
		o.EarlyExpiry = ttl / 2
		// Pace the load so the race-enabled test stays light on shared CPUs.
		o.Budgets = central.NewBudgets(
			central.BudgetSpec{Name: "central", App: central.AppCentral, Rate: 100, Burst: 10, Scope: central.ScopeAccount},
			central.BudgetSpec{Name: "glp", App: central.AppGLP, Rate: 100, Burst: 10, Scope: central.ScopeAccount},
		)
	})
	ctx := t.Context()
	ids := make([]string, tenants)
	for i, tn := range sim.Tenants() {
		ids[i] = tn.ID
	}
	sim.ResetStats()
	begin := time.Now()
	deadline := begin.Add(duration)
	var (
		mu       sync.Mutex
		calls    int
		failures []string
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				conn, err := f.msp.Tenant(ctx, msp.ByID(ids[g%tenants]))
				var resp *central.Response
				if err == nil {
					req := central.Request{Path: "network-monitoring/v1/aps", Params: map[string]any{"limit": 5}}
					if g%2 == 1 {
						req = central.Request{Path: "devices/v1/devices", App: central.AppGLP, Params: map[string]any{"limit": 5}}
					}
					resp, err = conn.Command(ctx, req)
				}
				mu.Lock()
				calls++
				if err != nil {
					failures = append(failures, err.Error())
				} else if resp.StatusCode != 200 {
					failures = append(failures, fmt.Sprintf("HTTP %d", resp.StatusCode))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	st := sim.Stats()
	// A token is used for ttl - EarlyExpiry, then renewed once.
	periods := int64(elapsed/(ttl-ttl/2)) + 2
	t.Logf("load: %d calls in %v, %d failed; MSP tokens %d, exchanges %d (%v), 401s %d, periods <= %d",
		calls, elapsed.Round(time.Millisecond), len(failures), mspKind(st), st.Exchanges, st.ExchangesByTenant, st.Unauthorized, periods)
	if len(failures) > 0 {
		t.Errorf("%d failed calls, first: %s", len(failures), failures[0])
	}
	if calls < 100 {
		t.Errorf("only %d calls", calls)
	}
	// At most one renewal per expiry. Fewer happen if the machine stalls
	// (no call needs a token meanwhile). A call that stalls longer than
	// EarlyExpiry between taking its token and reaching the server gets a
	// 401, which renews the MSP token that minted it and is retried: allow
	// one extra renewal per such 401, which only happens on a starved
	// machine (seen with a load average of 12 on 2 cores).
	slack := st.Unauthorized
	if n := mspKind(st); n < 2 || n > periods+slack {
		t.Errorf("MSP tokens = %d, want one per expiry (<= %d, +%d for 401s)", n, periods, slack)
	}
	for _, id := range ids {
		hex, _ := msp.NormalizeTenantID(id)
		if n := st.ExchangesByTenant[hex]; n < 2 || n > periods+slack {
			t.Errorf("tenant %s: %d exchanges, want one per expiry (<= %d, +%d for 401s)", hex, n, periods, slack)
		}
	}
	if st.Unauthorized > 0 {
		t.Logf("%d calls stalled past their token's expiry and were retried", st.Unauthorized)
	}
}

// TestMSPLevelRenewal: an MSP-level 401 renews the MSP token once and
// retries; a configured access_token is used before client credentials.
func TestMSPLevelRenewal(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	req := central.Request{Path: "workspaces/v1/msp-tenants", App: central.AppGLP}
	if resp, err := f.msp.Command(ctx, req); err != nil || resp.StatusCode != 200 {
		t.Fatal(err, resp)
	}
	tok, err := f.msp.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.sim.RevokeTokens()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if resp, err := f.msp.Command(ctx, req); err != nil || resp.StatusCode != 200 {
				t.Error(err, resp)
			}
		})
	}
	wg.Wait()
	if st := f.msp.Stats(); st.MSPTokens != 2 {
		t.Errorf("MSP tokens = %d, want 2", st.MSPTokens)
	}

	// A second MSP given a valid access_token uses it first.
	fresh, err := f.msp.Token(ctx)
	if err != nil || fresh.AccessToken == tok.AccessToken {
		t.Fatal("no fresh token", err)
	}
	creds := simCreds(t, f.sim, false)
	creds.Unified.AccessToken = fresh.AccessToken
	g := setupWith(t, f.sim, creds)
	if resp, err := g.msp.Command(ctx, req); err != nil || resp.StatusCode != 200 {
		t.Fatal(err, resp)
	}
	if st := g.msp.Stats(); st.MSPTokens != 0 {
		t.Errorf("MSP tokens fetched = %d; want the configured access_token used", st.MSPTokens)
	}
	// Missing client_secret is refused up front.
	creds = simCreds(t, f.sim, false)
	creds.Unified.ClientSecret = ""
	if _, err := msp.New(creds); err == nil || !strings.Contains(err.Error(), "client_secret") {
		t.Errorf("missing client_secret: %v", err)
	}
}

// TestRetryQuotaSharedByTenants: the MSP client and every tenant client draw
// on one retry quota, so when the API fails for most tenants, retries stop
// for all of them instead of each tenant spending its own quota.
func TestRetryQuotaSharedByTenants(t *testing.T) {
	f := setup(t, nil)
	ctx := t.Context()
	q := f.msp.Client().RetryPolicy().Quota
	if q == nil || q.Available() != central.DefaultRetryQuota {
		t.Fatalf("MSP quota %v", q)
	}
	for _, tn := range f.sim.Tenants()[:2] {
		conn, err := f.msp.Tenant(ctx, msp.ByID(tn.ID))
		if err != nil {
			t.Fatal(err)
		}
		if conn.Client().RetryPolicy().Quota != q {
			t.Fatalf("tenant %s has its own retry quota", tn.Name)
		}
	}
	// A quota set by the caller is kept.
	own := central.NewRetryQuota(7)
	g := setupWith(t, f.sim, simCreds(t, f.sim, false), func(o *msp.Options) {
		o.ClientOptions = append(o.ClientOptions, func(co *central.Options) { co.Retry.Quota = own })
	})
	if g.msp.Client().RetryPolicy().Quota != own {
		t.Fatal("the caller's quota was replaced")
	}
}
