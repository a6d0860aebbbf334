package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/centralmsp/centralmsp/internal/apibudget"
	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const auditUsage = `usage: centralmsp audit --credentials FILE --out DIR|s3://BUCKET/PREFIX
                        [--tenants ID,NAME,...] [--since DURATION] [--rules FILE]
                        [--concurrency N] [--token-cache DIR|sm://PREFIX]
                        [--central-rate R] [--s3-force-path-style] [--quiet]

Audits the tenants now: collects their inventory (as collect does), compares
each tenant's complete datasets with its previous complete collection in the
same --out (drift: devices and subscriptions added, removed or changed),
evaluates the finding rules, and writes a self-contained HTML report next to
the run's audit summary. The first audit of a tenant records its baseline and
reports no drift. It then copies the audited tenants' new GLP audit-log
events, each exactly once across audits: a tenant continues from its
watermark in --out; --since is how far back a tenant without one starts
(default 24h). See docs/audits.md.

Exit status: 0 when the collection is complete and every audited tenant's
audit log was read, 1 when some of it failed (failed datasets are not
compared; a failed audit log is read again next time), 2 for usage or
configuration errors.

flags:
`

// runAudit implements `centralmsp audit`.
func runAudit(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	credsPath := fs.String("credentials", "", "unified MSP credentials file (YAML or JSON)")
	out := fs.String("out", "", "output and audit state: a directory or s3://BUCKET/PREFIX (the same as earlier audits)")
	tenants := fs.String("tenants", "", "comma-separated tenant workspace ids or names (default: every tenant)")
	since := fs.Duration("since", audittrail.DefaultLookback, "audit-log look-back for a tenant without a watermark in --out (its first audit)")
	rulesPath := fs.String("rules", "", "finding rules file (JSON or YAML); default $"+audit.RulesEnv+" or the built-in rules")
	concurrency := fs.Int("concurrency", collector.DefaultConcurrency, "tenants collected in parallel")
	tokenCache := fs.String("token-cache", "", "read tenant tokens from this cache before exchanging")
	centralRate := fs.Float64("central-rate", 0, "New Central budget in requests/s (default: the SDK's 8/s)")
	forcePath := fs.Bool("s3-force-path-style", false, "path-style S3 addressing (S3-compatible stores)")
	quiet := fs.Bool("quiet", false, "no progress output")
	if ok, err := parseFlags(env, fs, auditUsage, args); !ok {
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
	case *since <= 0:
		return &UsageError{Msg: "--since must be positive"}
	}
	rules, err := auditLoadRules(env, *rulesPath)
	if err != nil {
		return err
	}
	spec := collectSpec{Tenants: collectSplit(*tenants), Concurrency: *concurrency, Quiet: *quiet}
	budgets, err := collectBudgets(apibudget.Config{CentralRate: *centralRate, GLPScope: "workspace"})
	if err != nil {
		return err
	}
	snk, err := sink.Open(ctx, *out, *forcePath)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	store := audit.SinkStore{Sink: snk}
	tokens, err := collectTokenStore(ctx, env, *tokenCache)
	if err != nil {
		return err
	}
	m, err := msp.NewFromFile(*credsPath, func(o *msp.Options) {
		o.Logger = env.Logger
		o.Budgets = budgets
		if tokens != nil {
			o.TenantTokens = tokens
		}
	})
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	defer m.Close()
	res, err := auditRun(ctx, env, m, snk, spec, audit.Options{Store: store, Rules: rules})
	if res == nil {
		return err
	}
	collectPrintSummary(env.Stdout, res.man, collectLocation(snk, collector.ManifestKey(res.man.RunID)), tokens != nil)
	fmt.Fprintln(env.Stdout)
	auditPrintSummary(env.Stdout, res, snk)
	terr := auditRunTrail(ctx, env, m, snk, res.man, *since)
	if exit := collectExit(res.man, err); exit != nil || terr == nil {
		return exit
	}
	return &ExitError{Code: 1, Err: terr}
}

// auditRunTrail copies the audited tenants' new audit-log events and
// prints its figures; the error says the trail failed for some tenant.
func auditRunTrail(ctx context.Context, env *Env, m *msp.MSP, snk sink.Sink, man *collector.Manifest, lookback time.Duration) error {
	tres, err := auditTrail(ctx, env, collector.FromMSP(m), snk, auditedTenants(man), lookback)
	if err != nil {
		err = fmt.Errorf("audit logs: %w", err)
		fmt.Fprintln(env.Stderr, err)
		return err
	}
	auditPrintTrail(env.Stdout, tres, func(k string) string { return collectLocation(snk, k) })
	if err := trailFailed(tres); err != nil {
		fmt.Fprintf(env.Stderr, "audit logs: %v\n", err)
		return err
	}
	return nil
}

// auditResult is one audited collection.
type auditResult struct {
	man *collector.Manifest
	sum *audit.Summary
}

// auditRun collects with an Auditor observing (audit.Collect), which writes
// the audit summary and the report. A nil result comes with a
// configuration error.
func auditRun(ctx context.Context, env *Env, m *msp.MSP, snk sink.Sink, spec collectSpec, opts audit.Options) (*auditResult, error) {
	var sum *audit.Summary
	man, err := collectRunWith(ctx, env, m, snk, spec, func(ctx context.Context, cfg collector.Config) (*collector.Manifest, error) {
		man, s, err := audit.Collect(ctx, cfg, opts)
		sum = s
		return man, err
	})
	if man == nil || sum == nil {
		return nil, err
	}
	return &auditResult{man: man, sum: sum}, err
}

// auditLoadRules reads the rules from path, else from the environment
// variable (a file path or inline JSON), else the built-in ones.
func auditLoadRules(env *Env, path string) (*audit.Rules, error) {
	v, src := path, "--rules"
	if v == "" {
		v, src = env.Getenv(audit.RulesEnv), "$"+audit.RulesEnv
	}
	r, err := audit.LoadRules(v, src)
	if err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}
	return r, nil
}

// auditPrintSummary prints the audit's figures and where the report is.
func auditPrintSummary(w io.Writer, res *auditResult, snk sink.Sink) {
	s := res.sum
	t := s.Totals
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "drift\t%d change(s) in %d of %d tenant(s): %d created, %d updated, %d deleted\n",
		t.Changes, t.TenantsChanged, t.Tenants, t.Created, t.Updated, t.Deleted)
	if t.DatasetsFirst > 0 {
		fmt.Fprintf(tw, "baselines\t%d dataset(s) seen for the first time (no drift for them yet)\n", t.DatasetsFirst)
	}
	if t.DatasetsSkipped > 0 {
		fmt.Fprintf(tw, "not compared\t%d dataset(s) failed, deferred or skipped: their baselines are kept\n", t.DatasetsSkipped)
	}
	fmt.Fprintf(tw, "findings\t%d (%d new)\n", t.Findings, t.NewFindings)
	if t.Errors > 0 {
		fmt.Fprintf(tw, "audit errors\t%d (see the summary)\n", t.Errors)
	}
	fmt.Fprintf(tw, "summary\t%s\n", collectLocation(snk, audit.SummaryKey(s.RunID)))
	if res.sum.Report != "" {
		fmt.Fprintf(tw, "report\t%s\n", collectLocation(snk, res.sum.Report))
	}
	tw.Flush()
}
