package scaleout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// schedule is Schedule without the audit trail.
func (c *Coordinator) schedule(ctx context.Context) (*Scheduled, error) {
	runID := collector.NewRunID(c.now())
	log := c.log().With(slog.String("run_id", runID))
	if out := c.skipIfQueued(ctx, runID, log); out != nil {
		return out, nil
	}
	datasets, err := collector.SelectDatasets(c.Datasets...)
	if err != nil {
		return nil, err
	}
	s, err := c.Runner.Open(ctx, 1)
	if err != nil {
		return nil, err
	}
	defer s.Close(ctx)
	listed, err := s.List(ctx)
	if err != nil {
		// The engine lists again and records the failure in the run's
		// manifest (and its metrics) before reporting it.
		log.ErrorContext(ctx, "listing tenants failed; running in-process to record it", slog.Any("error", err))
		man, aout, warns, err := c.runEngine(ctx, s, collector.Config{RunID: runID, Datasets: c.Datasets, Concurrency: c.Concurrency, Logger: log, Now: c.Now}, log)
		return c.finish(ctx, &Scheduled{RunID: runID, Mode: ModeInProcess, Audit: aout, Warnings: warns}, man, err, log)
	}
	costs, dec := c.decide(ctx, listed, datasets, log)
	out := &Scheduled{RunID: runID, Reason: dec.Reason, Estimate: &dec.Whole, RunEstimate: dec.Run}
	if !dec.InProcess && c.Queue != nil {
		return c.sendPlan(ctx, s, out, listed, datasets, costs, dec, log)
	}
	if !dec.InProcess {
		out.Warnings = append(out.Warnings, "the run does not fit one invocation and there is no shard queue: tenants not started in time are deferred to the next run")
	}
	return c.runInProcess(ctx, s, out, listed, costs, log)
}

// skipIfQueued returns a skipped run's outcome while shard messages of an
// earlier run are still queued: a new run would compete for the same
// budgets and grow the queue.
func (c *Coordinator) skipIfQueued(ctx context.Context, runID string, log *slog.Logger) *Scheduled {
	if c.Queue == nil {
		return nil
	}
	n, inFlight, err := c.Queue.Backlog(ctx)
	switch {
	case err != nil:
		log.WarnContext(ctx, "the shard queue's backlog cannot be read; planning anyway", slog.Any("error", err))
		return nil
	case n == 0:
		return nil
	}
	reason := fmt.Sprintf("%d shard message(s) of an earlier run are still queued (%d in flight)", n, inFlight)
	log.WarnContext(ctx, "scheduled run skipped", slog.String("reason", reason))
	return &Scheduled{RunID: runID, Mode: ModeSkipped, Reason: reason, Warnings: []string{reason}}
}

// decide estimates every listed tenant from the previous run and decides
// between in-process and sharded.
func (c *Coordinator) decide(ctx context.Context, listed []collector.ListedTenant, datasets []collector.Dataset, log *slog.Logger) ([]tenantCost, decision) {
	prev, err := Previous(ctx, c.Store)
	if err != nil {
		log.WarnContext(ctx, "the previous run cannot be read; estimating with defaults", slog.Any("error", err))
		prev = nil
	}
	costs := estimateCosts(usableIDs(listed), datasets, prev)
	left := c.remaining(ctx)
	dec := decide(costs, planParams{
		Budgets:          c.Budgets,
		Latency:          c.Latency,
		Concurrency:      c.Concurrency,
		Available:        left - collector.DefaultReserve - collector.DefaultFinishTime,
		ShardConcurrency: c.ShardConcurrency,
		ShardTime:        time.Duration(float64(left) * c.shardFraction()),
		MaxTenants:       c.ShardSize,
	})
	log.InfoContext(ctx, "scheduled run planned", slog.Bool("in_process", dec.InProcess), slog.String("reason", dec.Reason),
		slog.String("estimate", dec.Whole.String()), slog.Bool("previous_run", prev != nil))
	return costs, dec
}

