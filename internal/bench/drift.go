package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/httpcore"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// DriftConfig makes a scenario measure what drift detection adds to a
// collection. The collector child first collects every tenant once with
// the audit on (the baselines, not measured), then, per repetition, has
// the simulator change MutateTenants tenants and collects the same data
// twice with the same budgets: once plain (audit off), once audited
// (drift, findings, baselines, summary and report written).
type DriftConfig struct {
	// MutateTenants is how many tenants the simulator changes before each
	// measured pair (devices added, removed, moved, re-firmwared;
	// subscriptions renewed, ended, expiring).
	MutateTenants int `json:"mutate_tenants"`
	// Reps is the number of measured pairs (at least 1).
	Reps int `json:"reps"`
	// PrepConcurrency is the tenant concurrency of the unmeasured first
	// collection (0: the scenario's).
	PrepConcurrency int `json:"prep_concurrency,omitempty"`
}

// DriftPair is one measured pair: the same data collected plain, then
// audited.
type DriftPair struct {
	PlainWall time.Duration `json:"plain_wall"`
	AuditWall time.Duration `json:"audit_wall"`
	PlainCPU  time.Duration `json:"plain_cpu"`
	AuditCPU  time.Duration `json:"audit_cpu"`
	// SimChanges are the record changes the simulator made before the
	// pair; Found the changes the audited run reported (they must agree).
	SimChanges int `json:"sim_changes"`
	Found      int `json:"found"`
	// AuditErrors counts the audit's errors (summary totals).
	AuditErrors int `json:"audit_errors"`
	// AuditFirst: the audited run came first in this pair.
	AuditFirst bool `json:"audit_first,omitempty"`
}

// DriftResult is what drift detection added, over the measured pairs.
type DriftResult struct {
	Config DriftConfig `json:"config"`
	// Prep is the wall time of the first (baseline) collection.
	Prep  time.Duration `json:"prep"`
	Pairs []DriftPair   `json:"pairs"`
	// Medians over the pairs.
	PlainWall time.Duration `json:"plain_wall"`
	AuditWall time.Duration `json:"audit_wall"`
	// AddedWall is the median of the pairs' audited minus plain wall time,
	// AddedPct the same over the plain wall time (target under 5 %).
	AddedWall time.Duration `json:"added_wall"`
	AddedPct  float64       `json:"added_pct"`
	PlainCPU  time.Duration `json:"plain_cpu"`
	AuditCPU  time.Duration `json:"audit_cpu"`
	AddedCPU  time.Duration `json:"added_cpu"`
	// Bytes are the audit's objects by top-level prefix: baseline (all
	// baselines and finding states, the audit's stored state), and drift,
	// findings and audit (summary and report) of the last audited run.
	Bytes map[string]int64 `json:"bytes"`
	// InventoryBytes is the plain run's output (gzip NDJSON).
	InventoryBytes int64 `json:"inventory_bytes"`
	// SlotBound is a lower bound from the tenant concurrency: every tenant
	// holds a collector slot for at least its New Central requests at the
	// per-workspace rate, and Concurrency tenants run at a time.
	SlotBound time.Duration `json:"slot_bound,omitempty"`
}

// TargetDriftPct is the most drift detection may add to a collection's
// wall time (percent).
const TargetDriftPct = 5.0

// driftReport is the drift part of the collector child's report.
type driftReport struct {
	Prep           time.Duration    `json:"prep"`
	Pairs          []DriftPair      `json:"pairs"`
	Bytes          map[string]int64 `json:"bytes"`
	InventoryBytes int64            `json:"inventory_bytes"`
}

// mutateAnswer is the simulator child's answer to a mutation request.
type mutateAnswer struct {
	Tenants int `json:"tenants"`
	Changes int `json:"changes"`
}

