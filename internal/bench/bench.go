// Package bench measures the collector at MSP scale against the simulator
// and compares the wall time with a lower bound.
//
// Every scenario runs two child processes of one executable (the centralmsp
// binary, or a test binary through TestMain): the simulator, and the
// collector, so the collector's peak RSS is measured alone. A child learns
// its role from the CENTRALMSP_BENCH_CHILD environment variable; the
// executable must call Child first thing (the bench command and TestMain do).
//
// The lower bound of a run is the largest of
//
//   - the critical path: the simulated latency times the longest chain of
//     requests that must follow one another (the MSP token, the tenant list
//     pages, then one tenant's exchange and its longest dataset page chain;
//     a tenant's datasets are independent of one another; under a
//     per-workspace New Central budget also the tenant's own requests over
//     its rate, plus the last one's latency), and
//   - for each client budget: the requests its busiest bucket admitted
//     (beyond the bucket's burst) divided by its rate.
//
// Request counts come from the simulator's accounting during the
// collection.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// Environment variables of a child process.
const (
	EnvChild  = "CENTRALMSP_BENCH_CHILD"  // "sim" or "collector"
	EnvConfig = "CENTRALMSP_BENCH_CONFIG" // the child's JSON configuration
	// EnvCPUProfile, when set in the bench command's environment, makes the
	// collector child write a CPU profile of the collection to that file.
	EnvCPUProfile = "CENTRALMSP_BENCH_CPUPROFILE"
)

// Defaults of the benchmark's scenario (docs/benchmarks.md).
const (
	DefaultTenants          = 1000
	DefaultDevicesPerTenant = 300
	DefaultLatency          = 20 * time.Millisecond
	// DefaultCentralRate is the SDK's New Central budget (requests/s).
	DefaultCentralRate = 8
	// DefaultCentralBurst is the SDK's New Central burst: 1, because the
	// server counts fixed windows and a burst on top of the rate overruns one.
	DefaultCentralBurst = 1
	// DefaultConcurrency is the bench's tenant concurrency: enough tenants
	// in flight to keep per-workspace budgets busy (a tenant waits for its
	// budget most of its time, holding no gzip state while it waits), with
	// peak RSS near 60 MB.
	DefaultConcurrency = 128
)

// Config is one scenario.
type Config struct {
	// Name labels the scenario in tables.
	Name string `json:"name"`
	// Tenants and DevicesPerTenant size the simulated MSP; tenant i has
	// DevicesPerTenant ± 10% devices (deterministic).
	Tenants          int   `json:"tenants"`
	DevicesPerTenant int   `json:"devices_per_tenant"`
	Seed             int64 `json:"seed"`
	// Latency is added by the simulator to every request.
	Latency time.Duration `json:"latency"`
	// CentralScope is the scope of the New Central budget, for the
	// simulator's limit and the client's budget alike.
	CentralScope central.Scope `json:"central_scope"`
	// CentralRate is New Central's requests/s, for the simulator and the
	// client alike (0: DefaultCentralRate). GLP budgets are the defaults.
	CentralRate float64 `json:"central_rate"`
	// Concurrency is the collector's tenant concurrency (0: its default).
	Concurrency int `json:"concurrency"`
	// Warm runs a token refresh into a file token cache before the
	// collection, which then takes its tenant tokens from the cache.
	Warm bool `json:"warm"`
	// LearnCentral starts the client at the SDK's default New Central
	// budget (DefaultCentralRate, scope detected), whatever CentralRate and
	// CentralScope the simulator enforces: the client must learn them from
	// the X-RateLimit-* headers.
	LearnCentral bool `json:"learn_central,omitempty"`
	// GLPHeaders makes every GLP API family answer with its own
	// per-workspace window (300/min) and ratelimit-* headers, as the real
	// GLP does; without it only devices and subscriptions are limited.
	GLPHeaders bool `json:"glp_headers,omitempty"`
	// Target is the scenario's ratio target (0: TargetRatio).
	Target float64 `json:"target,omitempty"`
	// Datasets (empty: the collector's default set).
	Datasets []string `json:"datasets,omitempty"`
	// MinDevices, when above 0, gives tenant i between MinDevices and
	// DevicesPerTenant devices (spread evenly) instead of
	// DevicesPerTenant ± 10%.
	MinDevices int `json:"min_devices,omitempty"`
	// Drift, when set, measures what drift detection adds (DriftConfig).
	Drift *DriftConfig `json:"drift,omitempty"`
	// SinkLatency delays every request to the output (Get, Put, List and
	// an object's Commit), as an S3 round trip would; 0 writes to a local
	// directory as fast as it can.
	SinkLatency time.Duration `json:"sink_latency,omitempty"`
	// FunctionMemoryMB, when above 0, gives the collector child the soft
	// memory limit the collector Lambda gets at that memory size
	// (envconf.MemoryLimit: 85 %), so peak RSS is measured as deployed;
	// 0 runs it with the Go runtime's defaults.
	FunctionMemoryMB int `json:"function_memory_mb,omitempty"`
	// WorkDir holds the credentials, the token cache and the output (when
	// empty, a temporary directory in /dev/shm if usable, removed after the
	// run).
	WorkDir string `json:"work_dir,omitempty"`
}

