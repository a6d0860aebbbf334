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

	"github.com/centralmsp/centralmsp/internal/apibudget"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/termsafe"
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

// collectFlags are the collect command's flags beyond collectSpec.
type collectFlags struct {
	credsPath, out, tokenCache string
	budget                     apibudget.Config
	forcePath                  bool
}

// parseCollectFlags reads and checks the flags; ok is false when the
// command is done (help, or a usage error in err).
func parseCollectFlags(env *Env, args []string) (f collectFlags, spec collectSpec, ok bool, err error) {
	fs := flag.NewFlagSet("collect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.credsPath, "credentials", "", "unified MSP credentials file (YAML or JSON)")
	fs.StringVar(&f.out, "out", "", "output: a directory or s3://BUCKET/PREFIX")
	tenants := fs.String("tenants", "", "comma-separated tenant workspace ids or names (default: every tenant)")
	datasets := fs.String("datasets", "", "comma-separated datasets (default: all but opt-in ones); known: "+strings.Join(collector.DatasetNames(), ", "))
	fs.IntVar(&spec.Concurrency, "concurrency", collector.DefaultConcurrency, "tenants collected in parallel")
	fs.StringVar(&spec.RunID, "run-id", "", "run id (default: time-based)")
	fs.StringVar(&f.tokenCache, "token-cache", "", "read tenant tokens from this cache (a directory written by `centralmsp refresh`, or sm://PREFIX) before exchanging")
	fs.Float64Var(&f.budget.CentralRate, "central-rate", 0, "New Central budget in requests/s (default: the SDK's 8/s)")
	fs.StringVar(&f.budget.CentralScope, "central-scope", "", "who shares the New Central budget: account (the MSP and all tenants) or workspace (each tenant); default: account until the server's rate-limit windows show otherwise")
	fs.StringVar(&f.budget.GLPScope, "glp-scope", "workspace", "who shares the GLP devices/subscriptions budgets: account or workspace")
	fs.BoolVar(&f.forcePath, "s3-force-path-style", false, "path-style S3 addressing (S3-compatible stores)")
	auditSince := fs.Duration("audit-since", 24*time.Hour, "with --datasets audit-logs: collect the audit events of this last period")
	fs.DurationVar(&spec.Timeout, "timeout", 0, "stop starting tenants this long after the start (0: no limit); the rest are deferred")
	fs.BoolVar(&spec.Quiet, "quiet", false, "no progress output")
	if ok, err := parseFlags(env, fs, collectUsage, args); !ok {
		return f, spec, false, err
	}
	spec.Tenants, spec.Datasets = collectSplit(*tenants), collectSplit(*datasets)
	if err := checkCollectFlags(fs, f, spec, *auditSince); err != nil {
		return f, spec, false, err
	}
	for _, d := range spec.Datasets {
		if strings.EqualFold(strings.TrimSpace(d), "audit-logs") {
			since := time.Now().Add(-*auditSince).UTC().Format(time.RFC3339)
			spec.Params = map[string]map[string]any{"audit-logs": {"filter": "createdAt ge '" + since + "'"}}
		}
	}
	return f, spec, true, nil
}

// checkCollectFlags refuses unusable flag values.
func checkCollectFlags(fs *flag.FlagSet, f collectFlags, spec collectSpec, auditSince time.Duration) error {
	switch {
	case fs.NArg() > 0:
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case f.credsPath == "":
		return &UsageError{Msg: "--credentials FILE is required"}
	case f.out == "":
		return &UsageError{Msg: "--out DIR|s3://BUCKET/PREFIX is required"}
	case spec.Concurrency < 1:
		return &UsageError{Msg: "--concurrency must be at least 1"}
	case spec.Timeout < 0 || auditSince < 0:
		return &UsageError{Msg: "--timeout and --audit-since must not be negative"}
	}
	if _, err := collector.SelectDatasets(spec.Datasets...); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if spec.RunID != "" && !collectValidRunID(spec.RunID) {
		return &UsageError{Msg: fmt.Sprintf("invalid --run-id %q: letters, digits, '.', '_', '-' (at most 128, starting with a letter or digit)", spec.RunID)}
	}
	return nil
}

// runCollect implements `centralmsp collect`.
func runCollect(ctx context.Context, env *Env, args []string) error {
	f, spec, ok, err := parseCollectFlags(env, args)
	if !ok {
		return err
	}
	budgets, err := collectBudgets(f.budget)
	if err != nil {
		return err
	}
	snk, err := sink.Open(ctx, f.out, f.forcePath)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	store, err := collectTokenStore(ctx, env, f.tokenCache)
	if err != nil {
		return err
	}
	m, err := msp.NewFromFile(f.credsPath, func(o *msp.Options) {
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
	if !spec.Quiet {
		fmt.Fprintf(env.Stderr, "budgets: %s\n", collectDescribeBudgets(budgets))
	}
	man, err := collectRun(ctx, env, m, snk, spec)
	if man == nil {
		return err
	}
	collectPrintSummary(env.Stdout, man, collectLocation(snk, collector.ManifestKey(man.RunID)), store != nil)
	return collectExit(man, err)
}

// collectTokenStore opens the token cache reader of --token-cache, or nil.
func collectTokenStore(ctx context.Context, env *Env, cache string) (msp.TenantTokenStore, error) {
	if cache == "" {
		return nil, nil
	}
	backend, prefix, err := refreshOpenCache(ctx, env, cache)
	if err != nil {
		return nil, err
	}
	r, err := tokencache.NewReader(tokencache.ReaderOptions{Prefix: prefix, Backend: backend, Logger: env.Logger})
	if err != nil {
		return nil, &ExitError{Code: 2, Err: err}
	}
	return r, nil
}

// collectRun runs the collector with progress on env.Stderr. A nil
// manifest comes with a configuration error (exit status 2).
func collectRun(ctx context.Context, env *Env, m *msp.MSP, snk sink.Sink, spec collectSpec) (*collector.Manifest, error) {
	return collectRunWith(ctx, env, m, snk, spec, collector.Run)
}

// collectRunWith is collectRun with run in place of collector.Run (one
// that wraps it, as audit.Collect does).
func collectRunWith(ctx context.Context, env *Env, m *msp.MSP, snk sink.Sink, spec collectSpec, run func(context.Context, collector.Config) (*collector.Manifest, error)) (*collector.Manifest, error) {
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
	man, err := run(ctx, cfg)
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
		return &ExitError{Code: 1, Err: fmt.Errorf("run %s is incomplete: %d tenant(s) failed, %d deferred, %d dataset(s) failed, %d MSP-level dataset(s) not ok (see the manifest)",
			man.RunID, t.TenantsFailed, t.TenantsDeferred, t.DatasetsFailed, t.MSPDatasetsFailed+t.MSPDatasetsSkipped)}
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

// collectBudgets returns the budgets of the collect command's flags: a
// New Central rate (0 keeps the default) and the scopes of the New Central
// and GLP inventory budgets.
func collectBudgets(cfg apibudget.Config) (*central.Budgets, error) {
	if r := cfg.CentralRate; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return nil, &UsageError{Msg: "--central-rate must be a positive number of requests per second"}
	}
	for _, f := range [][2]string{{"central-scope", cfg.CentralScope}, {"glp-scope", cfg.GLPScope}} {
		if _, _, err := apibudget.ParseScope(f[1]); err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("--%s %q: want account or workspace", f[0], f[1])}
		}
	}
	return cfg.Budgets(1), nil
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

// collectPrintMSP prints a line per MSP-level dataset (read once per run),
// under a label no wider than the summary's others so its columns stay.
func collectPrintMSP(w io.Writer, ds []collector.MSPDatasetResult) {
	for _, d := range ds {
		if d.Status != collector.StatusOK {
			msg := ""
			if d.Error != nil {
				msg = ": " + string(d.Error.Class) + ": " + refreshOneLine(d.Error.Message, 200)
			}
			fmt.Fprintf(w, "msp level\t%s: %s%s\n", d.Dataset, d.Status, msg)
			continue
		}
		fmt.Fprintf(w, "msp level\t%s: %s records (%d mapped to tenants, %d unmatched, %d ambiguous), %d api calls\n",
			d.Dataset, collectGroup(d.Records), d.Mapped, d.Unmatched, d.Ambiguous, d.APICalls)
	}
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
	fmt.Fprintf(tw, "run\t%s (%s)\n", termsafe.Cell(m.RunID, 80), status)
	fmt.Fprintf(tw, "tenants\t%d: %d ok, %d failed, %d deferred, %d skipped\n", t.Tenants, t.TenantsOK, t.TenantsFailed, t.TenantsDeferred, t.TenantsSkipped)
	fmt.Fprintf(tw, "datasets\t%d: %d ok, %d failed, %d deferred, %d skipped\n",
		t.DatasetsOK+t.DatasetsFailed+t.DatasetsDeferred+t.DatasetsSkipped, t.DatasetsOK, t.DatasetsFailed, t.DatasetsDeferred, t.DatasetsSkipped)
	fmt.Fprintf(tw, "records\t%s in %s objects (%s compressed)\n", collectGroup(t.Records), collectGroup(int64(t.DatasetsOK)), collectBytes(t.Bytes))
	collectPrintMSP(tw, m.MSP)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", termsafe.Cell(r[0], 40), termsafe.Cell(r[1], nameColumn), termsafe.Cell(r[2], 32), r[3])
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
		msg := fmt.Sprintf("[%d/%d] %s: %s, %s records", e.TenantsDone, e.TenantsTotal, termsafe.Cell(name, nameColumn), e.Status, collectGroup(e.Records))
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