// serveControl serves the simulator's bench controls on a loopback port
// until ctx ends, and returns its URL: POST /mutate?n=N changes N tenants
// (evenly spread, different ones on each call) as an operator would.
func serveControl(ctx context.Context, sim *centralsim.Server) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench sim: control: %w", err)
	}
	var mu sync.Mutex
	calls := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mutate", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 {
			http.Error(w, "n: want a count", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		ids := mutateIDs(sim.Tenants(), n, calls)
		calls++
		changes := sim.Mutate(centralsim.MutateOptions{Tenants: ids, Add: 3, Remove: 2, Move: 2, Refirmware: 3,
			Renew: 1, End: 1, Expire: 1, Alerts: 4})
		_ = json.NewEncoder(w).Encode(mutateAnswer{Tenants: len(ids), Changes: len(changes)})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + ln.Addr().String(), nil
}

// mutateIDs picks n tenants with at least 10 devices, evenly spread, the
// call-th pick of a rotation so successive calls change other tenants.
func mutateIDs(ts []centralsim.Tenant, n, call int) []string {
	var eligible []string
	for _, t := range ts {
		if t.Devices >= 10 {
			eligible = append(eligible, t.HexID)
		}
	}
	n = min(n, len(eligible))
	if n == 0 {
		return nil
	}
	step := len(eligible) / n
	ids := make([]string, 0, n)
	for i := range n {
		ids = append(ids, eligible[(i*step+call)%len(eligible)])
	}
	return ids
}

// requestMutation asks the simulator child to change n tenants and returns
// the record changes it made.
func requestMutation(ctx context.Context, controlURL string, n int) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, controlURL+"/mutate?n="+strconv.Itoa(n), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bench: mutate: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: mutate: %s", resp.Status)
	}
	var a mutateAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&a); err != nil {
		return 0, fmt.Errorf("bench: mutate: %w", err)
	}
	return a.Changes, nil
}

// measured is one collection's wall time and CPU.
type measured struct {
	Wall, CPU, SimCPU, MachineBusy, MachineTotal time.Duration
}

// measure runs fn and records its wall time and the CPU of this process,
// the simulator and the machine.
func measure(simPID int, fn func() error) (measured, error) {
	cpu0, sim0 := cpuTime(), procCPU(simPID)
	busy0, total0 := machineCPU()
	t0 := time.Now()
	err := fn()
	m := measured{Wall: time.Since(t0), CPU: cpuTime() - cpu0, SimCPU: procCPU(simPID) - sim0}
	busy1, total1 := machineCPU()
	m.MachineBusy, m.MachineTotal = busy1-busy0, total1-total0
	return m, err
}

// auditedRun is one collection with the audit on, as the job runs it:
// drift, findings, baselines, then the summary and the HTML report.
func auditedRun(ctx context.Context, cfg collector.Config, snk sink.Sink) (*collector.Manifest, *audit.Summary, error) {
	return audit.Collect(ctx, cfg, audit.Options{Sink: snk, Store: audit.SinkStore{Sink: snk}})
}

// runDrift runs the drift scenario in the collector child (see
// DriftConfig). The report's main figures (wall, CPU, simulator counts,
// manifest) are the last plain run's; rep.Drift holds the pairs.
func runDrift(ctx context.Context, cc childConfig, m *msp.MSP, log *slog.Logger, rep *childReport) (*collector.Manifest, error) {
	cfg := cc.Config
	dc := *cfg.Drift
	plainDir, auditDir := filepath.Join(cfg.WorkDir, "out-"+cfg.Name), filepath.Join(cfg.WorkDir, "audit-"+cfg.Name)
	plainSink, auditSink := slowSink(sink.NewDir(plainDir), cfg.SinkLatency), slowSink(sink.NewDir(auditDir), cfg.SinkLatency)
	base := collector.Config{MSP: collector.FromMSP(m), Datasets: cfg.Datasets, Concurrency: cfg.Concurrency, Logger: log}
	dr := &driftReport{}
	rep.Drift = dr

	prep := base
	prep.Sink, prep.RunID, prep.Concurrency = auditSink, "bench-audit-0", cmp.Or(dc.PrepConcurrency, cfg.Concurrency)
	t0 := time.Now()
	if man, _, err := auditedRun(ctx, prep, auditSink); man == nil || !man.Complete {
		return nil, fmt.Errorf("bench collector: the first (baseline) collection: %w", cmp.Or(err, errors.New("incomplete")))
	}
	dr.Prep = time.Since(t0)

	var man *collector.Manifest
	for i := range max(1, dc.Reps) {
		plain, audited := base, base
		plain.Sink, plain.RunID = plainSink, "bench"
		audited.Sink, audited.RunID = auditSink, fmt.Sprintf("bench-audit-%d", i+1)
		p, pm, err := measurePair(ctx, cc, plain, audited, i%2 == 1, &man, rep)
		if err != nil {
			return man, err
		}
		rep.Wall, rep.CPU, rep.SimCPU, rep.MachineBusy, rep.MachineTotal = pm.Wall, pm.CPU, pm.SimCPU, pm.MachineBusy, pm.MachineTotal
		dr.Pairs = append(dr.Pairs, p)
	}
	var err error
	if dr.Bytes, err = auditBytes(auditDir, fmt.Sprintf("run=bench-audit-%d", max(1, dc.Reps))); err != nil {
		return man, err
	}
	dr.InventoryBytes, err = dirBytes(plainDir)
	return man, err
}