func (c Config) withDefaults() Config {
	if c.Tenants <= 0 {
		c.Tenants = DefaultTenants
	}
	if c.DevicesPerTenant <= 0 {
		c.DevicesPerTenant = DefaultDevicesPerTenant
	}
	if c.CentralRate <= 0 {
		c.CentralRate = DefaultCentralRate
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Concurrency <= 0 {
		c.Concurrency = collector.DefaultConcurrency
	}
	if c.Target <= 0 {
		c.Target = TargetRatio
	}
	return c
}

// Command is how to start a child: the executable and the arguments that
// bring it to Child.
type Command struct {
	Path string
	Args []string
}

// BudgetBound is one budget's share of the lower bound.
type BudgetBound struct {
	Name  string  `json:"name"`
	Scope string  `json:"scope"`
	Rate  float64 `json:"rate"` // requests/s
	Burst int     `json:"burst"`
	// Requests admitted by the busiest bucket (all tenants for an account
	// budget, the busiest tenant for a workspace budget).
	Requests int64         `json:"requests"`
	Bound    time.Duration `json:"bound"`
}

// Result is a scenario's measurements.
type Result struct {
	Config Config `json:"config"`
	// Wall is the collection's wall time (collector.Run, manifest included).
	Wall         time.Duration `json:"wall"`
	CriticalPath time.Duration `json:"critical_path"`
	Budgets      []BudgetBound `json:"budgets"`
	LowerBound   time.Duration `json:"lower_bound"`
	BoundBy      string        `json:"bound_by"`
	// Ratio is Wall / LowerBound (target at most 1.15).
	Ratio float64 `json:"ratio"`
	// PeakRSS is the collector process's peak resident set (bytes).
	PeakRSS int64 `json:"peak_rss"`
	// MemoryLimit is the collector's soft memory limit (bytes) when the
	// scenario gave it a function's memory (Config.FunctionMemoryMB).
	MemoryLimit int64 `json:"memory_limit,omitempty"`
	// CPU is the collector process's user+system time during the
	// collection, SimCPU the simulator's, and Cores the CPUs available.
	CPU    time.Duration `json:"cpu"`
	SimCPU time.Duration `json:"sim_cpu"`
	Cores  int           `json:"cores"`
	// MachineBusy is the share of the machine's CPU time that was busy
	// during the collection, whoever used it (other processes included).
	MachineBusy float64 `json:"machine_busy"`
	// GzipFloor is the wall time compressing the output alone needs on
	// this machine.
	GzipFloor *GzipFloor `json:"gzip_floor,omitempty"`
	// CPUPerMillion is the collector's CPU-seconds per million records
	// written, GzipPerMillion the gzip floor's (compression alone).
	CPUPerMillion  float64 `json:"cpu_s_per_million_records"`
	GzipPerMillion float64 `json:"gzip_s_per_million_records"`
	// IOFloor is the kernel's least part of the run's I/O (its answers
	// read, its objects made durable) and IOPerMillion its CPU-seconds per
	// million records: with the gzip floor, the work no collector on this
	// machine can skip.
	IOFloor      *IOFloor `json:"io_floor,omitempty"`
	IOPerMillion float64  `json:"io_s_per_million_records,omitempty"`
	// CentralLearned is the New Central budget as the client ended it (rate
	// and scope learned from the server), when the client reported it.
	CentralLearned *central.BudgetReport `json:"central_learned,omitempty"`
	// Refresh is the token refresh's duration (warm runs).
	Refresh time.Duration `json:"refresh"`
	// Counts during the collection, from the simulator.
	Requests           int64   `json:"requests"`
	Exchanges          int64   `json:"exchanges"`
	ExchangesPerTenant float64 `json:"exchanges_per_tenant"`
	BodyBytes          int64   `json:"body_bytes"`
	RateLimited        int64   `json:"rate_limited"`
	// From the manifest.
	TenantsOK   int   `json:"tenants_ok"`
	Tenants     int   `json:"tenants"`
	DatasetsOK  int   `json:"datasets_ok"`
	Records     int64 `json:"records"`
	CacheHits   int64 `json:"cache_hits"`
	CacheMisses int64 `json:"cache_misses"`
	Complete    bool  `json:"complete"`
	// Drift holds a drift scenario's figures; the figures above are then
	// its last plain (audit off) collection's.
	Drift *DriftResult `json:"drift,omitempty"`
}

// Run runs one scenario: the simulator and the collector as children of
// cmd. ctx bounds it.
func Run(ctx context.Context, cfg Config, cmd Command) (*Result, error) {
	cfg = cfg.withDefaults()
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp(scratchRoot(), "centralmsp-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.WorkDir = dir
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cc := childConfig{Config: cfg, Credentials: filepath.Join(cfg.WorkDir, "credentials.yaml")}

	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	sim, simOut, err := startChild(simCtx, cmd, "sim", cc)
	if err != nil {
		return nil, err
	}
	defer func() {
		stopSim()
		_ = sim.Wait()
	}()
	line, err := bufio.NewReader(simOut).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("bench: the simulator did not start: %w", err)
	}
	urls := strings.Fields(line)
	if len(urls) == 0 {
		return nil, errors.New("bench: the simulator announced no URL")
	}
	cc.SimURL, cc.SimPID = urls[0], sim.Process.Pid
	if len(urls) > 1 {
		cc.SimControl = urls[1]
	}

	col, colOut, err := startChild(ctx, cmd, "collector", cc)
	if err != nil {
		return nil, err
	}
	raw, readErr := io.ReadAll(colOut)
	waitErr := col.Wait()
	if waitErr != nil || readErr != nil {
		return nil, fmt.Errorf("bench: collector child: %w", errors.Join(waitErr, readErr))
	}
	var rep childReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("bench: collector child report: %w (%.200q)", err, raw)
	}
	res := analyse(cfg, &rep)
	res.PeakRSS = maxRSS(col.ProcessState)
	if res.PeakRSS == 0 {
		res.PeakRSS = rep.VmHWM
	}
	if cfg.FunctionMemoryMB > 0 {
		res.MemoryLimit = rep.MemoryLimit
	}
	// CPU per record against what compression alone costs.
	stopSim()
	floor, err := measureGzipFloor(filepath.Join(cfg.WorkDir, "out-"+cfg.Name), res.Cores, res.LowerBound)
	if err != nil {
		return nil, err
	}
	res.GzipFloor = floor
	iof, err := measureIOFloor(cfg.WorkDir, res.Requests, res.BodyBytes, floor.Objects, floor.Bytes)
	if err != nil {
		return nil, fmt.Errorf("bench: I/O floor: %w", err)
	}
	res.IOFloor = iof
	if res.Records > 0 {
		perM := func(d time.Duration) float64 { return d.Seconds() / float64(res.Records) * 1e6 }
		res.CPUPerMillion, res.GzipPerMillion = perM(res.CPU), perM(floor.CPU)
		if iof != nil {
			res.IOPerMillion = perM(iof.CPU)
		}
	}
	return res, nil
}

