package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const collectUsage = `usage: centralmsp collect --credentials FILE --out DIR|s3://BUCKET/PREFIX
                          [--tenants ID,NAME,...] [--datasets A,B] [--concurrency N]
                          [--run-id ID] [--token-cache DIR|sm://PREFIX]
                          [--central-rate R] [--central-scope account|workspace]
                          [--glp-scope account|workspace] [--s3-force-path-style]

Collects the inventory of every MSP tenant (or of --tenants) into gzip NDJSON
objects under Hive-style partitions plus a run manifest, against whatever
deployment the unified credentials point to. S3 uses the standard AWS
configuration (AWS_REGION, AWS_ENDPOINT_URL_S3, ...).

Progress goes to stderr, the summary to stdout. Exit status: 0 when every
tenant and dataset is complete, 1 when some failed (the manifest says which),
2 for usage or configuration errors.

flags:
`

// collectSpec is one collection as the collect and demo commands run it.
type collectSpec struct {
	Tenants     []string
	Datasets    []string
	Concurrency int
	RunID       string
	Params      map[string]map[string]any
	Timeout     time.Duration
	Quiet       bool
	// Date is the run's dt partition (default: the start's UTC date).
	Date string
	// Observer sees the items while they stream (the audit command's drift).
	Observer collector.ItemObserver
}