// usableIDs are the ids of the listed tenants without an error.
func usableIDs(listed []collector.ListedTenant) []string {
	var ids []string
	for _, lt := range listed {
		if lt.Err == nil {
			ids = append(ids, lt.Tenant.ID)
		}
	}
	return ids
}

// runInProcess collects every listed tenant in this invocation, previously
// deferred ones first, and points the latest-run pointer at the run.
func (c *Coordinator) runInProcess(ctx context.Context, s Session, out *Scheduled, listed []collector.ListedTenant, costs []tenantCost, log *slog.Logger) (*Scheduled, error) {
	out.Mode = ModeInProcess
	cfg := collector.Config{RunID: out.RunID, Datasets: c.Datasets, Listed: listed, Concurrency: c.Concurrency, Logger: log, Now: c.Now}
	if n := countDeferred(costs); n > 0 {
		// Previously deferred tenants first; tenants with unusable ids
		// are then not selectable and are left out.
		cfg.Tenants = deferredFirst(costs)
		log.InfoContext(ctx, "collecting the previous run's deferred tenants first", slog.Int("deferred", n))
	}
	man, aout, warns, err := c.runEngine(ctx, s, cfg, log)
	out.Audit = aout
	out.Warnings = append(out.Warnings, warns...)
	out, err = c.finish(ctx, out, man, err, log)
	if err != nil {
		return nil, err
	}
	if err := updateLatest(ctx, c.Store, man); err != nil {
		log.WarnContext(ctx, "updating the latest-run pointer failed", slog.Any("error", err))
		out.Warnings = append(out.Warnings, err.Error())
	}
	return out, nil
}

// finish turns an in-process engine result into the outcome: an error when
// the run failed as a whole, otherwise a warning for the run's errors.
func (c *Coordinator) finish(ctx context.Context, out *Scheduled, man *collector.Manifest, err error, log *slog.Logger) (*Scheduled, error) {
	warning, failed := collector.Outcome(ctx, man, err, log)
	if failed != nil {
		return nil, failed
	}
	if warning != "" {
		out.Warnings = append(out.Warnings, warning)
	}
	out.RunID = man.RunID
	out.Manifest = man
	return out, nil
}

func countDeferred(costs []tenantCost) int {
	n := 0
	for _, t := range costs {
		if t.Deferred {
			n++
		}
	}
	return n
}

// sendPlan writes the run's plan and sends one message per shard.
func (c *Coordinator) sendPlan(ctx context.Context, s Session, out *Scheduled, listed []collector.ListedTenant, datasets []collector.Dataset,
	costs []tenantCost, dec decision, log *slog.Logger) (*Scheduled, error) {
	plan := c.newPlan(out.RunID, listed, datasets, dec)
	plan.MSPPart = c.collectMSPPart(ctx, s, out, listed, log)
	if c.RunWindow > 0 && dec.Run > c.RunWindow {
		w := fmt.Sprintf("the sharded run is estimated at %s, longer than the run window of %s: raise the shard concurrency or the budgets, or collect less often",
			dec.Run.Round(time.Second), c.RunWindow)
		log.WarnContext(ctx, w)
		out.Warnings = append(out.Warnings, w)
	}
	if err := writePlan(ctx, c.Store, plan); err != nil {
		return nil, err
	}
	unsent, err := c.sendShards(ctx, plan, log)
	if err != nil {
		return nil, err
	}
	out.Mode, out.Shards, out.Plan, out.Tenants = ModeSharded, len(plan.Shards)-len(unsent), planKey(out.RunID), len(usableIDs(listed))
	out.TenantsDeferred = countDeferred(costs)
	if len(unsent) > 0 {
		n := 0
		for _, m := range unsent {
			n += len(m.Tenants)
		}
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d of %d shards could not be sent: their %d tenants are deferred to the next scheduled run", len(unsent), len(plan.Shards), n))
	}
	log.InfoContext(ctx, "shards sent", slog.Int("shards", out.Shards), slog.Int("tenants", out.Tenants))
	return out, nil
}

