package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/centralmsp/centralmsp/internal/bench"
	"github.com/centralmsp/centralmsp/pkg/central"
)

const benchUsage = `usage: centralmsp bench [--tenants N] [--devices N] [--latency D] [--scenarios LIST]
                        [--account-rate R] [--learn-rate R] [--concurrency N]
                        [--sink-latency D] [--function-memory MB] [--json]

Measures the collector at MSP scale against the simulator, each in its own
process (the collector's peak RSS is its own): for every scenario the wall
time of the collection over its lower bound (the largest of the critical
path and each budget's requests over its rate, counted by the simulator),
peak RSS, token exchanges per tenant and requests answered 429, with the
targets (ratio <= 1.15, RSS <= 150 MB, 1 exchange per tenant cold and 0 warm,
no 429).

Scenarios (comma-separated):
  account-cold, account-warm      New Central shared per MSP account, at
                                  --account-rate for simulator and client
  workspace-cold, workspace-warm  New Central 8 req/s per tenant workspace
                                  (the SDK's default budget, scope workspace)
  account-learn                   New Central 10 req/s shared per MSP account
                                  (--learn-rate) and every GLP family's
                                  headers on; the client starts at the SDK's
                                  default (8 req/s, scope detected) and must
                                  learn the limit (target ratio 1.10, no 429)
  workspace-glp                   workspace-cold with every GLP family
                                  answering with its own per-workspace
                                  ratelimit-* window (300/min)
  drift                           what drift detection adds to a collection at
                                  the job's defaults: the client at the SDK's
                                  default budgets (New Central 8 req/s, scope
                                  detected; the simulator limits it per
                                  workspace), the collector's default
                                  concurrency (8), tenants of 20-100 devices
                                  (--devices ignored); 5% of the tenants
                                  changed, then the same data collected with
                                  the audit off and on (target: under 5%)
  drift-cpu                       the same, CPU-bound: New Central 8 req/s per
                                  workspace at concurrency 500, three pairs
                                  (--concurrency, when given, replaces the
                                  drift scenarios' concurrency; --sink-latency D
                                  delays every output request by D, as S3
                                  round trips would, in both runs)
--function-memory MB gives the collector the soft memory limit the
collector Lambda has at that memory size (85 %) and checks that peak RSS
fits in it; without it the collector runs with the Go runtime's defaults.
GLP budgets are always the SDK's defaults. "warm" refreshes a file token
cache first, so the collection exchanges no token. Every scenario reports
the collector's CPU-seconds per million records next to the gzip floor
(compressing the same output alone; target at most 2x).

flags:
`

// runBench implements `centralmsp bench`. The same binary also serves as
// the benchmark's simulator and collector child processes (bench.Child).
// benchScenario sets the scope, rate and warmth of the scenario cfg.Name.
func benchScenario(cfg *bench.Config, accountRate, learnRate float64) error {
	switch cfg.Name {
	case "account-learn":
		cfg.CentralScope, cfg.CentralRate = central.ScopeAccount, learnRate
		cfg.LearnCentral, cfg.GLPHeaders, cfg.Target = true, true, bench.TargetLearnRatio
		return nil
	case "workspace-glp":
		cfg.CentralScope, cfg.CentralRate, cfg.GLPHeaders = central.ScopeWorkspace, bench.DefaultCentralRate, true
		return nil
	}
	scope, temp, ok := strings.Cut(cfg.Name, "-")
	if !ok || (temp != "cold" && temp != "warm") {
		return &UsageError{Msg: fmt.Sprintf("unknown scenario %q", cfg.Name)}
	}
	cfg.Warm = temp == "warm"
	switch scope {
	case "account":
		cfg.CentralScope, cfg.CentralRate = central.ScopeAccount, accountRate
	case "workspace":
		cfg.CentralScope, cfg.CentralRate = central.ScopeWorkspace, bench.DefaultCentralRate
	default:
		return &UsageError{Msg: fmt.Sprintf("unknown scenario %q", cfg.Name)}
	}
	return nil
}

// flagSetInt returns v when the flag name was given on the command line,
// and 0 otherwise.
func flagSetInt(fs *flag.FlagSet, name string, v int) int {
	set := 0
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = v
		}
	})
	return set
}