// runCollect implements `centralmsp collect`.
func runCollect(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("collect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	credsPath := fs.String("credentials", "", "unified MSP credentials file (YAML or JSON)")
	out := fs.String("out", "", "output: a directory or s3://BUCKET/PREFIX")
	tenants := fs.String("tenants", "", "comma-separated tenant workspace ids or names (default: every tenant)")
	datasets := fs.String("datasets", "", "comma-separated datasets (default: all but opt-in ones); known: "+strings.Join(collector.DatasetNames(), ", "))
	concurrency := fs.Int("concurrency", collector.DefaultConcurrency, "tenants collected in parallel")
	runID := fs.String("run-id", "", "run id (default: time-based)")
	tokenCache := fs.String("token-cache", "", "read tenant tokens from this cache (a directory written by `centralmsp refresh`, or sm://PREFIX) before exchanging")
	centralRate := fs.Float64("central-rate", 0, "New Central budget in requests/s (default: the SDK's 8/s)")
	centralScope := fs.String("central-scope", "account", "who shares the New Central budget: account (the MSP and all tenants) or workspace (each tenant)")
	glpScope := fs.String("glp-scope", "workspace", "who shares the GLP devices/subscriptions budgets: account or workspace")
	forcePath := fs.Bool("s3-force-path-style", false, "path-style S3 addressing (S3-compatible stores)")
	auditSince := fs.Duration("audit-since", 24*time.Hour, "with --datasets audit-logs: collect the audit events of this last period")
	timeout := fs.Duration("timeout", 0, "stop starting tenants this long after the start (0: no limit); the rest are deferred")
	quiet := fs.Bool("quiet", false, "no progress output")
	if ok, err := parseFlags(env, fs, collectUsage, args); !ok {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case *credsPath == "":
		return &UsageError{Msg: "--credentials FILE is required"}
	case *out == "":
		return &UsageError{Msg: "--out DIR|s3://BUCKET/PREFIX is required"}
	case *concurrency < 1:
		return &UsageError{Msg: "--concurrency must be at least 1"}
	case *timeout < 0 || *auditSince < 0:
		return &UsageError{Msg: "--timeout and --audit-since must not be negative"}
	}
	spec := collectSpec{
		Tenants:     collectSplit(*tenants),
		Datasets:    collectSplit(*datasets),
		Concurrency: *concurrency,
		RunID:       *runID,
		Timeout:     *timeout,
		Quiet:       *quiet,
	}
	if _, err := collector.SelectDatasets(spec.Datasets...); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if *runID != "" && !collectValidRunID(*runID) {
		return &UsageError{Msg: fmt.Sprintf("invalid --run-id %q: letters, digits, '.', '_', '-' (at most 128, starting with a letter or digit)", *runID)}
	}
	for _, d := range spec.Datasets {
		if strings.EqualFold(strings.TrimSpace(d), "audit-logs") {
			since := time.Now().Add(-*auditSince).UTC().Format(time.RFC3339)
			spec.Params = map[string]map[string]any{"audit-logs": {"filter": "createdAt ge '" + since + "'"}}
		}
	}
	budgets, err := collectBudgets(*centralRate, *centralScope, *glpScope)
	if err != nil {
		return err
	}
	snk, err := sink.Open(ctx, *out, *forcePath)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	var store msp.TenantTokenStore
	if *tokenCache != "" {
		backend, prefix, err := refreshOpenCache(ctx, env, *tokenCache)
		if err != nil {
			return err
		}
		r, err := tokencache.NewReader(tokencache.ReaderOptions{Prefix: prefix, Backend: backend, Logger: env.Logger})
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		store = r
	}
	m, err := msp.NewFromFile(*credsPath, func(o *msp.Options) {
		o.Logger = env.Logger
		o.Budgets = budgets
		if store != nil {
			o.TenantTokens = store
		}
	})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	defer m.Close()
	if !*quiet {
		fmt.Fprintf(env.Stderr, "budgets: %s\n", collectDescribeBudgets(budgets))
	}
	man, err := collectRun(ctx, env, m, snk, spec)
	if man == nil {
		return err
	}
	collectPrintSummary(env.Stdout, man, collectLocation(snk, collector.ManifestKey(man.RunID)), store != nil)
	return collectExit(man, err)
}

// collectRun runs the collector with progress on env.Stderr. A nil
// manifest comes with a configuration error (exit status 2).
func collectRun(ctx context.Context, env *Env, m *msp.MSP, snk sink.Sink, spec collectSpec) (*collector.Manifest, error) {
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	cfg := collector.Config{
		MSP:         collector.FromMSP(m),
		Sink:        snk,
		Datasets:    spec.Datasets,
		Params:      spec.Params,
		Tenants:     spec.Tenants,
		Concurrency: spec.Concurrency,
		RunID:       spec.RunID,
		Date:        spec.Date,
		Observer:    spec.Observer,
		Logger:      env.Logger,
	}
	var prog *collectProgress
	if !spec.Quiet {
		prog = newCollectProgress(env.Stderr, env.IsTerminal, time.Now)
		cfg.Progress = prog.event
	}
	man, err := collector.Run(ctx, cfg)
	if prog != nil {
		prog.finish()
	}
	if man == nil && err != nil {
		return nil, &ExitError{Code: 2, Err: err}
	}
	return man, err
}

// collectExit maps a finished run to the command's outcome: nil when it is
// complete, otherwise exit status 1.
func collectExit(man *collector.Manifest, err error) error {
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	if !man.Complete {
		t := man.Totals
		return &ExitError{Code: 1, Err: fmt.Errorf("run %s is incomplete: %d tenant(s) failed, %d deferred, %d dataset(s) failed (see the manifest)",
			man.RunID, t.TenantsFailed, t.TenantsDeferred, t.DatasetsFailed)}
	}
	return nil
}

// collectSplit splits a comma-separated flag value, dropping empty items.
func collectSplit(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// collectValidRunID mirrors the collector's run id rule, so a bad id is a
// usage error before any network work.
func collectValidRunID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// collectParseScope reads "account" or "workspace".
func collectParseScope(flagName, v string) (central.Scope, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "account":
		return central.ScopeAccount, nil
	case "workspace":
		return central.ScopeWorkspace, nil
	}
	return 0, &UsageError{Msg: fmt.Sprintf("--%s %q: want account or workspace", flagName, v)}
}

// collectBudgets returns the SDK's default budgets adjusted by the flags: a
// New Central rate (0 keeps the default; the burst is one second's worth)
// and the scopes of the New Central and GLP inventory budgets.
func collectBudgets(centralRate float64, centralScope, glpScope string) (*central.Budgets, error) {
	if centralRate < 0 || math.IsNaN(centralRate) || math.IsInf(centralRate, 0) {
		return nil, &UsageError{Msg: "--central-rate must be a positive number of requests per second"}
	}
	cs, err := collectParseScope("central-scope", centralScope)
	if err != nil {
		return nil, err
	}
	gs, err := collectParseScope("glp-scope", glpScope)
	if err != nil {
		return nil, err
	}
	b := central.DefaultBudgets()
	if centralRate > 0 {
		// Burst 1, as the SDK default: the server counts fixed windows, and a
		// burst on top of the rate would overrun one of them.
		b.SetRate(central.BudgetCentral, rate.Limit(centralRate), 1)
	}
	b.SetScope(central.BudgetCentral, cs)
	b.SetScope(central.BudgetGLPDevices, gs)
	b.SetScope(central.BudgetGLPSubscriptions, gs)
	return b, nil
}

// collectDescribeBudgets names the inventory budgets' rates and scopes.
func collectDescribeBudgets(b *central.Budgets) string {
	var parts []string
	for _, n := range []string{central.BudgetCentral, central.BudgetGLPDevices, central.BudgetGLPSubscriptions} {
		s, ok := b.Spec(n)
		if !ok {
			continue
		}
		var r string
		switch {
		case s.Rate == rate.Inf:
			r = "unlimited"
		case float64(s.Rate) >= 1:
			r = fmt.Sprintf("%g req/s", math.Round(float64(s.Rate)*100)/100)
		default:
			r = fmt.Sprintf("%g req/min", math.Round(float64(s.Rate)*60*100)/100)
		}
		parts = append(parts, fmt.Sprintf("%s %s per %s", n, r, s.Scope))
	}
	return strings.Join(parts, ", ")
}

// collectLocation is where a key of the sink is, for the user.
func collectLocation(snk sink.Sink, key string) string {
	if d, ok := snk.(*sink.Dir); ok {
		return d.Path(key)
	}
	root := snk.String()
	if strings.HasPrefix(root, "s3://") {
		return strings.TrimSuffix(root, "/") + "/" + key
	}
	return filepath.Join(root, filepath.FromSlash(key))
}

// collectPrintSummary prints the run's figures and its failures.
// cacheUsed says whether a token cache was configured (without one, every
// tenant token is an exchange and there is no ratio to show).
func collectPrintSummary(w io.Writer, m *collector.Manifest, manifestAt string, cacheUsed bool) {
	t := m.Totals
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	status := "complete"
	if !m.Complete {
		status = "INCOMPLETE"
	}
	fmt.Fprintf(tw, "run\t%s (%s)\n", m.RunID, status)
	fmt.Fprintf(tw, "tenants\t%d: %d ok, %d failed, %d deferred, %d skipped\n", t.Tenants, t.TenantsOK, t.TenantsFailed, t.TenantsDeferred, t.TenantsSkipped)
	fmt.Fprintf(tw, "datasets\t%d: %d ok, %d failed, %d deferred, %d skipped\n",
		t.DatasetsOK+t.DatasetsFailed+t.DatasetsDeferred+t.DatasetsSkipped, t.DatasetsOK, t.DatasetsFailed, t.DatasetsDeferred, t.DatasetsSkipped)
	fmt.Fprintf(tw, "records\t%s in %s objects (%s compressed)\n", collectGroup(t.Records), collectGroup(int64(t.DatasetsOK)), collectBytes(t.Bytes))
	fmt.Fprintf(tw, "api calls\t%s (%s pages, %d retries, %d answered 429)\n", collectGroup(t.APICalls), collectGroup(t.Pages), t.Retries, t.RateLimited)
	fmt.Fprintf(tw, "exchanges\t%d\n", t.Exchanges)
	if n := t.TokenCacheHits + t.TokenCacheMisses; cacheUsed && n > 0 {
		fmt.Fprintf(tw, "token cache\t%d hits, %d misses (hit ratio %.0f%%)\n", t.TokenCacheHits, t.TokenCacheMisses, 100*t.TokenCacheHitRatio)
	} else {
		fmt.Fprintf(tw, "token cache\tnot used\n")
	}
	fmt.Fprintf(tw, "time\t%s\n", (time.Duration(t.DurationMS) * time.Millisecond).Round(10*time.Millisecond))
	if m.Error != nil {
		fmt.Fprintf(tw, "run error\t%s: %s\n", m.Error.Class, refreshOneLine(m.Error.Message, 200))
	}
	fmt.Fprintf(tw, "manifest\t%s\n", manifestAt)
	tw.Flush()

	const maxRows = 25
	var rows [][4]string
	for _, tr := range m.Tenants {
		if tr.Status != collector.StatusFailed {
			continue
		}
		name := tr.Name
		if name == "" {
			name = "-"
		}
		if tr.Error != nil {
			rows = append(rows, [4]string{tr.ID, name, "(all)", string(tr.Error.Class) + ": " + refreshOneLine(tr.Error.Message, 240)})
			continue
		}
		for _, d := range tr.Datasets {
			if d.Status == collector.StatusFailed && d.Error != nil {
				rows = append(rows, [4]string{tr.ID, name, d.Dataset, string(d.Error.Class) + ": " + refreshOneLine(d.Error.Message, 240)})
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nfailures (%d):\n", len(rows))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tNAME\tDATASET\tERROR")
	for i, r := range rows {
		if i == maxRows {
			fmt.Fprintf(tw, "…\t%d more in the manifest\t\t\n", len(rows)-maxRows)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r[0], r[1], r[2], r[3])
	}
	tw.Flush()
}

// collectGroup formats n with thousands separators.
func collectGroup(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// collectBytes formats a byte count.
func collectBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// collectProgress renders collector events: a redrawn bar on a terminal,
// plain lines (one per finished tenant) otherwise. The collector serialises
// its calls.
type collectProgress struct {
	w       io.Writer
	tty     bool
	now     func() time.Time
	start   time.Time
	done    int
	total   int
	records int64
	failed  int
	drawn   time.Time
	width   int  // widest bar drawn, to blank it
	cleared bool // the bar is not on screen
}

func newCollectProgress(w io.Writer, tty bool, now func() time.Time) *collectProgress {
	return &collectProgress{w: w, tty: tty, now: now, start: now()}
}

// event handles one collector event.
func (p *collectProgress) event(e collector.Event) {
	p.done, p.total = e.TenantsDone, e.TenantsTotal
	switch e.Kind {
	case collector.TenantsListed:
		p.line(fmt.Sprintf("collecting %d tenant(s)", e.TenantsTotal))
	case collector.TenantDone:
		p.records += e.Records
		name := e.TenantName
		if name == "" {
			name = e.TenantID
		}
		msg := fmt.Sprintf("[%d/%d] %s: %s, %s records", e.TenantsDone, e.TenantsTotal, name, e.Status, collectGroup(e.Records))
		if e.Status == collector.StatusFailed {
			p.failed++
			if e.Error != nil {
				msg += " (" + string(e.Error.Class) + ": " + refreshOneLine(e.Error.Message, 120) + ")"
			}
		}
		if !p.tty || e.Status == collector.StatusFailed {
			p.line(msg)
		}
	}
	if p.tty {
		p.bar(p.cleared || p.done == p.total)
	}
}

// line prints a full line (above the bar on a terminal).
func (p *collectProgress) line(s string) {
	if p.tty && p.width > 0 {
		fmt.Fprintf(p.w, "\r%-*s\r", p.width, "")
		p.cleared = true
	}
	fmt.Fprintln(p.w, s)
	if p.tty {
		p.cleared = true
	}
}

// bar redraws the progress bar, at most 20 times a second unless forced.
func (p *collectProgress) bar(force bool) {
	now := p.now()
	if !force && now.Sub(p.drawn) < 50*time.Millisecond {
		return
	}
	p.drawn, p.cleared = now, false
	const width = 30
	fill := 0
	if p.total > 0 {
		fill = width * p.done / p.total
	}
	s := fmt.Sprintf("[%s%s] %d/%d tenants  %s records  %d failed  %.1fs",
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), p.done, p.total,
		collectGroup(p.records), p.failed, now.Sub(p.start).Seconds())
	fmt.Fprintf(p.w, "\r%-*s", p.width, s)
	p.width = max(p.width, len(s))
}

// finish ends the bar's line on a terminal.
func (p *collectProgress) finish() {
	if p.tty && p.width > 0 {
		p.bar(true)
		fmt.Fprintln(p.w)
	}
}
