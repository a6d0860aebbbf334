package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/centralmsp/centralmsp/internal/costmodel"
	"github.com/centralmsp/centralmsp/internal/tokencache"
)

const costUsage = `usage: centralmsp cost [--manifest runs/<run-id>/manifest.json] [--tenants 100,1000,10000]
                       [--interval 1h] [--retention-days 90] [per-tenant overrides]

Estimates the monthly AWS cost of the SAM application (Lambda GB-seconds and
requests, Secrets Manager secrets and calls, KMS, S3 requests and storage,
SQS) for each tenant count, from a run's own figures: a run manifest
(--manifest) or the per-tenant flags, over a typical run's defaults. Token
cache secrets are laid out with the refresher's own code. Prices are
us-east-1 list prices (see the table header).

flags:
`

// runCost implements `centralmsp cost`.
func runCost(ctx context.Context, env *Env, args []string) error {
	typ := costmodel.TypicalRun()
	cfg := costmodel.DefaultConfig()
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	manifest := fs.String("manifest", "", "run manifest (runs/<run-id>/manifest.json) to take the per-tenant figures from")
	tenants := fs.String("tenants", "100,1000,10000", "comma-separated tenant counts")
	interval := fs.Duration("interval", time.Hour, "collection interval")
	retention := fs.Float64("retention-days", cfg.RetentionDays, "S3 retention of inventory/ and runs/ (template DataRetentionDays)")
	memory := fs.Float64("memory", cfg.CollectorMemoryMB, "collector memory in MB (template CollectorMemorySize)")
	objects := fs.Float64("objects-per-tenant", typ.ObjectsPerTenant, "dataset objects written per tenant per run")
	calls := fs.Float64("api-calls-per-tenant", typ.APICallsPerTenant, "Central/GLP API calls per tenant per run")
	bytesPer := fs.Float64("bytes-per-tenant", typ.BytesPerTenant, "compressed bytes written per tenant per run")
	secs := fs.Float64("seconds-per-tenant", typ.CollectorSecondsPerTenant, "collector invocation seconds per tenant")
	refresh := fs.Float64("refresh-seconds-per-tenant", typ.RefreshSecondsPerTenant, "token refresher seconds per tenant")
	if ok, err := parseFlags(env, fs, costUsage, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *interval < time.Minute || *interval > 24*time.Hour {
		return &UsageError{Msg: fmt.Sprintf("--interval %s: want between 1m and 24h", *interval)}
	}
	counts, err := parseTenantCounts(*tenants)
	if err != nil {
		return err
	}

	run := typ
	if *manifest != "" {
		m, err := costmodel.ReadManifestFile(*manifest)
		if err != nil {
			return &UsageError{Msg: err.Error()}
		}
		if run, err = costmodel.FromManifest(m, *manifest); err != nil {
			return &UsageError{Msg: err.Error()}
		}
	}
	// Flags given explicitly override the manifest or the defaults.
	overridden := false
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "objects-per-tenant":
			run.ObjectsPerTenant, overridden = *objects, true
		case "api-calls-per-tenant":
			run.APICallsPerTenant, overridden = *calls, true
		case "bytes-per-tenant":
			run.BytesPerTenant, overridden = *bytesPer, true
		case "seconds-per-tenant":
			run.CollectorSecondsPerTenant, overridden = *secs, true
		case "refresh-seconds-per-tenant":
			run.RefreshSecondsPerTenant, overridden = *refresh, true
		}
	})
	if overridden {
		run.Source += ", with flag overrides"
	}

	cfg.RunsPerMonth = costmodel.HoursPerMonth * float64(time.Hour) / float64(*interval)
	cfg.RetentionDays = *retention
	cfg.CollectorMemoryMB = *memory
	sched := tokencache.DefaultSchedule()
	sched.CollectorInterval = *interval
	cfg.CacheSecrets = func(n int) int { return tokencache.PlanFor(n, sched).TenantSecrets }

	var ests []costmodel.Estimate
	for _, n := range counts {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := costmodel.Compute(run, cfg, n)
		if err != nil {
			return &UsageError{Msg: err.Error()}
		}
		ests = append(ests, e)
	}
	return costmodel.WriteTable(env.Stdout, run, cfg, ests)
}