func runBench(ctx context.Context, env *Env, args []string) error {
	if ok, err := bench.Child(ctx, env.Getenv, env.Stdout); ok {
		return err
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tenants := fs.Int("tenants", bench.DefaultTenants, "simulated tenants")
	devices := fs.Int("devices", bench.DefaultDevicesPerTenant, "devices per tenant (±10%)")
	latency := fs.Duration("latency", bench.DefaultLatency, "simulated latency per request")
	scenarios := fs.String("scenarios", "account-cold,account-warm,workspace-cold,workspace-warm", "scenarios to run")
	accountRate := fs.Float64("account-rate", 200, "New Central requests/s of the account-scope scenarios (simulator and client)")
	learnRate := fs.Float64("learn-rate", 10, "New Central requests/s the simulator admits in account-learn (the client starts at the SDK's 8)")
	concurrency := fs.Int("concurrency", bench.DefaultConcurrency, "collector tenant concurrency")
	seed := fs.Int64("seed", 1, "simulator seed")
	sinkLatency := fs.Duration("sink-latency", 0, "drift scenarios: delay of every output request (Get, Put, List, Commit), as S3 round trips")
	functionMemory := fs.Int("function-memory", 0, "collector: the soft memory limit of a Lambda function of this many MB (128-10240; 0: none)")
	asJSON := fs.Bool("json", false, "print the results as JSON instead of a table")
	if ok, err := parseFlags(env, fs, benchUsage, args); !ok {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case *tenants < 1 || *devices < 1 || *concurrency < 1:
		return &UsageError{Msg: "--tenants, --devices and --concurrency must be at least 1"}
	case *latency < 0 || *accountRate < 1 || *learnRate < 1:
		return &UsageError{Msg: "--latency must not be negative and --account-rate and --learn-rate must be at least 1"}
	case *sinkLatency < 0 || *sinkLatency > time.Minute:
		return &UsageError{Msg: "--sink-latency must be between 0 and 1m"}
	case *functionMemory != 0 && (*functionMemory < 128 || *functionMemory > 10240):
		return &UsageError{Msg: "--function-memory must be 0 or between 128 and 10240 (MB, as Lambda allows)"}
	}
	var cfgs []bench.Config
	for _, name := range collectSplit(*scenarios) {
		if cfg, ok := bench.DriftScenario(name, *tenants, *latency, *seed, flagSetInt(fs, "concurrency", *concurrency)); ok {
			cfg.SinkLatency, cfg.FunctionMemoryMB = *sinkLatency, *functionMemory
			cfgs = append(cfgs, cfg)
			continue
		}
		cfg := bench.Config{Name: name, Tenants: *tenants, DevicesPerTenant: *devices, Seed: *seed,
			Latency: *latency, Concurrency: *concurrency, FunctionMemoryMB: *functionMemory}
		if err := benchScenario(&cfg, *accountRate, *learnRate); err != nil {
			return err
		}
		cfgs = append(cfgs, cfg)
	}
	if len(cfgs) == 0 {
		return &UsageError{Msg: "--scenarios is empty"}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: locating this executable: %w", err)
	}
	cmd := bench.Command{Path: exe, Args: []string{"bench"}}

	fmt.Fprintf(env.Stderr, "centralmsp bench: %d tenants x ~%d devices, %s latency, concurrency %d, %d CPU(s)\n",
		*tenants, *devices, *latency, *concurrency, runtime.NumCPU())
	var results []*bench.Result
	for _, cfg := range cfgs {
		fmt.Fprintf(env.Stderr, "running %s ...\n", cfg.Name)
		started := time.Now()
		res, err := bench.Run(ctx, cfg, cmd)
		if err != nil {
			return fmt.Errorf("bench %s: %w", cfg.Name, err)
		}
		fmt.Fprintf(env.Stderr, "  %s: wall %s, ratio %.2f (%s with start-up)\n", cfg.Name,
			res.Wall.Round(10*time.Millisecond), res.Ratio, time.Since(started).Round(100*time.Millisecond))
		results = append(results, res)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	fmt.Fprintf(env.Stdout, "command: centralmsp bench --tenants %d --devices %d --latency %s --scenarios %s --account-rate %g --learn-rate %g --concurrency %d --seed %d --sink-latency %s --function-memory %d\n",
		*tenants, *devices, *latency, *scenarios, *accountRate, *learnRate, *concurrency, *seed, *sinkLatency, *functionMemory)
	fmt.Fprintf(env.Stdout, "machine: %d CPU(s), %s/%s\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	return bench.WriteTable(env.Stdout, results)
}