// measurePair has the simulator change some tenants, then collects the
// same data plain and audited, the audited run first when auditFirst (the
// pairs alternate, so a change in the machine's load hits both alike). The
// plain run's manifest goes to *man and its simulator counts to rep.
func measurePair(ctx context.Context, cc childConfig, plain, audited collector.Config, auditFirst bool, man **collector.Manifest, rep *childReport) (DriftPair, measured, error) {
	var p DriftPair
	var err error
	if p.SimChanges, err = requestMutation(ctx, cc.SimControl, cc.Config.Drift.MutateTenants); err != nil {
		return p, measured{}, err
	}
	var pm, am measured
	var sum *audit.Summary
	runPlain := func() error {
		var stats0 simStats
		if stats0, err = fetchStats(ctx, cc.SimURL); err != nil {
			return err
		}
		var runErr error
		pm, err = measure(cc.SimPID, func() error { *man, runErr = collector.Run(ctx, plain); return runErr })
		if *man == nil || err != nil && !errors.Is(err, collector.ErrNothingCollected) {
			return fmt.Errorf("bench collector: plain run: %w", cmp.Or(err, errors.New("no manifest")))
		}
		rep.Stats0 = stats0
		rep.Stats1, err = fetchStats(ctx, cc.SimURL)
		return err
	}
	runAudited := func() error {
		var runErr error
		am, err = measure(cc.SimPID, func() error { _, sum, runErr = auditedRun(ctx, audited, audited.Sink); return runErr })
		if sum == nil {
			return fmt.Errorf("bench collector: audited run: %w", cmp.Or(err, errors.New("no summary")))
		}
		return nil
	}
	order := []func() error{runPlain, runAudited}
	if auditFirst {
		order[0], order[1] = order[1], order[0]
	}
	for _, run := range order {
		if err := run(); err != nil {
			return p, pm, err
		}
	}
	p.PlainWall, p.PlainCPU, p.AuditWall, p.AuditCPU = pm.Wall, pm.CPU, am.Wall, am.CPU
	p.Found, p.AuditErrors, p.AuditFirst = sum.Totals.Changes, sum.Totals.Errors, auditFirst
	return p, pm, nil
}

// auditBytes sums the audit's objects under dir by top-level prefix: all of
// baseline/ (the stored state), and of the others only the objects of the
// run whose key contains runPart. The collector's inventory/ is skipped.
func auditBytes(dir, runPart string) (map[string]int64, error) {
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if top == "inventory" || (top != "baseline" && !strings.Contains(rel, runPart)) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[top] += fi.Size()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return out, nil
}

// dirBytes sums the sizes of the files under dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	return n, nil
}

// median returns the median of ds (the mean of the two middle values of
// an even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	return (s[(n-1)/2] + s[n/2]) / 2
}

