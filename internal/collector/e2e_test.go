package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// simEnv is a simulator and an MSP client for it.
type simEnv struct {
	sim *centralsim.Server
	msp *msp.MSP
}

// newSimEnv starts a simulator with the given tenant sizes (monitored
// devices per tenant), no server-side rate limits, and an MSP client with
// unlimited budgets and instantaneous backoff, so tests run fast.
func newSimEnv(t *testing.T, sizes []int, optFns ...func(*centralsim.Options)) simEnv {
	t.Helper()
	return newSimEnvRT(t, sizes, nil, optFns...)
}

// newSimEnvRT is newSimEnv with the MSP's HTTP transport wrapped by wrap.
func newSimEnvRT(t *testing.T, sizes []int, wrap func(*centralsim.Server, http.RoundTripper) http.RoundTripper, optFns ...func(*centralsim.Options)) simEnv {
	t.Helper()
	sim := centralsim.NewServer(append([]func(*centralsim.Options){func(o *centralsim.Options) {
		o.Seed = 42
		o.Tenants = len(sizes)
		o.DevicesPerTenant = func(i int) int { return sizes[i] }
		o.RateLimits = centralsim.RateLimits{}
	}}, optFns...)...)
	t.Cleanup(sim.Close)
	creds, err := central.ParseCredentials(sim.CredentialsYAML(), central.FormatYAML, "sim")
	if err != nil {
		t.Fatal(err)
	}
	hc := sim.Client()
	if wrap != nil {
		hc = &http.Client{Transport: wrap(sim, hc.Transport), Timeout: hc.Timeout}
	}
	m, err := msp.New(creds, func(o *msp.Options) {
		o.HTTPClient = hc
		o.Logger = slog.New(slog.DiscardHandler)
		o.Budgets = central.NewBudgets()
		o.ClientOptions = append(o.ClientOptions, func(co *central.Options) {
			co.Retry.Rand = func() float64 { return 0 }
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return simEnv{sim: sim, msp: m}
}

type metaFields struct {
	TenantID    string `json:"_tenant_id"`
	TenantName  string `json:"_tenant_name"`
	RunID       string `json:"_run_id"`
	CollectedAt string `json:"_collected_at"`
}

// checkObject verifies that an object holds exactly the simulator's records
// of the tenant's dataset (same items, same order, fields verbatim) and that
// the manifest's figures match the bytes.
func checkObject(t *testing.T, raw []byte, want []json.RawMessage, tn msp.Tenant, runID string, dr *DatasetResult) {
	t.Helper()
	sum := sha256.Sum256(raw)
	if dr.SHA256 != hex.EncodeToString(sum[:]) || dr.Bytes != int64(len(raw)) {
		t.Errorf("%s/%s: manifest sha256/bytes do not match the object", tn.Name, dr.Dataset)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s/%s: %v", tn.Name, dr.Dataset, err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s/%s: gunzip: %v", tn.Name, dr.Dataset, err)
	}
	lines := bytes.SplitAfter(body, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) != len(want) || dr.Records != int64(len(want)) {
		t.Fatalf("%s/%s: %d lines, manifest %d records, simulator %d", tn.Name, dr.Dataset, len(lines), dr.Records, len(want))
	}
	meta := recordMeta(tn, runID)
	var exp, scratch bytes.Buffer
	for i, line := range lines {
		var mf metaFields
		if err := json.Unmarshal(line, &mf); err != nil {
			t.Fatalf("%s/%s line %d: %v", tn.Name, dr.Dataset, i, err)
		}
		if mf.TenantID != tn.ID || mf.TenantName != tn.Name || mf.RunID != runID {
			t.Fatalf("%s/%s line %d: meta %+v", tn.Name, dr.Dataset, i, mf)
		}
		if _, err := time.Parse(time.RFC3339Nano, mf.CollectedAt); err != nil {
			t.Fatalf("_collected_at %q: %v", mf.CollectedAt, err)
		}
		exp.Reset()
		if err := appendRecord(&exp, &scratch, meta, mf.CollectedAt, want[i]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(line, exp.Bytes()) {
			t.Fatalf("%s/%s line %d differs:\n got %s\nwant %s", tn.Name, dr.Dataset, i, line, exp.Bytes())
		}
	}
}

// allFiles lists the files under root (relative, slash-separated).
func allFiles(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	return out
}

func tenantsOf(t *testing.T, m *msp.MSP) []msp.Tenant {
	t.Helper()
	var out []msp.Tenant
	for tn, err := range m.Tenants(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tn)
	}
	return out
}

// TestRunEndToEnd collects every dataset of tenants of varied sizes, with
// 5xx faults, a token revoked in the middle of a pagination and a tenant
// whose exchange always fails, into a directory sink.
func TestRunEndToEnd(t *testing.T) {
	sizes := []int{0, 3, 1500, 40, 2300, 7}
	env := newSimEnv(t, sizes)
	tenants := tenantsOf(t, env.msp)
	if len(tenants) != len(sizes) {
		t.Fatalf("%d tenants", len(tenants))
	}
	big, broken := tenants[4], tenants[5]
	env.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{
		{Endpoint: centralsim.EndpointAPs, ServerErrorRate: 0.2},
		{Endpoint: centralsim.EndpointGLPDevices, ServerErrorRate: 0.2, ServerErrorStatus: 503},
		{Endpoint: centralsim.EndpointDevices, Tenant: big.ID, RevokeAfterPages: 1},
		{Endpoint: centralsim.EndpointToken, Tenant: broken.ID, ServerErrorRate: 1},
		{Endpoint: centralsim.EndpointSwitches, Tenant: tenants[2].ID, TooManyRequestsFirst: 2}, // a 429 storm (short: hints are slept)
	}})

	root := t.TempDir()
	var (
		mu     sync.Mutex
		events []Event
	)
	cfg := Config{
		MSP: FromMSP(env.msp), Sink: sink.NewDir(root), Concurrency: 3, RunID: "run-e2e",
		Progress: func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
	}
	m, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, tr := range m.Tenants {
		t.Logf("tenant %s %s %dms", tr.Name, tr.Status, tr.DurationMS)
		for _, d := range tr.Datasets {
			if d.Error != nil {
				t.Logf("  %s: %s %+v", d.Dataset, d.Status, *d.Error)
			}
		}
	}

	// The stored manifest is the returned one.
	b, err := os.ReadFile(filepath.Join(root, "runs", "run-e2e", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := ReadManifest(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if stored.Totals != m.Totals || len(stored.Tenants) != len(tenants) {
		t.Fatalf("stored manifest differs: %+v vs %+v", stored.Totals, m.Totals)
	}

	if m.Complete || m.Totals.TenantsOK != 5 || m.Totals.TenantsFailed != 1 || m.Totals.DatasetsOK != 5*8 {
		t.Fatalf("totals = %+v complete=%v", m.Totals, m.Complete)
	}
	files := allFiles(t, root)
	wantFiles := map[string]bool{ManifestKey("run-e2e"): true}
	for _, tn := range tenants {
		tr := m.Tenant(tn.ID)
		if tr == nil {
			t.Fatalf("tenant %s missing from manifest", tn.Name)
		}
		if tn.ID == broken.ID {
			if tr.Status != StatusFailed || tr.Error == nil || tr.Error.Class != ClassLogin {
				t.Fatalf("broken tenant: %+v", tr)
			}
			for _, d := range tr.Datasets {
				if d.Status != StatusFailed || d.Key != "" || d.Error == nil || d.Error.Class != ClassLogin {
					t.Fatalf("broken tenant dataset: %+v", d)
				}
			}
			continue
		}
		if tr.Status != StatusOK || len(tr.Datasets) != 8 {
			t.Fatalf("tenant %s: %+v", tn.Name, tr)
		}
		for _, d := range tr.Datasets {
			key := ObjectKey(d.Dataset, m.Date, "run-e2e", tn.ID)
			if d.Status != StatusOK || d.Key != key {
				t.Fatalf("%s/%s: %+v", tn.Name, d.Dataset, d)
			}
			wantFiles[key] = true
			raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
			if err != nil {
				t.Fatal(err)
			}
			checkObject(t, raw, env.sim.Records(tn.ID, d.Dataset), tn, "run-e2e", &d)
		}
	}
	// The MSP-level tenant-health object: once, every tenant mapped.
	if len(m.MSP) != 1 || m.MSP[0].Status != StatusOK || m.MSP[0].Records != int64(len(tenants)) || m.MSP[0].Mapped != len(tenants) {
		t.Fatalf("MSP datasets %+v", m.MSP)
	}
	wantFiles[MSPObjectKey(TenantHealthDataset, m.Date, "run-e2e")] = true
	// Nothing else: no object of the failed tenant, no temporary files.
	for f := range files {
		if !wantFiles[f] {
			t.Errorf("unexpected file %s", f)
		}
	}
	for f := range wantFiles {
		if !files[f] {
			t.Errorf("missing file %s", f)
		}
	}

	// The big tenant needed several pages, and its token was revoked: one
	// of its datasets (they run side by side) met the 401 and every one
	// carried on with a new token.
	bt := m.Tenant(big.ID)
	var unauthorized int64
	for _, d := range bt.Datasets {
		unauthorized += d.Unauthorized
		if d.Status != StatusOK {
			t.Errorf("big tenant %s: %s", d.Dataset, d.Status)
		}
	}
	if d := bt.Dataset("devices"); d.Pages < 3 || unauthorized < 1 {
		t.Errorf("big tenant devices: pages=%d; answers 401 in all its datasets: %d", d.Pages, unauthorized)
	}
	if env.sim.Stats().Revocations < 1 {
		t.Error("the revocation fault did not fire")
	}
	if d := m.Tenant(tenants[2].ID).Dataset("switches"); d.RateLimited != 2 || d.Status != StatusOK {
		t.Errorf("429 storm: %+v", d)
	}
	if m.Totals.Retries == 0 {
		t.Error("no retries recorded despite 5xx faults")
	}
	if m.Totals.Exchanges < 5 || m.Totals.TokenCacheHits != 0 {
		t.Errorf("token totals: %+v", m.Totals)
	}

	// Progress: one TenantDone per tenant, counters reach the total.
	done := 0
	for _, e := range events {
		if e.Kind == TenantDone {
			done++
		}
	}
	last := events[len(events)-1]
	if done != len(tenants) || last.TenantsDone != len(tenants) || last.TenantsTotal != len(tenants) {
		t.Errorf("progress: %d TenantDone, last %+v", done, last)
	}
}

// clock is a settable fake clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()) }
func (c *clock) Set(t time.Time)  { c.ns.Store(t.UnixNano()) }

// TestRunDefersNearDeadline: once less than Reserve is left, no tenant
// starts; the rest are deferred and the manifest is still written.
func TestRunDefersNearDeadline(t *testing.T) {
	env := newSimEnv(t, []int{2, 2, 2, 2})
	t0 := time.Now()
	clk := newClock(t0)
	ctx, cancel := context.WithDeadline(t.Context(), t0.Add(time.Hour))
	defer cancel()
	mem := sink.NewMemory()
	m, err := Run(ctx, Config{
		MSP: FromMSP(env.msp), Sink: mem, Concurrency: 1, RunID: "r-defer",
		Now: clk.Now, Reserve: 10 * time.Minute, Datasets: []string{"aps", "subscriptions"},
		Progress: func(e Event) {
			if e.Kind == TenantDone && e.TenantsDone == 1 {
				// After the first tenant only 5 minutes are left.
				clk.Set(t0.Add(55 * time.Minute))
			}
		},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if m.Complete || m.Totals.TenantsOK != 1 || m.Totals.TenantsDeferred != 3 || m.Totals.DatasetsDeferred != 6 {
		t.Fatalf("totals %+v", m.Totals)
	}
	if _, ok := mem.Object(ManifestKey("r-defer")); !ok {
		t.Fatal("manifest not written")
	}
	objects := 0
	for _, k := range mem.Keys() {
		if strings.HasPrefix(k, "inventory/") {
			objects++
		}
	}
	if objects != 2 {
		t.Fatalf("%d objects, want 2 (the first tenant's)", objects)
	}

	// Already too late at the start: everything deferred, nothing collected.
	m, err = Run(ctx, Config{MSP: FromMSP(env.msp), Sink: mem, RunID: "r-late", Now: clk.Now, Reserve: 2 * time.Hour})
	if !errors.Is(err, ErrNothingCollected) || m == nil || m.Totals.TenantsDeferred != 4 {
		t.Fatalf("err=%v manifest=%+v", err, m)
	}
	if _, ok := mem.Object(ManifestKey("r-late")); !ok {
		t.Fatal("manifest of the deferred run not written")
	}
}

// panicMSP panics when asked for one tenant's client.
type panicMSP struct {
	MSP
	victim string
}

func (p panicMSP) TenantClient(ctx context.Context, id string) (*central.Client, error) {
	if id == p.victim {
		panic("injected panic")
	}
	return p.MSP.TenantClient(ctx, id)
}

func TestRunRecoversPanic(t *testing.T) {
	env := newSimEnv(t, []int{1, 1, 1})
	tenants := tenantsOf(t, env.msp)
	mem := sink.NewMemory()
	m, err := Run(t.Context(), Config{MSP: panicMSP{FromMSP(env.msp), tenants[1].ID}, Sink: mem, Datasets: []string{"switches"}})
	if err != nil {
		t.Fatal(err)
	}
	tr := m.Tenant(tenants[1].ID)
	if tr.Status != StatusFailed || tr.Error.Class != ClassInternal || !strings.Contains(tr.Error.Message, "injected panic") {
		t.Fatalf("%+v", tr)
	}
	if m.Totals.TenantsOK != 2 || m.Totals.TenantsFailed != 1 {
		t.Fatalf("%+v", m.Totals)
	}
}

func TestRunTenantFilter(t *testing.T) {
	env := newSimEnv(t, []int{1, 1, 1, 1})
	tenants := tenantsOf(t, env.msp)
	mem := sink.NewMemory()
	m, err := Run(t.Context(), Config{
		MSP: FromMSP(env.msp), Sink: mem, Datasets: []string{"gateways"}, RunID: "r-filter",
		Tenants: []string{tenants[0].WorkspaceID, tenants[2].Name, tenants[0].ID, "no-such-tenant"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tenants) != 3 || m.Tenants[0].ID != tenants[0].ID || m.Tenants[1].ID != tenants[2].ID {
		t.Fatalf("tenants: %+v", m.Tenants)
	}
	nf := m.Tenants[2]
	if nf.Status != StatusFailed || nf.Error.Class != ClassNotFound || nf.ID != "no-such-tenant" {
		t.Fatalf("unknown selector: %+v", nf)
	}
	if m.Complete {
		t.Fatal("complete despite an unknown tenant")
	}
}

func TestRunTenantListFails(t *testing.T) {
	env := newSimEnv(t, []int{1, 1})
	env.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{
		{Endpoint: centralsim.EndpointMSPTenants, ServerErrorRate: 1},
	}})
	mem := sink.NewMemory()
	m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: mem, RunID: "r-nolist"})
	if !errors.Is(err, ErrNothingCollected) {
		t.Fatalf("err = %v", err)
	}
	if m == nil || m.Error == nil || m.Error.Class != ClassAPIError || m.Complete {
		t.Fatalf("manifest: %+v", m)
	}
	if _, ok := mem.Object(ManifestKey("r-nolist")); !ok {
		t.Fatal("manifest not written")
	}
}

// failingSink fails every object's Commit (but stores the manifest).
type failingSink struct{ *sink.Memory }

type failingObject struct{ sink.Object }

func (f failingSink) Create(ctx context.Context, key, ct string) (sink.Object, error) {
	o, err := f.Memory.Create(ctx, key, ct)
	return failingObject{o}, err
}

func (failingObject) Commit(context.Context) (sink.Info, error) {
	return sink.Info{}, errors.New("bucket gone")
}

func TestRunSinkFailure(t *testing.T) {
	env := newSimEnv(t, []int{1})
	mem := sink.NewMemory()
	m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: failingSink{mem}, Datasets: []string{"aps"}, RunID: "r-sink"})
	var se *SinkError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *SinkError", err)
	}
	d := m.Tenants[0].Datasets[0]
	if d.Status != StatusFailed || d.Error.Class != ClassSink {
		t.Fatalf("%+v", d)
	}
	if len(mem.Aborted()) != 1 {
		t.Fatalf("aborted = %v", mem.Aborted())
	}
}

func TestRunConfigErrors(t *testing.T) {
	mem := sink.NewMemory()
	for name, cfg := range map[string]Config{
		"no msp":   {Sink: mem},
		"no sink":  {MSP: panicMSP{}},
		"dataset":  {MSP: panicMSP{}, Sink: mem, Datasets: []string{"nope"}},
		"run id":   {MSP: panicMSP{}, Sink: mem, RunID: "../x"},
		"shard id": {MSP: panicMSP{}, Sink: mem, Shard: "a/b"},
		"date":     {MSP: panicMSP{}, Sink: mem, Date: "2026-13-01"},
	} {
		if m, err := Run(t.Context(), cfg); err == nil || m != nil {
			t.Errorf("%s: Run = %v, %v", name, m, err)
		}
	}
}

// TestRunShards runs two shards of one run and joins their manifests. The
// second starts after midnight and still writes to the run's dt partition.
func TestRunShards(t *testing.T) {
	env := newSimEnv(t, []int{1, 2, 3})
	tenants := tenantsOf(t, env.msp)
	mem := sink.NewMemory()
	var shards []*Manifest
	starts := []time.Time{time.Date(2026, 11, 23, 23, 50, 0, 0, time.UTC), time.Date(2026, 11, 24, 0, 10, 0, 0, time.UTC)}
	for i, sel := range [][]string{{tenants[0].ID, tenants[1].ID}, {tenants[2].ID}} {
		now := func() time.Time { return starts[i] }
		m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: mem, RunID: "r-sh", Shard: []string{"0", "1"}[i], Date: "2026-11-23",
			Tenants: sel, Datasets: []string{"aps"}, Now: now, Reserve: -1})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range m.Tenants {
			for _, d := range tr.Datasets {
				if want := ObjectKey("aps", "2026-11-23", "r-sh", tr.ID); d.Key != want {
					t.Errorf("shard %s: key %s, want %s", m.Shard, d.Key, want)
				}
			}
		}
		b, ok := mem.Object(ShardKey("r-sh", m.Shard))
		if !ok {
			t.Fatalf("shard %s not written", m.Shard)
		}
		back, err := ReadManifest(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, back)
	}
	if _, ok := mem.Object(ManifestKey("r-sh")); ok {
		t.Fatal("a shard wrote the run manifest")
	}
	j, err := Join("r-sh", []string{"0", "1"}, shards...)
	if err != nil {
		t.Fatal(err)
	}
	if !j.Complete || j.Totals.TenantsOK != 3 || len(j.Shards) != 2 {
		t.Fatalf("joined: %+v", j)
	}
	if err := WriteManifest(t.Context(), mem, j); err != nil {
		t.Fatal(err)
	}
	if _, ok := mem.Object(ManifestKey("r-sh")); !ok {
		t.Fatal("joined manifest not written")
	}
}