// scratchRoot is where a temporary work directory goes: /dev/shm (memory)
// when usable, so the output files cost no disk I/O (the Lambda writes to S3,
// not to a local disk), else the system's temporary directory.
func scratchRoot() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "centralmsp-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

// startChild starts a child with its role and configuration; its stdout is
// returned and its stderr passed through.
func startChild(ctx context.Context, c Command, role string, cc childConfig) (*exec.Cmd, io.Reader, error) {
	b, err := json.Marshal(cc)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Env = append(os.Environ(), EnvChild+"="+role, EnvConfig+"="+string(b))
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	// Held open until the child exits: a child whose parent dies sees EOF.
	if _, err := cmd.StdinPipe(); err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("bench: starting the %s child: %w", role, err)
	}
	return cmd, out, nil
}

// analyse computes the lower bound and the ratio from a child's report.
func analyse(cfg Config, rep *childReport) *Result {
	d := rep.Stats1.minus(rep.Stats0)
	res := &Result{
		Config: cfg, Wall: rep.Wall, CPU: rep.CPU, SimCPU: rep.SimCPU, Cores: runtime.NumCPU(), Refresh: rep.Refresh,
		Requests: d.Requests, Exchanges: d.Exchanges, RateLimited: d.RateLimited, BodyBytes: d.BodyBytes,
		TenantsOK: rep.Totals.TenantsOK, Tenants: rep.Totals.Tenants, DatasetsOK: rep.Totals.DatasetsOK,
		Records: rep.Totals.Records, CacheHits: rep.Totals.TokenCacheHits, CacheMisses: rep.Totals.TokenCacheMisses,
		Complete: rep.Complete, CentralLearned: rep.Central,
	}
	if rep.MachineTotal > 0 {
		res.MachineBusy = float64(rep.MachineBusy) / float64(rep.MachineTotal)
	}
	if res.Tenants > 0 {
		res.ExchangesPerTenant = float64(d.Exchanges) / float64(res.Tenants)
	}

	perTenant := centralPerTenant(d)
	res.CriticalPath = criticalPath(cfg, d, perTenant)

	// Budgets.
	cb := BudgetBound{Name: "central", Scope: cfg.CentralScope.String(), Rate: cfg.CentralRate, Burst: DefaultCentralBurst}
	cb.Requests = busiest(perTenant, cfg.CentralScope == central.ScopeAccount)
	res.Budgets = append(res.Budgets, cb)
	var slots time.Duration
	if rep.Drift != nil {
		if cfg.CentralScope == central.ScopeWorkspace {
			slots = slotBound(cfg, perTenant)
		}
		res.Drift = analyseDrift(cfg, rep.Drift, slots)
	}
	for _, b := range []struct {
		name, ep string
		rate     float64
		burst    int
	}{
		{"glp-devices", centralsim.EndpointGLPDevices, 160.0 / 60, 4},
		{"glp-subscriptions", centralsim.EndpointSubscriptions, 1, 2},
	} {
		res.Budgets = append(res.Budgets, BudgetBound{Name: b.name, Scope: "workspace", Rate: b.rate, Burst: b.burst,
			Requests: busiest(d.ByEndpointTenant[b.ep], false)})
	}
	res.LowerBound, res.BoundBy = res.CriticalPath, "critical path"
	for i := range res.Budgets {
		b := &res.Budgets[i]
		// A token bucket admits Burst requests at once, then Rate per second.
		b.Bound = time.Duration(float64(max(0, b.Requests-int64(b.Burst))) / b.Rate * float64(time.Second))
		if b.Bound > res.LowerBound {
			res.LowerBound, res.BoundBy = b.Bound, b.Name+" budget"
		}
	}
	// A drift scenario runs at the collector's default concurrency, where
	// the tenant slots bind before any budget's total does.
	if slots > res.LowerBound {
		res.LowerBound, res.BoundBy = slots, "tenant slots"
	}
	if res.LowerBound > 0 {
		res.Ratio = float64(res.Wall) / float64(res.LowerBound)
	}
	return res
}

