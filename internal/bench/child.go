package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/centralmsp/centralmsp/internal/apibudget"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
	"github.com/centralmsp/centralmsp/internal/lambdafn/tokenrefresh"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// childConfig is what the parent hands a child (EnvConfig).
type childConfig struct {
	Config      Config `json:"config"`
	Credentials string `json:"credentials"` // written by the simulator child
	SimURL      string `json:"sim_url,omitempty"`
	SimPID      int    `json:"sim_pid,omitempty"`
	// SimControl is the simulator child's control URL (drift scenarios).
	SimControl string `json:"sim_control,omitempty"`
}

// childReport is what the collector child prints on stdout.
type childReport struct {
	Wall    time.Duration `json:"wall"`
	Refresh time.Duration `json:"refresh"`
	CPU     time.Duration `json:"cpu"`
	SimCPU  time.Duration `json:"sim_cpu"` // the simulator's, during the collection
	// MachineBusy and MachineTotal are the whole machine's busy and total
	// CPU time during the collection.
	MachineBusy  time.Duration    `json:"machine_busy"`
	MachineTotal time.Duration    `json:"machine_total"`
	VmHWM        int64            `json:"vm_hwm"`
	Stats0       simStats         `json:"stats0"`
	Stats1       simStats         `json:"stats1"`
	Totals       collector.Totals `json:"totals"`
	Complete     bool             `json:"complete"`
	// Central is the New Central budget as the collection ended it.
	Central *central.BudgetReport `json:"central,omitempty"`
	// MemoryLimit is the Go runtime's soft memory limit as the collection
	// ran (math.MaxInt64: none).
	MemoryLimit int64 `json:"memory_limit"`
	// Drift holds a drift scenario's measured pairs.
	Drift *driftReport `json:"drift,omitempty"`
}