// analyseDrift turns the child's pairs into a DriftResult.
func analyseDrift(cfg Config, dr *driftReport, slotBound time.Duration) *DriftResult {
	r := &DriftResult{Config: *cfg.Drift, Prep: dr.Prep, Pairs: dr.Pairs, Bytes: dr.Bytes, InventoryBytes: dr.InventoryBytes, SlotBound: slotBound}
	var pw, aw, dw, pc, ac, dc []time.Duration
	for _, p := range dr.Pairs {
		pw, aw, dw = append(pw, p.PlainWall), append(aw, p.AuditWall), append(dw, p.AuditWall-p.PlainWall)
		pc, ac, dc = append(pc, p.PlainCPU), append(ac, p.AuditCPU), append(dc, p.AuditCPU-p.PlainCPU)
	}
	r.PlainWall, r.AuditWall, r.AddedWall = median(pw), median(aw), median(dw)
	r.PlainCPU, r.AuditCPU, r.AddedCPU = median(pc), median(ac), median(dc)
	if r.PlainWall > 0 {
		r.AddedPct = 100 * float64(r.AddedWall) / float64(r.PlainWall)
	}
	return r
}

// slotBound is the tenant-concurrency bound of a per-workspace New Central
// budget: every tenant's requests beyond the burst at the rate, summed, over
// the concurrency.
func slotBound(cfg Config, perTenant map[string]int64) time.Duration {
	if cfg.CentralRate <= 0 || cfg.Concurrency <= 0 {
		return 0
	}
	var total float64
	for _, n := range perTenant {
		total += float64(max(0, n-DefaultCentralBurst)) / cfg.CentralRate
	}
	return time.Duration(total / float64(cfg.Concurrency) * float64(time.Second))
}

// driftLines describes a drift result for the table.
func (r *DriftResult) driftLines(res *Result) []string {
	state := "met"
	if r.AddedPct >= TargetDriftPct {
		state = "MISSED"
	}
	mib := func(n int64) string { return fmt.Sprintf("%.2f MB", float64(n)/1e6) }
	lines := []string{
		fmt.Sprintf("drift added %s to a %s collection: %+.2f %% (target < %.0f %%): %s", r.AddedWall.Round(time.Millisecond),
			r.PlainWall.Round(10*time.Millisecond), r.AddedPct, TargetDriftPct, state),
		fmt.Sprintf("wall plain %s, audited %s; CPU plain %s, audited %s, added %s (%+.0f %%); first (baseline) collection %s",
			r.PlainWall.Round(10*time.Millisecond), r.AuditWall.Round(10*time.Millisecond), r.PlainCPU.Round(10*time.Millisecond),
			r.AuditCPU.Round(10*time.Millisecond), r.AddedCPU.Round(10*time.Millisecond),
			100*float64(r.AddedCPU)/float64(max(1, r.PlainCPU)), r.Prep.Round(100*time.Millisecond)),
		fmt.Sprintf("bytes: baselines %s (all tenants), drift %s, findings %s, summary+report %s; inventory of one run %s",
			mib(r.Bytes["baseline"]), mib(r.Bytes["drift"]), mib(r.Bytes["findings"]), mib(r.Bytes["audit"]), mib(r.InventoryBytes)),
	}
	for i, p := range r.Pairs {
		check := "equal"
		if p.Found != p.SimChanges {
			check = "DIFFERENT"
		}
		order := "plain first"
		if p.AuditFirst {
			order = "audited first"
		}
		lines = append(lines, fmt.Sprintf("pair %d (%s): plain %s / audited %s wall, %s / %s CPU; changes found %d, made by the simulator %d (%s); audit errors %d",
			i+1, order, p.PlainWall.Round(10*time.Millisecond), p.AuditWall.Round(10*time.Millisecond), p.PlainCPU.Round(10*time.Millisecond),
			p.AuditCPU.Round(10*time.Millisecond), p.Found, p.SimChanges, check, p.AuditErrors))
	}
	if r.SlotBound > 0 {
		lines = append(lines, fmt.Sprintf("tenant slots: %d tenants at a time, each holding its slot for its New Central requests at %.3g req/s per workspace: >= %s",
			res.Config.Concurrency, res.Config.CentralRate, r.SlotBound.Round(10*time.Millisecond)))
	}
	if d := res.Config.SinkLatency; d > 0 {
		lines = append(lines, fmt.Sprintf("output: every Get, Put, List and Commit waited %s (as an S3 round trip), for the plain and the audited runs alike", d))
	}
	return lines
}