// centralPerTenant counts each tenant's New Central requests.
func centralPerTenant(d simStats) map[string]int64 {
	perTenant := map[string]int64{}
	for ep, per := range d.ByEndpointTenant {
		if !strings.HasPrefix(ep, centralsim.CentralPrefix+"/") {
			continue
		}
		for t, n := range per {
			perTenant[t] += n
		}
	}
	return perTenant
}

// criticalPath is the time the collection needs with unlimited CPU: the MSP
// token and the tenant list pages, then the slowest tenant's exchange and
// its longest dataset page chain (a tenant's datasets are independent of
// one another). Under a per-workspace New Central budget the tenant's own
// requests also take (requests - burst) / rate, plus the last one's latency:
// no collector can beat that tenant's path however fast it runs.
func criticalPath(cfg Config, d simStats, centralByTenant map[string]int64) time.Duration {
	lat := cfg.Latency
	tenantPath := func(tenant string) time.Duration {
		var longest int64
		for ep, per := range d.ByEndpointTenant {
			if ep == centralsim.EndpointToken || ep == centralsim.EndpointMSPTenants {
				continue
			}
			longest = max(longest, per[tenant])
		}
		own := time.Duration(longest) * lat
		if n := centralByTenant[tenant]; cfg.CentralScope == central.ScopeWorkspace && n > 0 && cfg.CentralRate > 0 {
			paced := time.Duration(float64(max(0, n-DefaultCentralBurst)) / cfg.CentralRate * float64(time.Second))
			own = max(own, paced+lat)
		}
		return time.Duration(d.ExchangesByTenant[tenant])*lat + own
	}
	var slowest time.Duration
	for t := range d.ByTenant {
		slowest = max(slowest, tenantPath(t))
	}
	for t := range d.ExchangesByTenant {
		slowest = max(slowest, tenantPath(t))
	}
	mspChain := d.ByEndpoint[centralsim.EndpointMSPTenants] + d.TokensByKind[centralsim.KindMSP]
	return time.Duration(mspChain)*lat + slowest
}