// Child runs the role the environment gives this process (EnvChild), if
// any, and reports whether it did; the caller should then exit with status
// 1 when err is not nil, and 0 otherwise. A child stops when ctx ends, on
// SIGINT/SIGTERM, or when its standard input closes (the parent died).
func Child(ctx context.Context, getenv func(string) string, stdout io.Writer) (bool, error) {
	role := getenv(EnvChild)
	if role == "" {
		return false, nil
	}
	var cc childConfig
	if err := json.Unmarshal([]byte(getenv(EnvConfig)), &cc); err != nil {
		return true, fmt.Errorf("bench child: %s: %w", EnvConfig, err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	switch role {
	case "sim":
		return true, serveSim(ctx, cc, stdout)
	case "collector":
		return true, runCollector(ctx, cc, stdout)
	}
	return true, fmt.Errorf("bench child: unknown role %q", role)
}

// tenantDevices gives tenant i about n devices (n ± 10%, deterministic),
// or, when lo > 0, between lo and n devices, spread evenly.
func tenantDevices(n, lo int) func(int) int {
	if lo > 0 && lo < n {
		return func(i int) int { return lo + (i*7919)%(n-lo+1) }
	}
	return func(i int) int {
		spread := n/5 + 1
		return n - n/10 + (i*7919)%spread
	}
}

// simScope maps a client scope to the simulator's.
func simScope(s central.Scope) centralsim.Scope {
	if s == central.ScopeWorkspace {
		return centralsim.ScopeWorkspace
	}
	return centralsim.ScopeAccount
}

// serveSim runs the simulator until ctx ends. It generates every tenant's
// data before it announces its URL, so generation is not measured.
func serveSim(ctx context.Context, cc childConfig, stdout io.Writer) error {
	cfg := cc.Config
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = cfg.Tenants
		o.Seed = cfg.Seed
		o.DevicesPerTenant = tenantDevices(cfg.DevicesPerTenant, cfg.MinDevices)
		o.Latency = cfg.Latency
		o.Logger = slog.New(slog.DiscardHandler)
		o.RateLimits.Central = centralsim.Limit{Requests: int(math.Round(cfg.CentralRate)), Window: time.Second, Scope: simScope(cfg.CentralScope)}
		if !cfg.GLPHeaders {
			o.RateLimits.GLP = centralsim.Limit{}
		}
	})
	defer sim.Close()
	for _, t := range sim.Tenants() {
		_ = sim.Records(t.HexID, centralsim.DatasetDevices)
	}
	if err := os.WriteFile(cc.Credentials, sim.CredentialsYAML(), 0o600); err != nil {
		return fmt.Errorf("bench sim: %w", err)
	}
	line := sim.URL
	if cfg.Drift != nil {
		ctl, err := serveControl(ctx, sim)
		if err != nil {
			return err
		}
		line += " " + ctl
	}
	if _, err := fmt.Fprintln(stdout, line); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// clientBudgets are the SDK's default budgets with the scenario's New
// Central rate and scope (the burst stays the SDK's).
func clientBudgets(cfg Config) *central.Budgets {
	if cfg.LearnCentral {
		return central.DefaultBudgets()
	}
	return apibudget.Config{CentralRate: cfg.CentralRate, CentralScope: cfg.CentralScope.String()}.Budgets(1)
}

// functionMemoryLimit is the soft memory limit the collector Lambda
// gives itself at mb MB (the same rule, envconf.MemoryLimit, with
// GOMEMLIMIT taken from this process's environment), or 0 for none.
func functionMemoryLimit(mb int) int64 {
	if mb <= 0 {
		return 0
	}
	return envconf.MemoryLimit(func(k string) string {
		if k == envconf.EnvFunctionMemory {
			return strconv.Itoa(mb)
		}
		return os.Getenv(k)
	})
}

// runCollector runs the (optional) refresh and the measured collection, and
// prints a childReport.
func runCollector(ctx context.Context, cc childConfig, stdout io.Writer) error {
	cfg := cc.Config
	if n := functionMemoryLimit(cfg.FunctionMemoryMB); n > 0 {
		debug.SetMemoryLimit(n)
	}
	data, err := os.ReadFile(cc.Credentials)
	if err != nil {
		return fmt.Errorf("bench collector: %w", err)
	}
	creds, err := central.ParseCredentials(data, central.FormatYAML, cc.Credentials)
	if err != nil {
		return fmt.Errorf("bench collector: %w", err)
	}
	log := slog.New(slog.DiscardHandler)
	var rep childReport
	var store msp.TenantTokenStore
	if cfg.Warm {
		if store, rep.Refresh, err = warmCache(ctx, cfg, creds, log); err != nil {
			return err
		}
	}
	if rep.Stats0, err = fetchStats(ctx, cc.SimURL); err != nil {
		return err
	}
	m, err := msp.New(creds, func(o *msp.Options) {
		o.Logger = log
		o.Budgets = clientBudgets(cfg)
		if store != nil {
			o.TenantTokens = store
		}
	})
	if err != nil {
		return fmt.Errorf("bench collector: %w", err)
	}
	if path := os.Getenv(EnvCPUProfile); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	var man *collector.Manifest
	if cfg.Drift != nil {
		man, err = runDrift(ctx, cc, m, log, &rep)
	} else {
		man, err = measureRun(ctx, cc, m, log, &rep)
	}
	m.Close()
	if man == nil {
		return fmt.Errorf("bench collector: %w", err)
	}
	if err != nil && !errors.Is(err, collector.ErrNothingCollected) {
		return fmt.Errorf("bench collector: %w", err)
	}
	rep.Totals, rep.Complete = man.Totals, man.Complete
	for _, br := range man.Budgets {
		if br.Name == central.BudgetCentral {
			rep.Central = &br
		}
	}
	if cfg.Drift == nil {
		if rep.Stats1, err = fetchStats(ctx, cc.SimURL); err != nil {
			return err
		}
	}
	rep.VmHWM = vmHWM()
	rep.MemoryLimit = debug.SetMemoryLimit(-1)
	return json.NewEncoder(stdout).Encode(rep)
}

// warmCache refreshes every tenant's token into a directory cache and
// returns its reader and the refresh's time.
func warmCache(ctx context.Context, cfg Config, creds *central.Credentials, log *slog.Logger) (msp.TenantTokenStore, time.Duration, error) {
	const prefix = "bench/tokens"
	backend := tokencache.NewDir(filepath.Join(cfg.WorkDir, "token-cache-"+cfg.Name))
	rm, err := msp.New(creds, func(o *msp.Options) { o.Logger = log; o.Budgets = clientBudgets(cfg) })
	if err != nil {
		return nil, 0, fmt.Errorf("bench collector: %w", err)
	}
	defer rm.Close()
	r, err := tokencache.NewRefresher(tokencache.RefresherOptions{Prefix: prefix, Backend: backend,
		Source: &tokenrefresh.MSPSource{MSP: rm, Logger: log}, Concurrency: 32, Logger: log, Classify: tokenrefresh.ClassifyError})
	if err != nil {
		return nil, 0, fmt.Errorf("bench collector: %w", err)
	}
	t0 := time.Now()
	res, err := r.Refresh(ctx)
	took := time.Since(t0)
	if err != nil {
		return nil, took, fmt.Errorf("bench collector: refresh: %w", err)
	}
	if len(res.Failures) > 0 {
		return nil, took, fmt.Errorf("bench collector: refresh: %d tenant(s) failed", len(res.Failures))
	}
	reader, err := tokencache.NewReader(tokencache.ReaderOptions{Prefix: prefix, Backend: backend, Logger: log})
	if err != nil {
		return nil, took, fmt.Errorf("bench collector: %w", err)
	}
	return reader, took, nil
}

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench collector: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench collector: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// measureRun runs the collection and records its wall time and the CPU of
// the collector, the simulator and the machine.
func measureRun(ctx context.Context, cc childConfig, m *msp.MSP, log *slog.Logger, rep *childReport) (*collector.Manifest, error) {
	cfg := cc.Config
	cpu0, simCPU0 := cpuTime(), procCPU(cc.SimPID)
	busy0, total0 := machineCPU()
	t0 := time.Now()
	man, err := collector.Run(ctx, collector.Config{
		MSP:         collector.FromMSP(m),
		Sink:        sink.NewDir(filepath.Join(cfg.WorkDir, "out-"+cfg.Name)),
		Datasets:    cfg.Datasets,
		Concurrency: cfg.Concurrency,
		RunID:       "bench",
		Logger:      log,
	})
	rep.Wall = time.Since(t0)
	rep.CPU, rep.SimCPU = cpuTime()-cpu0, procCPU(cc.SimPID)-simCPU0
	busy1, total1 := machineCPU()
	rep.MachineBusy, rep.MachineTotal = busy1-busy0, total1-total0
	return man, err
}