// failPageRT answers 500 to every request for a second or later page of one
// endpoint for one tenant (told by its token), so that dataset fails after
// part of it was already streamed to the sink.
type failPageRT struct {
	sim    *centralsim.Server
	next   http.RoundTripper
	path   string
	tenant string
}

func (f failPageRT) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	later := (q.Get("next") != "" && q.Get("next") != "1") || (q.Get("offset") != "" && q.Get("offset") != "0")
	if strings.HasSuffix(r.URL.Path, f.path) && later {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if c, err := f.sim.ParseToken(tok); err == nil && c.Workspace == f.tenant {
			return &http.Response{StatusCode: 500, Status: "500 Internal Server Error", Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(`{"message":"injected"}`)), Request: r}, nil
		}
	}
	return f.next.RoundTrip(r)
}

// mapStore is a TenantTokenStore holding pre-minted tokens.
type mapStore map[string]*oauth2.Token

func (s mapStore) TenantToken(_ context.Context, id string, _ time.Duration) (*oauth2.Token, error) {
	if tok, ok := s[id]; ok {
		return tok, nil
	}
	return nil, msp.ErrTokenMiss
}

// TestRunWarmTokenCache: tenants whose token is in the store need no
// exchange; the manifest counts hits and misses.
func TestRunWarmTokenCache(t *testing.T) {
	env := newSimEnv(t, []int{1, 1, 1})
	tenants := tenantsOf(t, env.msp)
	store := mapStore{}
	for _, tn := range tenants[:2] {
		tok, err := env.msp.ExchangeTenantToken(t.Context(), tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		store[tn.ID] = tok
	}
	creds, _ := central.ParseCredentials(env.sim.CredentialsYAML(), central.FormatYAML, "sim")
	warm, err := msp.New(creds, func(o *msp.Options) {
		o.HTTPClient = env.sim.Client()
		o.Logger = slog.New(slog.DiscardHandler)
		o.Budgets = central.NewBudgets()
		o.TenantTokens = store
	})
	if err != nil {
		t.Fatal(err)
	}
	defer warm.Close()
	m, err := Run(t.Context(), Config{MSP: FromMSP(warm), Sink: sink.NewMemory(), Datasets: []string{"aps"}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Complete || m.Totals.Exchanges != 1 || m.Totals.TokenCacheHits != 2 || m.Totals.TokenCacheMisses != 1 {
		t.Fatalf("totals %+v", m.Totals)
	}
	if r := m.Totals.TokenCacheHitRatio; r < 0.66 || r > 0.67 {
		t.Fatalf("hit ratio %v", r)
	}
}
