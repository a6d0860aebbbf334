package audittrail

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// clock is a settable clock shared by the simulator and the runs.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	sim     *centralsim.Server
	msp     collector.MSP
	clk     *clock
	tenants []centralsim.Tenant
	// rt, when set, sees every request first (faults, arrivals).
	mu sync.Mutex
	rt func(r *http.Request, tenant string, next http.RoundTripper) (*http.Response, error)
}

func (e *env) setRT(f func(r *http.Request, tenant string, next http.RoundTripper) (*http.Response, error)) {
	e.mu.Lock()
	e.rt = f
	e.mu.Unlock()
}

type hookRT struct {
	e    *env
	next http.RoundTripper
}

func (h hookRT) RoundTrip(r *http.Request) (*http.Response, error) {
	h.e.mu.Lock()
	f := h.e.rt
	h.e.mu.Unlock()
	if f == nil || !strings.Contains(r.URL.Path, "/audit-log/") {
		return h.next.RoundTrip(r)
	}
	tenant := ""
	if c, err := h.e.sim.ParseToken(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); err == nil {
		tenant = c.Workspace
	}
	return f(r, tenant, h.next)
}

// newEnv starts a simulator with n tenants whose clock is 2026-10-01 12:00.
func newEnv(t *testing.T, n int) *env { return newEnvTB(t, n) }

func newEnvTB(t testing.TB, n int) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)}
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Seed = 7
		o.Tenants = n
		o.DevicesPerTenant = func(i int) int { return 40 + 20*i } // 7 to 9 audit events each
		o.RateLimits = centralsim.RateLimits{}
		o.Now = clk.Now
	})
	t.Cleanup(sim.Close)
	e := &env{sim: sim, clk: clk, tenants: sim.Tenants()}
	creds, err := central.ParseCredentials(sim.CredentialsYAML(), central.FormatYAML, "sim")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: hookRT{e: e, next: sim.Client().Transport}}
	m, err := msp.New(creds, func(o *msp.Options) {
		o.HTTPClient = hc
		o.Logger = slog.New(slog.DiscardHandler)
		o.Budgets = central.NewBudgets()
		o.ClientOptions = append(o.ClientOptions, func(co *central.Options) {
			co.Retry.Rand = func() float64 { return 0 }
			co.Retry.MaxAttempts = 2
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.msp = collector.FromMSP(m)
	return e
}

// config is a run over e with small pages and a look-back covering every
// generated event.
func (e *env) config(runID string, snk sink.Sink, store Store) Config {
	return Config{MSP: e.msp, Sink: snk, Store: store, RunID: runID, Now: e.clk.Now,
		Lookback: 90 * 24 * time.Hour, PageLimit: 3, Concurrency: 2}
}

// truth returns the simulator's event ids per tenant (32 hex).
func (e *env) truth(t *testing.T, dataset string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tn := range e.tenants {
		for _, raw := range e.sim.Records(tn.HexID, dataset) {
			var ev event
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			out[tn.HexID] = append(out[tn.HexID], ev.ID)
		}
		slices.Sort(out[tn.HexID])
	}
	return out
}

// written returns the ids in every committed trail object, per tenant, and
// fails on an id written twice (in one object or two).
func written(t *testing.T, objects map[string][]byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	where := map[string]string{}
	for key, body := range objects {
		if !strings.HasPrefix(key, "inventory/dataset="+Dataset+"/") {
			continue
		}
		lines, err := ReadObject(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		for _, l := range lines {
			var rec struct {
				ID       string `json:"id"`
				TenantID string `json:"_tenant_id"`
			}
			if err := json.Unmarshal(l, &rec); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if !strings.Contains(key, "/tenant="+rec.TenantID+".") {
				t.Fatalf("%s holds a record of tenant %s", key, rec.TenantID)
			}
			if prev, dup := where[rec.ID]; dup {
				t.Fatalf("event %s written twice: %s and %s", rec.ID, prev, key)
			}
			where[rec.ID] = key
			out[rec.TenantID] = append(out[rec.TenantID], rec.ID)
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

func memObjects(m *sink.Memory) map[string][]byte {
	out := map[string][]byte{}
	for _, k := range m.Keys() {
		b, _ := m.Object(k)
		out[k] = b
	}
	return out
}

// exact fails unless the written ids are exactly the simulator's.
func exact(t *testing.T, want, got map[string][]string) {
	t.Helper()
	for tenant, ids := range want {
		if !slices.Equal(ids, got[tenant]) {
			t.Fatalf("tenant %s: wrote %d events, the simulator has %d\nmissing: %v\nextra: %v", tenant, len(got[tenant]), len(ids),
				diff(ids, got[tenant]), diff(got[tenant], ids))
		}
	}
	for tenant := range got {
		if _, ok := want[tenant]; !ok {
			t.Fatalf("events written for unknown tenant %s", tenant)
		}
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func statuses(res *Result) map[string]Status {
	out := map[string]Status{}
	for _, tr := range res.Tenants {
		out[tr.TenantID] = tr.Status
	}
	return out
}

func failResponse(r *http.Request) *http.Response {
	return &http.Response{StatusCode: 503, Status: "503 Service Unavailable", Header: http.Header{"Content-Type": {"application/json"}},
		Body: http.NoBody, Request: r}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// newMemStore keeps watermarks in a memory sink of their own.
func newMemStore() SinkStore { return SinkStore{Sink: sink.NewMemory()} }