// collectMSPPart reads a sharded run's MSP-level datasets (tenant-health)
// once, here, with the whole tenant list: a shard's list is partial, so no
// shard reads them. It reports whether the part's manifest was written, so
// the plan makes the join expect it; a failed read is in that manifest and
// makes the joined run incomplete, but does not stop the shards.
func (c *Coordinator) collectMSPPart(ctx context.Context, s Session, out *Scheduled, listed []collector.ListedTenant, log *slog.Logger) bool {
	mds, err := collector.SelectMSPDatasets(c.Datasets...)
	if err != nil || len(mds) == 0 {
		return false
	}
	names := make([]string, len(mds))
	for i, d := range mds {
		names[i] = d.Name
	}
	cfg := collector.Config{RunID: out.RunID, Shard: collector.MSPShard, Datasets: names, Listed: listed, Logger: log, Now: c.Now}
	if _, err := s.Run(ctx, cfg); err != nil {
		w := fmt.Sprintf("the run's MSP-level datasets were not read: %v", err)
		log.WarnContext(ctx, w)
		out.Warnings = append(out.Warnings, w)
	}
	if _, err := c.Store.Get(ctx, collector.ShardKey(out.RunID, collector.MSPShard)); err != nil {
		log.WarnContext(ctx, "the MSP-level part's manifest is missing: the joined run will not show it", slog.Any("error", err))
		return false
	}
	return true
}

// newPlan is the plan of a sharded run.
func (c *Coordinator) newPlan(runID string, listed []collector.ListedTenant, datasets []collector.Dataset, dec decision) *RunPlan {
	names := make([]string, len(datasets))
	for i, d := range datasets {
		names[i] = d.Name
	}
	plan := &RunPlan{
		Version: planVersion, RunID: runID, CreatedAt: c.now().UTC(), Datasets: names,
		ShardConcurrency: c.ShardConcurrency, Reason: dec.Reason, Estimate: dec.Whole, RunEstimate: dec.Run, Shards: dec.Shards,
		TenantNames: make(map[string]string, len(listed)),
	}
	for _, lt := range listed {
		if lt.Err == nil {
			plan.TenantNames[lt.Tenant.ID] = lt.Tenant.Name
		}
	}
	if c.RunWindow > 0 {
		plan.DeadlineUnix = c.now().Add(c.RunWindow).Unix()
	}
	return plan
}

// sendShards sends the plan's shard messages. Shards that cannot be sent
// get a deferred shard manifest, so the run is joined all the same (their
// tenants deferred, first in the next scheduled run) instead of never. It
// returns the unsent shards, and an error only when no shard was sent or
// the unsent ones could not be recorded: then the invocation fails, and a
// joined manifest still records every tenant deferred when possible.
func (c *Coordinator) sendShards(ctx context.Context, plan *RunPlan, log *slog.Logger) ([]ShardMessage, error) {
	err := c.Queue.Send(ctx, plan.Messages()...)
	var se *SendError
	if err == nil || !errors.As(err, &se) || len(se.Unsent) == 0 {
		return nil, err
	}
	log.ErrorContext(ctx, "shards could not be sent; their tenants are deferred", slog.Int("unsent", len(se.Unsent)),
		slog.Int("shards", len(plan.Shards)), slog.Any("error", err))
	dctx, cancel := detached(ctx)
	defer cancel()
	if derr := deferUnsent(dctx, c.Store, se.Unsent, plan.Datasets, c.now()); derr != nil {
		return nil, errors.Join(err, fmt.Errorf("scaleout: recording the unsent shards: %w", derr))
	}
	// Join now if nothing is left to wait for: when no shard was sent, or
	// when the sent ones all finished before the deferred manifests were
	// written (their own join attempts then found those missing).
	_, jerr := tryJoin(dctx, c.Store, plan.RunID)
	if len(se.Unsent) < len(plan.Shards) {
		if jerr != nil {
			log.WarnContext(ctx, "joining after deferring the unsent shards failed; the last shard joins", slog.Any("error", jerr))
		}
		return se.Unsent, nil
	}
	if jerr != nil {
		err = errors.Join(err, joinError(plan.RunID, jerr))
	}
	return nil, err
}
