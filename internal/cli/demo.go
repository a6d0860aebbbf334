package cli

import (
	"context"
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

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/collector"
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
that cache, and prints a summary and where the files are. Then (unless
--no-audit) the simulator changes some tenants as an operator would, a second
collection audits the drift, and the demo prints where the HTML report is and
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
	// demoBurst keeps the SDK's default New Central burst.
	demoBurst = 8
)

// runDemo implements `centralmsp demo`.
func runDemo(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "centralmsp-out", "output directory")
	tenants := fs.Int("tenants", demoDefaultTenants, "number of simulated tenants")
	seed := fs.Int64("seed", 1, "simulator data seed")
	concurrency := fs.Int("concurrency", collector.DefaultConcurrency, "tenants collected in parallel")
	centralRate := fs.Float64("central-rate", demoDefaultCentralRate, "New Central requests/s per MSP account, for the simulator and the client alike")
	latency := fs.Duration("latency", demoDefaultLatency, "simulated latency per request (plus up to half of it as jitter)")
	noAudit := fs.Bool("no-audit", false, "collect once, without the simulated changes, the second collection and the audit report")
	if ok, err := parseFlags(env, fs, demoUsage, args); !ok {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case *tenants < 1 || *tenants > 100000:
		return &UsageError{Msg: "--tenants must be from 1 to 100000"}
	case *concurrency < 1:
		return &UsageError{Msg: "--concurrency must be at least 1"}
	case *centralRate < 1:
		return &UsageError{Msg: "--central-rate must be at least 1 request/s"}
	case *latency < 0:
		return &UsageError{Msg: "--latency must not be negative"}
	case *out == "":
		return &UsageError{Msg: "--out must not be empty"}
	}
	started := time.Now()
	if env.IsTerminal {
		// Keep the progress bar whole: the SDK's warnings (a 429 it retried)
		// are counted in the summary anyway.
		quiet := *env
		quiet.Logger = slog.New(demoMinLevel{h: env.Logger.Handler(), min: slog.LevelError})
		env = &quiet
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}

	// The simulator, with the documented limits except the demo's Central rate.
	centralReq := int(*centralRate)
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = *tenants
		o.Seed = *seed
		o.Latency = *latency
		o.Jitter = *latency / 2
		o.Logger = slog.New(slog.DiscardHandler)
		o.RateLimits.Central = centralsim.Limit{Requests: centralReq, Window: time.Second, Scope: centralsim.ScopeAccount}
	})
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

	budgets := func() *central.Budgets {
		b := central.DefaultBudgets()
		b.SetRate(central.BudgetCentral, rate.Limit(centralReq), demoBurst)
		return b
	}
	w := env.Stdout
	fmt.Fprintf(w, "centralmsp demo: simulated MSP with %d tenants (seed %d), %s latency (+ up to %s jitter)\n", *tenants, *seed, *latency, *latency/2)
	fmt.Fprintf(w, "budgets:        %s\n", collectDescribeBudgets(budgets()))
	fmt.Fprintf(w, "                (demo setting: New Central %d req/s for simulator and client; the SDK default is 8 req/s per account)\n", centralReq)

	// 1. Token refresh into the file cache.
	rm, err := msp.NewFromFile(credsPath, func(o *msp.Options) { o.Logger = env.Logger; o.Budgets = budgets() })
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	res, err := refreshRun(ctx, env, rm, tokencache.NewDir(cacheDir), refreshDirPrefix, tokencache.DefaultConcurrency)
	rm.Close()
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("token refresh: %w", err)}
	}
	fmt.Fprintf(w, "token refresh:  %d tenants, %d tokens exchanged, %d failed, %d cache object(s) written (%s)\n",
		res.Tenants, res.Exchanged, len(res.Failures), len(res.Written), res.Duration.Round(time.Millisecond))

	// 2. Collection from the cache.
	reader, err := tokencache.NewReader(tokencache.ReaderOptions{Prefix: refreshDirPrefix, Backend: tokencache.NewDir(cacheDir), Logger: env.Logger})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	cm, err := msp.NewFromFile(credsPath, func(o *msp.Options) {
		o.Logger = env.Logger
		o.Budgets = budgets()
		o.TenantTokens = reader
	})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	defer cm.Close()
	snk := sink.NewDir(outDir)
	fmt.Fprintf(w, "collecting into %s\n", outDir)
	var man *collector.Manifest
	if *noAudit {
		man, err = collectRun(ctx, env, cm, snk, collectSpec{Concurrency: *concurrency})
	} else {
		var res *auditResult
		res, err = auditRun(ctx, env, cm, snk, collectSpec{Concurrency: *concurrency}, audit.Options{Store: audit.DirStore{Dir: snk.(*sink.Dir)}})
		if res != nil {
			man = res.man
		}
	}
	if man == nil {
		return err
	}
	fmt.Fprintln(w)
	collectPrintSummary(w, man, collectLocation(snk, collector.ManifestKey(man.RunID)), true)

	st := sim.Stats()
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
	if !*noAudit && err == nil {
		if aerr := demoAudit(ctx, env, sim, cm, snk, *concurrency); aerr != nil {
			return aerr
		}
	}
	fmt.Fprintf(w, "total time:     %s\n", time.Since(started).Round(10*time.Millisecond))
	return collectExit(man, err)
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
	res, err := auditRun(ctx, env, cm, snk, collectSpec{Concurrency: concurrency}, audit.Options{Store: audit.DirStore{Dir: snk.(*sink.Dir)}})
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