// busiest returns the sum of counts (shared bucket) or the largest count
// (one bucket per key).
func busiest(counts map[string]int64, shared bool) int64 {
	var sum, most int64
	for _, n := range counts {
		sum += n
		most = max(most, n)
	}
	if shared {
		return sum
	}
	return most
}

// simStats is the part of centralsim.Stats the bound needs.
type simStats struct {
	Requests          int64                       `json:"requests"`
	ByEndpoint        map[string]int64            `json:"byEndpoint"`
	ByTenant          map[string]int64            `json:"byTenant"`
	ByEndpointTenant  map[string]map[string]int64 `json:"byEndpointTenant"`
	TokensByKind      map[string]int64            `json:"tokensByKind"`
	Exchanges         int64                       `json:"exchanges"`
	ExchangesByTenant map[string]int64            `json:"exchangesByTenant"`
	RateLimited       int64                       `json:"rateLimited"`
	BodyBytes         int64                       `json:"bodyBytes"`
}

// minus returns s - o, key by key.
func (s simStats) minus(o simStats) simStats {
	sub := func(a, b map[string]int64) map[string]int64 {
		out := map[string]int64{}
		for k, v := range a {
			if d := v - b[k]; d != 0 {
				out[k] = d
			}
		}
		return out
	}
	r := simStats{
		Requests: s.Requests - o.Requests, Exchanges: s.Exchanges - o.Exchanges, RateLimited: s.RateLimited - o.RateLimited,
		BodyBytes:  s.BodyBytes - o.BodyBytes,
		ByEndpoint: sub(s.ByEndpoint, o.ByEndpoint), ByTenant: sub(s.ByTenant, o.ByTenant),
		TokensByKind: sub(s.TokensByKind, o.TokensByKind), ExchangesByTenant: sub(s.ExchangesByTenant, o.ExchangesByTenant),
		ByEndpointTenant: map[string]map[string]int64{},
	}
	for ep, per := range s.ByEndpointTenant {
		r.ByEndpointTenant[ep] = sub(per, o.ByEndpointTenant[ep])
	}
	return r
}