// Drift scenarios' settings (docs/benchmarks.md).
const (
	// DriftMinDevices and DriftMaxDevices bound a drift scenario's tenant
	// sizes: MSP customers of 20 to 100 devices, spread evenly.
	DriftMinDevices = 20
	DriftMaxDevices = 100
	// DriftCPUConcurrency is drift-cpu's tenant concurrency: high enough
	// that the per-workspace budgets no longer bind and the run is
	// CPU-bound on a small machine.
	DriftCPUConcurrency = 500
	// DriftMutatePercent is the share of tenants changed before each
	// measured pair.
	DriftMutatePercent = 5
)

// DriftScenario returns the drift scenario name, if it is one:
//
//   - "drift": the job's defaults: the client starts at the SDK's default
//     budgets (New Central 8 req/s, scope detected, GLP as documented) and
//     the collector's default concurrency (collector.DefaultConcurrency);
//     the simulator limits New Central to 8 req/s per workspace. Two
//     measured pairs, in alternating order.
//   - "drift-cpu": New Central 8 req/s per workspace (configured) at
//     concurrency DriftCPUConcurrency, so the budgets do not bind and the
//     run is CPU-bound; three measured pairs.
//
// Both take their tenant tokens from a file token cache refreshed first,
// as the job does. Tenants have DriftMinDevices to DriftMaxDevices devices; before each pair
// DriftMutatePercent of them are changed. concurrency, when above 0,
// replaces the scenario's.
func DriftScenario(name string, tenants int, latency time.Duration, seed int64, concurrency int) (Config, bool) {
	cfg := Config{Name: name, Tenants: tenants, DevicesPerTenant: DriftMaxDevices, MinDevices: DriftMinDevices, Seed: seed,
		Latency: latency, CentralScope: central.ScopeWorkspace, CentralRate: DefaultCentralRate, Warm: true,
		Drift: &DriftConfig{MutateTenants: max(1, tenants*DriftMutatePercent/100), Reps: 1, PrepConcurrency: DefaultConcurrency}}
	switch name {
	case "drift":
		cfg.LearnCentral, cfg.Concurrency, cfg.Drift.Reps = true, collector.DefaultConcurrency, 2
	case "drift-cpu":
		cfg.Concurrency, cfg.Drift.Reps = DriftCPUConcurrency, 3
	default:
		return Config{}, false
	}
	if concurrency > 0 {
		cfg.Concurrency = concurrency
	}
	return cfg, true
}

// slowSink returns s with every request delayed by d (s itself when d is
// 0), as a remote object store's round trips would delay it.
func slowSink(s sink.Sink, d time.Duration) sink.Sink {
	if d <= 0 {
		return s
	}
	return &latencySink{Sink: s, d: d}
}

// latencySink delays the requests of the sink it wraps.
type latencySink struct {
	sink.Sink
	d time.Duration
}

func (l *latencySink) Put(ctx context.Context, key string, body []byte, contentType string) error {
	if err := httpcore.Sleep(ctx, l.d); err != nil {
		return err
	}
	return l.Sink.Put(ctx, key, body, contentType)
}

func (l *latencySink) Get(ctx context.Context, key string) ([]byte, error) {
	if err := httpcore.Sleep(ctx, l.d); err != nil {
		return nil, err
	}
	return l.Sink.Get(ctx, key)
}

func (l *latencySink) List(ctx context.Context, prefix string) ([]string, error) {
	if err := httpcore.Sleep(ctx, l.d); err != nil {
		return nil, err
	}
	return l.Sink.List(ctx, prefix)
}

func (l *latencySink) Create(ctx context.Context, key, contentType string) (sink.Object, error) {
	o, err := l.Sink.Create(ctx, key, contentType)
	if err != nil {
		return nil, err
	}
	return &latencyObject{Object: o, d: l.d}, nil
}

// latencyObject delays its Commit.
type latencyObject struct {
	sink.Object
	d time.Duration
}

func (o *latencyObject) Commit(ctx context.Context) (sink.Info, error) {
	if err := httpcore.Sleep(ctx, o.d); err != nil {
		return sink.Info{}, err
	}
	return o.Object.Commit(ctx)
}
