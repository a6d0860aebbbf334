package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/centralmsp/centralmsp/internal/apibudget"
	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const demoUsage = `usage: centralmsp demo [--out DIR] [--tenants N] [--seed S] [--no-audit]

The main job, locally and with no account: starts the embedded GreenLake +
New Central simulator, runs a token refresh into a local token cache, then
collects every tenant's inventory into DIR (default ./centralmsp-out) using
that cache, audited (the tenants' baselines), and prints a summary and where
the files are. Then (unless --no-audit) the simulator changes some tenants as
an operator would, a second collection audits the drift, and the demo prints where the HTML report is and
whether the drift found equals the changes the simulator made.

The simulator and the client share a New Central budget of --central-rate
requests/s per MSP account (demo default 50; the SDK's default is 8, at which
the same run takes several times longer); the GLP budgets are the SDK's.

flags:
`

// Demo defaults.
const (
	demoDefaultTenants     = 50
	demoDefaultCentralRate = 50
	demoDefaultLatency     = 20 * time.Millisecond
)

// demoOptions are the demo's flags.
type demoOptions struct {
	out         string
	tenants     int
	seed        int64
	concurrency int
	shardSize   int
	centralRate float64
	latency     time.Duration
	noAudit     bool
}

// parseDemoFlags reads and checks the demo's flags; ok is false when the
// command is done (help, or a usage error in err).
func parseDemoFlags(env *Env, args []string) (o demoOptions, ok bool, err error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.out, "out", "centralmsp-out", "output directory")
	fs.IntVar(&o.tenants, "tenants", demoDefaultTenants, "number of simulated tenants")
	fs.Int64Var(&o.seed, "seed", 1, "simulator data seed")
	fs.IntVar(&o.concurrency, "concurrency", collector.DefaultConcurrency, "tenants collected in parallel")
	fs.IntVar(&o.shardSize, "shard-size", 0, "most tenants per invocation: more are sharded through the in-process queue, as the Lambda shards through SQS (0: only when the run does not fit)")
	fs.Float64Var(&o.centralRate, "central-rate", demoDefaultCentralRate, "New Central requests/s per MSP account, for the simulator and the client alike")
	fs.DurationVar(&o.latency, "latency", demoDefaultLatency, "simulated latency per request (plus up to half of it as jitter)")
	fs.BoolVar(&o.noAudit, "no-audit", false, "collect once, unaudited, without the simulated changes, the second collection and the audit report")
	if ok, err := parseFlags(env, fs, demoUsage, args); !ok {
		return o, false, err
	}
	switch {
	case fs.NArg() > 0:
		return o, false, &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case o.tenants < 1 || o.tenants > 100000:
		return o, false, &UsageError{Msg: "--tenants must be from 1 to 100000"}
	case o.concurrency < 1:
		return o, false, &UsageError{Msg: "--concurrency must be at least 1"}
	case o.shardSize < 0:
		return o, false, &UsageError{Msg: "--shard-size must not be negative"}
	case o.centralRate < 1:
		return o, false, &UsageError{Msg: "--central-rate must be at least 1 request/s"}
	case o.latency < 0:
		return o, false, &UsageError{Msg: "--latency must not be negative"}
	case o.out == "":
		return o, false, &UsageError{Msg: "--out must not be empty"}
	}
	return o, true, nil
}

