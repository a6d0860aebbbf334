package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/centralmsp/centralmsp/internal/tokencache"
)

const planUsage = `usage: centralmsp plan [--tenants 100,1000,10000] [--interval 1h] [--lead 5m] [--window 8m]

Prints the Secrets Manager footprint of the token cache, computed by laying
out real-sized entries with the refresher's own code: secrets, largest secret,
writes per secret per day, peak write calls per second and monthly cost, each
checked against AWS's limits. Exits 1 when a row exceeds a limit.

flags:
`

// runPlan implements `centralmsp plan`.
func runPlan(ctx context.Context, env *Env, args []string) error {
	def := tokencache.DefaultSchedule()
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tenants := fs.String("tenants", "100,1000,10000", "comma-separated tenant counts")
	interval := fs.Duration("interval", def.CollectorInterval, "collector interval")
	lead := fs.Duration("lead", def.RefreshLead, "refresher runs this long before the collector")
	window := fs.Duration("window", def.Window, "how long after the collector starts cached tokens must stay valid")
	reads := fs.Int("collector-reads", def.CollectorReadsPerSecret, "reads of every cache secret per collection run (cost only)")
	if ok, err := parseFlags(env, fs, planUsage, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	sched := def
	sched.CollectorInterval, sched.RefreshLead, sched.Window, sched.CollectorReadsPerSecret = *interval, *lead, *window, *reads
	counts, err := parseTenantCounts(*tenants)
	if err != nil {
		return err
	}
	var plans []tokencache.Plan
	for _, n := range counts {
		if err := ctx.Err(); err != nil {
			return err
		}
		plans = append(plans, tokencache.PlanFor(n, sched))
	}
	if err := tokencache.WritePlanTable(env.Stdout, plans); err != nil {
		return err
	}
	var errs []error
	for _, p := range plans {
		if err := p.Check(); err != nil {
			errs = append(errs, fmt.Errorf("%d tenants: %w", p.Tenants, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	return nil
}