// fetchStats reads the simulator's accounting over HTTP.
func fetchStats(ctx context.Context, simURL string) (simStats, error) {
	var st simStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, simURL+centralsim.EndpointStats, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("bench: simulator stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("bench: simulator stats: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("bench: simulator stats: %w", err)
	}
	return st, nil
}

// Targets the benchmark checks its results against (docs/benchmarks.md).
const (
	TargetRatio = 1.15
	// TargetLearnRatio is the target of a scenario whose client must learn
	// the server's New Central limit.
	TargetLearnRatio = 1.10
	// TargetCPUOverGzip is the collector's CPU per record over the gzip
	// floor's.
	TargetCPUOverGzip = 2.0
	TargetPeakRSS     = 150e6 // bytes
)

// CPUUtilisation is the share of the machine's cores the collector and the
// simulator kept busy during the collection.
func (r *Result) CPUUtilisation() float64 {
	if r.Wall <= 0 || r.Cores <= 0 {
		return 0
	}
	return float64(r.CPU+r.SimCPU) / (float64(r.Wall) * float64(r.Cores))
}

// Verdicts returns one line per target: met, or missed with the likely
// reason.
func (r *Result) Verdicts() []string {
	var v []string
	target := r.Config.Target
	if target <= 0 {
		target = TargetRatio
	}
	switch {
	case r.Ratio <= target:
		v = append(v, fmt.Sprintf("ratio %.2f <= %.2f: met", r.Ratio, target))
	case r.MachineBusy >= 0.85 || r.CPUUtilisation() >= 0.85:
		other := time.Duration(r.MachineBusy*float64(r.Wall)*float64(r.Cores)) - r.CPU - r.SimCPU
		perCore := time.Duration(float64(r.CPU+r.SimCPU) / float64(r.Cores))
		v = append(v, fmt.Sprintf("ratio %.2f > %.2f: MISSED, CPU-bound: the %d cores were %.0f%% busy (collector %s, simulator %s, other processes %s of CPU); "+
			"the collector and simulator alone need %s of CPU per core, %.0fx the bound (%s, the %s), which ignores CPU. "+
			"Fix: more cores, the simulator on another machine, or less CPU per record in the collector (gzip and JSON are most of it)",
			r.Ratio, target, r.Cores, 100*r.MachineBusy, r.CPU.Round(100*time.Millisecond), r.SimCPU.Round(100*time.Millisecond),
			max(0, other).Round(100*time.Millisecond), perCore.Round(100*time.Millisecond), float64(perCore)/float64(r.LowerBound),
			r.LowerBound.Round(10*time.Millisecond), r.BoundBy))
		if f := r.GzipFloor; f != nil {
			v = append(v, fmt.Sprintf("gzip floor: compressing the output alone (%.0f MB of NDJSON at level %d) takes %s of CPU, %s on %d cores: "+
				"no collector writing this output can do better than ratio %.2f here",
				float64(f.RawBytes)/1e6, collector.GzipLevel, f.CPU.Round(10*time.Millisecond), f.Wall.Round(10*time.Millisecond), r.Cores, f.Ratio))
		}
	default:
		v = append(v, fmt.Sprintf("ratio %.2f > %.2f: MISSED with the machine %.0f%% busy: the collector's concurrency did not keep the %s busy; raise --concurrency",
			r.Ratio, target, 100*r.MachineBusy, r.BoundBy))
	}
	if r.GzipPerMillion > 0 {
		state := "met"
		if r.CPUPerMillion > TargetCPUOverGzip*r.GzipPerMillion {
			state = "MISSED"
		}
		v = append(v, fmt.Sprintf("collector CPU %.2f s per million records, gzip floor %.2f s (%.1fx, target <= %.0fx): %s",
			r.CPUPerMillion, r.GzipPerMillion, r.CPUPerMillion/r.GzipPerMillion, TargetCPUOverGzip, state))
	}
	if f := r.IOFloor; f != nil && r.IOPerMillion > 0 {
		floors := r.GzipPerMillion + r.IOPerMillion
		v = append(v, fmt.Sprintf("gzip and I/O floors %.2f s per million records, %.1fx the gzip floor alone "+
			"(the kernel's part of %d answers of %.0f KB, %.0f us each, and %d objects of %.1f KB, %.0f us each): the collector is %.1fx the work no collector can skip",
			floors, floors/r.GzipPerMillion, f.Answers, float64(f.AnswerBytes)/1024, float64(f.PerAnswer)/1e3,
			f.Objects, float64(f.ObjectBytes)/1024, float64(f.PerObject)/1e3, r.CPUPerMillion/floors))
	}
	if c := r.CentralLearned; c != nil {
		v = append(v, fmt.Sprintf("New Central budget learned: %.3g req/s (server limit %d per %gs), scope %s (%s; windows independent %d / shared %d)",
			c.Rate, c.Limit, c.WindowSeconds, c.Scope, c.ScopeSource, c.IndependentWindows, c.SharedWindows))
	}
	v = append(v, r.rssVerdict())
	warm := r.Config.Warm
	want := 1.0
	if warm {
		want = 0
	}
	state := "met"
	if r.ExchangesPerTenant != want {
		state = "MISSED"
	}
	v = append(v, fmt.Sprintf("exchanges/tenant %.3f (want %.0f, %s cache): %s", r.ExchangesPerTenant, want, map[bool]string{true: "warm", false: "cold"}[warm], state))
	if r.RateLimited == 0 {
		v = append(v, "requests answered 429: 0 (want 0): met")
	} else {
		v = append(v, fmt.Sprintf("requests answered 429: %d of %d (want 0): MISSED: the budgets pause a window at remaining 0 and run a safe "+
			"margin under the limit the server states (New Central %.3g req/s configured); 429s left mean requests landed in a window "+
			"the client had not heard of yet (clock skew, or a limit lower than stated). The SDK pauses the budget and retries them (no data lost)",
			r.RateLimited, r.Requests, r.Config.CentralRate))
	}
	if !r.Complete || r.TenantsOK != r.Tenants {
		v = append(v, fmt.Sprintf("run INCOMPLETE: %d of %d tenants ok", r.TenantsOK, r.Tenants))
	}
	return v
}