// runDemo implements `centralmsp demo`: the simulator, a token refresh
// into a file cache, then the scheduled path of the Lambda function (the
// scale-out coordinator) with a directory store and an in-process queue.
func runDemo(ctx context.Context, env *Env, args []string) error {
	o, ok, err := parseDemoFlags(env, args)
	if !ok {
		return err
	}
	started := time.Now()
	if env.IsTerminal {
		// Keep the progress bar whole: the SDK's warnings (a 429 it retried)
		// are counted in the summary anyway.
		quiet := *env
		quiet.Logger = slog.New(demoMinLevel{h: env.Logger.Handler(), min: slog.LevelError})
		env = &quiet
	}
	outDir, err := filepath.Abs(o.out)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	sim := demoSimulator(o)
	defer sim.Close()
	tmp, err := os.MkdirTemp("", "centralmsp-demo-")
	if err != nil {
		return fmt.Errorf("demo: temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	credsPath := filepath.Join(tmp, "credentials.yaml")
	if err := os.WriteFile(credsPath, sim.CredentialsYAML(), 0o600); err != nil {
		return fmt.Errorf("demo: writing credentials: %w", err)
	}
	cacheDir := filepath.Join(tmp, "token-cache")
	budgets := func(share int) *central.Budgets {
		return apibudget.Config{CentralRate: o.centralRate}.Budgets(share)
	}
	w := env.Stdout
	fmt.Fprintf(w, "centralmsp demo: simulated MSP with %d tenants (seed %d), %s latency (+ up to %s jitter)\n", o.tenants, o.seed, o.latency, o.latency/2)
	fmt.Fprintf(w, "budgets:        %s\n", collectDescribeBudgets(budgets(1)))
	fmt.Fprintf(w, "                (demo setting: New Central %d req/s for simulator and client; the SDK default is 8 req/s per account)\n", int(o.centralRate))

	// 1. Token refresh into the file cache.
	res, err := demoRefresh(ctx, env, credsPath, cacheDir, budgets(1))
	if err != nil {
		return err
	}
	// 2. The scheduled run from the cache.
	snk := sink.NewDir(outDir)
	fmt.Fprintf(w, "collecting into %s\n", outDir)
	man, err := demoSchedule(ctx, env, o, snk, demoConnect(env, credsPath, cacheDir, budgets))
	if man == nil {
		return err
	}
	if !o.noAudit {
		fmt.Fprintln(w, "audit:          the scheduled run is the audited baseline (each tenant's first audit records it)")
	}
	fmt.Fprintln(w)
	collectPrintSummary(w, man, collectLocation(snk, collector.ManifestKey(man.RunID)), true)
	demoPrintFigures(w, sim.Stats(), res, man, snk, outDir)
	if !o.noAudit && err == nil {
		if aerr := demoAuditPhase(ctx, env, sim, demoConnect(env, credsPath, cacheDir, budgets), snk, o.concurrency); aerr != nil {
			return aerr
		}
	}
	fmt.Fprintf(w, "total time:     %s\n", time.Since(started).Round(10*time.Millisecond))
	return collectExit(man, err)
}

// demoAuditPhase opens a client from the token cache and runs the audit
// part of the demo after the audited scheduled run (the baseline): the
// simulated changes and the audited collection that must find exactly them.
func demoAuditPhase(ctx context.Context, env *Env, sim *centralsim.Server, connect func(context.Context, int) (*msp.MSP, error), snk sink.Sink, concurrency int) error {
	cm, err := connect(ctx, 1)
	if err != nil {
		return err
	}
	defer cm.Close()
	return demoAudit(ctx, env, sim, cm, snk, concurrency)
}

// demoSimulator starts the simulator with the documented limits except
// the demo's Central rate.
func demoSimulator(o demoOptions) *centralsim.Server {
	return centralsim.NewServer(func(so *centralsim.Options) {
		so.Tenants = o.tenants
		so.Seed = o.seed
		so.Latency = o.latency
		so.Jitter = o.latency / 2
		so.Logger = slog.New(slog.DiscardHandler)
		so.RateLimits.Central = centralsim.Limit{Requests: int(o.centralRate), Window: time.Second, Scope: centralsim.ScopeAccount}
	})
}

// demoRefresh runs the token refresh into the file cache and prints it.
func demoRefresh(ctx context.Context, env *Env, credsPath, cacheDir string, budgets *central.Budgets) (*tokencache.Result, error) {
	rm, err := msp.NewFromFile(credsPath, func(o *msp.Options) { o.Logger = env.Logger; o.Budgets = budgets })
	if err != nil {
		return nil, &ExitError{Code: 2, Err: err}
	}
	res, err := refreshRun(ctx, env, rm, tokencache.NewDir(cacheDir), refreshDirPrefix, tokencache.DefaultConcurrency)
	rm.Close()
	if err != nil {
		return nil, &ExitError{Code: 1, Err: fmt.Errorf("token refresh: %w", err)}
	}
	fmt.Fprintf(env.Stdout, "token refresh:  %d tenants, %d tokens exchanged, %d failed, %d cache object(s) written (%s)\n",
		res.Tenants, res.Exchanged, len(res.Failures), len(res.Written), res.Duration.Round(time.Millisecond))
	return res, nil
}

// demoConnect opens an MSP client that reads tenant tokens from the file
// cache, with 1/share of the account budgets.
func demoConnect(env *Env, credsPath, cacheDir string, budgets func(share int) *central.Budgets) func(context.Context, int) (*msp.MSP, error) {
	return func(ctx context.Context, share int) (*msp.MSP, error) {
		reader, err := tokencache.NewReader(tokencache.ReaderOptions{Prefix: refreshDirPrefix, Backend: tokencache.NewDir(cacheDir), Logger: env.Logger})
		if err != nil {
			return nil, &ExitError{Code: 2, Err: err}
		}
		m, err := msp.NewFromFile(credsPath, func(o *msp.Options) {
			o.Logger = env.Logger
			o.Budgets = budgets(share)
			o.TenantTokens = reader
		})
		if err != nil {
			return nil, &ExitError{Code: 2, Err: err}
		}
		return m, nil
	}
}

// demoSchedule runs the scheduled path: the coordinator decides, collects
// in-process or sends shards to an in-process queue, which is then drained
// as SQS would feed the function. It returns the run's manifest (the
// joined one for a sharded run).
func demoSchedule(ctx context.Context, env *Env, o demoOptions, store sink.Sink, connect func(context.Context, int) (*msp.MSP, error)) (*collector.Manifest, error) {
	prog := newCollectProgress(env.Stderr, env.IsTerminal, time.Now)
	defer prog.finish()
	q := &scaleout.LocalQueue{}
	c := &scaleout.Coordinator{
		Store:            store,
		Queue:            q,
		Runner:           &scaleout.EngineRunner{Connect: connect, Store: store, Progress: prog.event, Logger: env.Logger},
		Budgets:          scaleout.BudgetsFrom(apibudget.Config{CentralRate: o.centralRate}.Budgets(1)),
		Concurrency:      o.concurrency,
		ShardConcurrency: 1, // the queue is drained one shard at a time
		ShardSize:        o.shardSize,
		Logger:           env.Logger,
	}
	if !o.noAudit {
		c.Audit = audit.RunHook(audit.Options{Sink: store, Store: audit.SinkStore{Sink: store}, Logger: env.Logger})
	}
	out, err := c.Schedule(ctx)
	if out == nil {
		return nil, &ExitError{Code: 2, Err: err}
	}
	if out.Mode != scaleout.ModeSharded {
		return out.Manifest, err
	}
	fmt.Fprintf(env.Stdout, "sharded:        %d shards through the in-process queue (%s)\n", out.Shards, out.Reason)
	errs := q.Drain(ctx, 3, c.RunShard)
	b, gerr := store.Get(ctx, collector.ManifestKey(out.RunID))
	if gerr != nil {
		return nil, &ExitError{Code: 1, Err: errors.Join(append(errs, gerr)...)}
	}
	man, merr := collector.ReadManifest(bytes.NewReader(b))
	if merr != nil {
		return nil, &ExitError{Code: 1, Err: merr}
	}
	return man, errors.Join(errs...)
}

// demoPrintFigures prints the simulator's figures and where to look.
func demoPrintFigures(w io.Writer, st centralsim.Stats, res *tokencache.Result, man *collector.Manifest, snk sink.Sink, outDir string) {
	centralCalls := demoCentralCalls(st)
	fmt.Fprintf(w, "\nsimulator:      %s requests served, %d answered 429, %s New Central calls (at the default 8 req/s they alone would take ≥ %s)\n",
		collectGroup(st.Requests), st.RateLimited, collectGroup(centralCalls),
		(time.Duration(centralCalls) * time.Second / 8).Round(time.Second))
	if st.RateLimited > 0 {
		eps := slices.Sorted(maps.Keys(st.RateLimitedBy))
		parts := make([]string, len(eps))
		for i, ep := range eps {
			parts[i] = fmt.Sprintf("%s %d", ep, st.RateLimitedBy[ep])
		}
		fmt.Fprintf(w, "answered 429:   %s (the SDK paused the shared budget and retried)\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "exchanges:      %d in the refresh, %d in the collection\n", res.Exchanged, man.Totals.Exchanges)
	fmt.Fprintf(w, "files:          %s\n", filepath.Join(outDir, "inventory"))
	if man.Totals.DatasetsOK > 0 {
		for _, tr := range man.Tenants {
			if d := tr.Dataset("devices"); d != nil && d.Status == collector.StatusOK && d.Records > 0 {
				fmt.Fprintf(w, "look at one:    zcat %s | head -n 2\n", collectLocation(snk, d.Key))
				break
			}
		}
	}
}

// demoMutatedTenants is how many tenants (with devices) the demo changes.
const demoMutatedTenants = 5

// demoAudit changes some simulated tenants, runs the second (audited)
// collection, prints the drift and the report's path, and checks the drift
// against the simulator's own list of changes.
func demoAudit(ctx context.Context, env *Env, sim *centralsim.Server, cm *msp.MSP, snk sink.Sink, concurrency int) error {
	w := env.Stdout
	var ids []string
	for _, t := range sim.Tenants() {
		if t.Devices >= 10 && len(ids) < demoMutatedTenants {
			ids = append(ids, t.HexID)
		}
	}
	want := sim.Mutate(centralsim.MutateOptions{Tenants: ids, Add: 3, Remove: 2, Move: 2, Refirmware: 3, Renew: 1, End: 1, Expire: 1, Alerts: 4})
	fmt.Fprintf(w, "\nsimulator:      changed %d tenant(s): %d record change(s) (devices added, removed, moved, re-firmwared; subscriptions renewed, ended, ending soon)\n", len(ids), len(want))
	fmt.Fprintln(w, "second collection (audited):")
	res, err := auditRun(ctx, env, cm, snk, collectSpec{Concurrency: concurrency}, audit.Options{Store: audit.SinkStore{Sink: snk}})
	if res == nil {
		return err
	}
	auditPrintSummary(w, res, snk)
	fmt.Fprintf(w, "drift check:    %d change(s) found, %d made by the simulator: %s\n", res.sum.Totals.Changes, len(want), demoCompare(res.sum, want))
	if err != nil {
		return collectExit(res.man, err)
	}
	return nil
}

// demoCentralCalls counts the New Central requests the simulator answered.
func demoCentralCalls(st centralsim.Stats) int64 {
	var n int64
	for ep, c := range st.ByEndpoint {
		if strings.HasPrefix(ep, centralsim.CentralPrefix+"/") {
			n += c
		}
	}
	return n
}

// demoMinLevel drops records below min before they reach h.
type demoMinLevel struct {
	h   slog.Handler
	min slog.Level
}

func (d demoMinLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= d.min && d.h.Enabled(ctx, l)
}
func (d demoMinLevel) Handle(ctx context.Context, r slog.Record) error { return d.h.Handle(ctx, r) }
func (d demoMinLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return demoMinLevel{h: d.h.WithAttrs(as), min: d.min}
}
func (d demoMinLevel) WithGroup(name string) slog.Handler {
	return demoMinLevel{h: d.h.WithGroup(name), min: d.min}
}

// demoCompare compares the drift found with the simulator's changes, record
// by record when the summary kept every change.
func demoCompare(s *audit.Summary, want []centralsim.Change) string {
	line := func(tenant, ds, key, typ, field, old, nw string) string {
		return strings.Join([]string{tenant, ds, key, typ, field, old, nw}, "\x00")
	}
	exp := map[string]int{}
	for _, c := range want {
		exp[line(c.TenantHexID, c.Dataset, c.Key, c.Type, c.Field, c.Old, c.New)]++
	}
	for _, ta := range s.Tenants {
		if len(ta.Kept) != ta.Changes {
			if s.Totals.Changes == len(want) {
				return "equal counts (too many to compare one by one)"
			}
			return "DIFFERENT counts"
		}
		for _, c := range ta.Kept {
			var o, n string
			if c.PreviousValue != nil {
				o = *c.PreviousValue
			}
			if c.NewValue != nil {
				n = *c.NewValue
			}
			k := line(c.TenantID, c.Dataset, c.Key, string(c.ChangeType), c.Field, o, n)
			if exp[k] == 0 {
				return "DIFFERENT (an unexpected change: " + c.Dataset + " " + c.Key + " " + string(c.ChangeType) + " " + c.Field + ")"
			}
			exp[k]--
		}
	}
	for _, n := range exp {
		if n != 0 {
			return "DIFFERENT (a change was missed)"
		}
	}
	return "identical, record by record"
}