// rssVerdict compares the peak RSS with TargetPeakRSS and, when the run
// had a function's memory, with that memory: the size at which Lambda
// would have stopped the invocation.
func (r *Result) rssVerdict() string {
	rss := float64(r.PeakRSS) / 1e6
	state := "met"
	if r.PeakRSS <= 0 || r.PeakRSS > TargetPeakRSS {
		state = "MISSED"
	}
	mb := r.Config.FunctionMemoryMB
	if mb <= 0 {
		return fmt.Sprintf("peak RSS %.0f MB (target <= 150 MB): %s", rss, state)
	}
	fits := "fits"
	if r.PeakRSS <= 0 || r.PeakRSS > int64(mb)<<20 {
		fits, state = "does NOT fit", "MISSED"
	}
	return fmt.Sprintf("peak RSS %.0f MB (target <= 150 MB) with a soft limit of %.0f MB, as a %d MB function has, which it %s: %s",
		rss, float64(r.MemoryLimit)/1e6, mb, fits, state)
}

// WriteTable prints results as an aligned table, then per scenario the
// bound's parts and the verdict on each target.
func WriteTable(w io.Writer, results []*Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %8s %8s %-24s %6s %9s %6s %6s %9s %5s %10s %9s %9s %9s\n",
		"SCENARIO", "WALL", "BOUND", "BOUND BY", "RATIO", "PEAK RSS", "CPU%", "BUSY%", "EXCH/TEN", "429s", "RECORDS", "TENANTS", "CPU s/M", "GZIP s/M")
	for _, r := range results {
		fmt.Fprintf(&b, "%-22s %8s %8s %-24s %6.2f %6.0f MB %5.0f%% %5.0f%% %9.3f %5d %10d %4d/%-4d %9.2f %9.2f\n",
			termsafe.Cell(r.Config.Name, 22), r.Wall.Round(10*time.Millisecond), r.LowerBound.Round(10*time.Millisecond),
			termsafe.Cell(r.BoundBy, 24), r.Ratio, float64(r.PeakRSS)/1e6, 100*r.CPUUtilisation(), 100*r.MachineBusy,
			r.ExchangesPerTenant, r.RateLimited, r.Records, r.TenantsOK, r.Tenants, r.CPUPerMillion, r.GzipPerMillion)
	}
	b.WriteString("\nbound = max(critical path, per budget: busiest bucket's (requests - burst) / rate); requests counted by the simulator.\n")
	b.WriteString("CPU s/M is the collector's CPU-seconds per million records; GZIP s/M what compressing the same output alone costs (target: at most 2x).\n")
	b.WriteString("PEAK RSS is the collector process alone (the simulator runs in its own process); CPU% is collector + simulator CPU over wall x cores;\nBUSY% is the whole machine's CPU (other processes included) during the collection.\n")
	for _, r := range results {
		devices := fmt.Sprintf("~%d devices", r.Config.DevicesPerTenant)
		if lo := r.Config.MinDevices; lo > 0 && lo < r.Config.DevicesPerTenant {
			devices = fmt.Sprintf("%d-%d devices", lo, r.Config.DevicesPerTenant)
		}
		fmt.Fprintf(&b, "\n%s (%d tenants, %s, %s latency, New Central %.0f req/s per %s, concurrency %d",
			r.Config.Name, r.Config.Tenants, devices, r.Config.Latency, r.Config.CentralRate, r.Config.CentralScope, r.Config.Concurrency)
		if r.Config.LearnCentral {
			b.WriteString(", client at the SDK's default budgets (scope detected)")
		}
		if r.Config.Warm {
			fmt.Fprintf(&b, ", warm cache: refresh took %s", r.Refresh.Round(10*time.Millisecond))
		}
		b.WriteString(")\n")
		fmt.Fprintf(&b, "  critical path %s; ", r.CriticalPath.Round(time.Millisecond))
		var parts []string
		for _, bb := range r.Budgets {
			parts = append(parts, fmt.Sprintf("%s %d req @ %.3g/s per %s = %s", bb.Name, bb.Requests, bb.Rate, bb.Scope, bb.Bound.Round(10*time.Millisecond)))
		}
		sort.Strings(parts)
		b.WriteString(strings.Join(parts, "; ") + "\n")
		fmt.Fprintf(&b, "  requests %d, cache hits %d / misses %d, CPU collector %s + simulator %s on %d cores\n",
			r.Requests, r.CacheHits, r.CacheMisses, r.CPU.Round(100*time.Millisecond), r.SimCPU.Round(100*time.Millisecond), r.Cores)
		if r.Drift != nil {
			for _, l := range r.Drift.driftLines(r) {
				b.WriteString("  * " + l + "\n")
			}
		}
		for _, v := range r.Verdicts() {
			b.WriteString("  - " + v + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
