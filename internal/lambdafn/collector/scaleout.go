package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// MaxTimeout is Lambda's longest invocation, assumed when ctx has no
// deadline.
const MaxTimeout = 15 * time.Minute

// remaining is the time left in the invocation.
func (h *Handler) remaining(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return dl.Sub(h.now())
	}
	return MaxTimeout
}

// scheduled serves a scheduled event: it lists the tenants, estimates the
// run from the previous run's manifest and either collects in-process
// (previously deferred tenants first) or writes a plan and sends the shards.
func (h *Handler) scheduled(ctx context.Context, reqID string, log *slog.Logger) (*Summary, error) {
	runID := collector.NewRunID(h.now())
	log = log.With(slog.String("run_id", runID))
	if h.SQS != nil {
		// While an earlier run's shards are still queued, a new run
		// would compete for the same budgets and grow the queue.
		n, inFlight, err := scaleout.Backlog(ctx, h.SQS, h.Config.ShardQueueURL)
		switch {
		case err != nil:
			log.WarnContext(ctx, "the shard queue's backlog cannot be read; planning anyway", slog.Any("error", err))
		case n > 0:
			reason := fmt.Sprintf("%d shard message(s) of an earlier run are still queued (%d in flight)", n, inFlight)
			log.WarnContext(ctx, "scheduled run skipped", slog.String("reason", reason))
			return &Summary{RequestID: reqID, Kind: KindScheduled, RunID: runID, Mode: "skipped", Reason: reason, Warnings: []string{reason}}, nil
		}
	}
	datasets, err := collector.SelectDatasets(h.Config.Datasets...)
	if err != nil {
		return nil, err
	}
	budgets := h.Config.Budgets(1)
	m, err := h.openMSP(ctx, budgets, log)
	if err != nil {
		return nil, err
	}
	defer closeMSP(ctx, m, log)
	all, ids, err := listTenants(ctx, m)
	if err != nil {
		// The engine lists again and records the failure in the run's
		// manifest (and its metrics) before reporting it.
		log.ErrorContext(ctx, "listing tenants failed; running in-process to record it", slog.Any("error", err))
		man, err := h.run(ctx, collector.FromMSP(m), collector.Config{RunID: runID, Datasets: h.Config.Datasets}, log)
		return finish(ctx, &Summary{RequestID: reqID, Kind: KindScheduled, Mode: "in-process"}, man, err, log)
	}
	prev, err := scaleout.Previous(ctx, h.Store)
	if err != nil {
		log.WarnContext(ctx, "the previous run cannot be read; estimating with defaults", slog.Any("error", err))
		prev = nil
	}
	costs := scaleout.Costs(ids, datasets, prev)
	left := h.remaining(ctx)
	p := scaleout.Params{
		Budgets:          scaleout.BudgetsFrom(budgets),
		Latency:          h.Latency,
		Concurrency:      h.Config.Concurrency,
		Available:        left - collector.DefaultReserve - collector.DefaultFinishTime,
		ShardConcurrency: h.Config.ShardConcurrency,
		ShardTime:        time.Duration(float64(left) * h.Config.ShardFraction),
		MaxTenants:       h.Config.ShardSize,
	}
	dec := scaleout.Decide(costs, p)
	sum := &Summary{RequestID: reqID, Kind: KindScheduled, RunID: runID, Reason: dec.Reason, Estimate: &dec.Whole,
		RunEstimateMS: dec.Run.Milliseconds()}
	log.InfoContext(ctx, "scheduled run planned", slog.Bool("in_process", dec.InProcess), slog.String("reason", dec.Reason),
		slog.String("estimate", dec.Whole.String()), slog.Bool("previous_run", prev != nil))

	if !dec.InProcess && h.SQS != nil {
		names := make([]string, len(datasets))
		for i, d := range datasets {
			names[i] = d.Name
		}
		plan := &scaleout.Plan{
			Version: scaleout.PlanVersion, RunID: runID, CreatedAt: h.now().UTC(), Datasets: names,
			ShardConcurrency: h.Config.ShardConcurrency, Reason: dec.Reason, Estimate: dec.Whole, RunEstimate: dec.Run, Shards: dec.Shards,
			TenantNames: make(map[string]string, len(all)),
		}
		for _, lt := range all {
			if lt.err == nil {
				plan.TenantNames[lt.t.ID] = lt.t.Name
			}
		}
		if h.Config.RunWindow > 0 && dec.Run > h.Config.RunWindow {
			w := fmt.Sprintf("the sharded run is estimated at %s, longer than %s=%s: raise the shard concurrency or the budgets, or collect less often",
				dec.Run.Round(time.Second), EnvRunWindow, h.Config.RunWindow)
			log.WarnContext(ctx, w)
			sum.Warnings = append(sum.Warnings, w)
		}
		if h.Config.RunWindow > 0 {
			plan.DeadlineUnix = h.now().Add(h.Config.RunWindow).Unix()
		}
		if err := scaleout.WritePlan(ctx, h.Store, plan); err != nil {
			return nil, err
		}
		sender := &scaleout.Sender{Client: h.SQS, QueueURL: h.Config.ShardQueueURL}
		unsent, err := h.sendShards(ctx, sender, plan, log)
		if err != nil {
			return nil, err
		}
		sum.Mode, sum.Shards, sum.Plan, sum.Tenants = "sharded", len(plan.Shards)-len(unsent), scaleout.PlanKey(runID), len(ids)
		for _, c := range costs {
			if c.Deferred {
				sum.TenantsDeferred++
			}
		}
		if len(unsent) > 0 {
			n := 0
			for _, m := range unsent {
				n += len(m.Tenants)
			}
			sum.Warnings = append(sum.Warnings, fmt.Sprintf("%d of %d shards could not be sent: their %d tenants are deferred to the next scheduled run", len(unsent), len(plan.Shards), n))
		}
		log.InfoContext(ctx, "shards sent", slog.Int("shards", sum.Shards), slog.Int("tenants", len(ids)))
		return sum, nil
	}
	if !dec.InProcess {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("the run does not fit one invocation and %s is not set: tenants not started in time are deferred to the next run", EnvShardQueueURL))
	}
	sum.Mode = "in-process"
	cfg := collector.Config{RunID: runID, Datasets: h.Config.Datasets}
	deferred := 0
	for _, c := range costs {
		if c.Deferred {
			deferred++
		}
	}
	if deferred > 0 {
		// Previously deferred tenants first; tenants with unusable ids
		// are then not selectable and are left out.
		cfg.Tenants = scaleout.Order(costs)
		log.InfoContext(ctx, "collecting the previous run's deferred tenants first", slog.Int("deferred", deferred))
	}
	man, err := h.run(ctx, listed{MSP: collector.FromMSP(m), tenants: all}, cfg, log)
	sum, err = finish(ctx, sum, man, err, log)
	if err != nil {
		return nil, err
	}
	if err := scaleout.UpdateLatest(ctx, h.Store, man); err != nil {
		log.WarnContext(ctx, "updating the latest-run pointer failed", slog.Any("error", err))
		sum.Warnings = append(sum.Warnings, err.Error())
	}
	return sum, nil
}

// sendShards sends the plan's shard messages. Shards that cannot be sent
// get a deferred shard manifest, so the run is joined all the same (their
// tenants deferred, first in the next scheduled run) instead of never. It
// returns the unsent shards, and an error only when no shard was sent or
// the unsent ones could not be recorded: then the invocation fails (its
// on-failure destination alarms), and a joined manifest still records every
// tenant deferred when possible.
func (h *Handler) sendShards(ctx context.Context, sender *scaleout.Sender, plan *scaleout.Plan, log *slog.Logger) ([]scaleout.ShardMessage, error) {
	err := sender.Send(ctx, plan.Messages()...)
	var se *scaleout.SendError
	if err == nil || !errors.As(err, &se) || len(se.Unsent) == 0 {
		return nil, err
	}
	log.ErrorContext(ctx, "shards could not be sent; their tenants are deferred", slog.Int("unsent", len(se.Unsent)),
		slog.Int("shards", len(plan.Shards)), slog.Any("error", err))
	// Detached: recording what was not sent matters most when time is short.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), collector.DefaultFinishTime)
	defer cancel()
	if derr := scaleout.DeferUnsent(dctx, h.Store, se.Unsent, plan.Datasets, h.now()); derr != nil {
		return nil, errors.Join(err, fmt.Errorf("collector: recording the unsent shards: %w", derr))
	}
	// Join now if nothing is left to wait for: when no shard was sent, or
	// when the sent ones all finished before the deferred manifests were
	// written (their own join attempts then found those missing).
	_, jerr := scaleout.TryJoin(dctx, h.Store, plan.RunID)
	if len(se.Unsent) < len(plan.Shards) {
		if jerr != nil {
			log.WarnContext(ctx, "joining after deferring the unsent shards failed; the last shard joins", slog.Any("error", jerr))
		}
		return se.Unsent, nil
	}
	if jerr != nil {
		err = errors.Join(err, fmt.Errorf("collector: joining run %s: %w", plan.RunID, jerr))
	}
	return nil, err
}

// shards processes an SQS batch of shard messages one after another and
// reports the ones that failed as a whole.
func (h *Handler) shards(ctx context.Context, ev *events.SQSEvent, log *slog.Logger) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, rec := range ev.Records {
		rlog := log.With(slog.String("message_id", rec.MessageId))
		if err := h.shard(ctx, []byte(rec.Body), rlog); err != nil {
			rlog.ErrorContext(ctx, "shard failed; SQS will retry it", slog.Any("error", err))
			h.retryLater(ctx, rec, rlog)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp
}

// retryLater shortens a failed shard message's invisibility from the
// queue's visibility timeout (the function's whole timeout and more) to
// scaleout.RetryDelay, so a shard that failed fast is retried in minutes.
// When that fails the message keeps the queue's timeout.
func (h *Handler) retryLater(ctx context.Context, rec events.SQSMessage, log *slog.Logger) {
	if h.SQS == nil || h.Config.ShardQueueURL == "" || rec.ReceiptHandle == "" {
		return
	}
	n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"]) // absent: 0, the first delay
	// Detached: a shard that ran out of time still schedules its retry.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	d, err := scaleout.RetryLater(rctx, h.SQS, h.Config.ShardQueueURL, rec.ReceiptHandle, n)
	if err != nil {
		log.WarnContext(ctx, "the retry keeps the queue's visibility timeout", slog.Any("error", err))
		return
	}
	log.InfoContext(ctx, "shard retry scheduled", slog.Duration("in", d), slog.Int("receive_count", n))
}

// shard runs one shard: the engine on its tenants with its share of the
// account budgets, a continuation for tenants it had no time for, then an
// attempt to join the run. An error means the shard failed as a whole.
func (h *Handler) shard(ctx context.Context, body []byte, log *slog.Logger) error {
	msg, err := scaleout.DecodeShardMessage(body)
	if err != nil {
		return err
	}
	log = log.With(slog.String("run_id", msg.RunID), slog.String("shard", msg.ID()))
	if msg.Duplicates > 0 {
		log.WarnContext(ctx, "repeated tenant ids in the shard message: each is collected once", slog.Int("duplicate_tenants", msg.Duplicates))
	}
	ds := msg.Datasets
	if len(ds) == 0 {
		ds = h.Config.Datasets
	}
	dsets, err := collector.SelectDatasets(ds...)
	if err != nil {
		return err
	}
	names := make([]string, len(dsets))
	for i, d := range dsets {
		names[i] = d.Name
	}
	var shardErr error
	now := h.now()
	late := !msg.Deadline().IsZero() && !now.Before(msg.Deadline())
	var man *collector.Manifest
	if late {
		log.WarnContext(ctx, "shard received after its deadline: its tenants are deferred to the next scheduled run",
			slog.Time("deadline", msg.Deadline()), slog.Int("tenants", len(msg.Tenants)))
		man = scaleout.DeferredManifest(msg, names, msg.TenantNames(), now)
		if err := collector.WriteManifest(ctx, h.Sink, man); err != nil {
			return err
		}
	} else {
		m, err := h.openMSP(ctx, h.Config.Budgets(h.Config.ShardConcurrency), log)
		if err != nil {
			return err
		}
		var runErr error
		var src collector.MSP = collector.FromMSP(m)
		if named := msg.TenantNames(); named != nil {
			// The scheduled run listed the tenants: no listing per shard.
			l := listed{MSP: src}
			for _, id := range msg.Tenants {
				nid, _ := msp.NormalizeTenantID(id) // valid: DecodeShardMessage checked it
				l.tenants = append(l.tenants, listedTenant{t: msp.Tenant{ID: nid, WorkspaceID: id, Name: named[id]}})
			}
			src = l
		}
		man, runErr = h.run(ctx, src, collector.Config{RunID: msg.RunID, Shard: msg.ID(), Date: scaleout.RunDate(msg.RunID, now),
			Tenants: msg.Tenants, Datasets: names}, log)
		closeMSP(ctx, m, log)
		switch {
		case man == nil || manifestFailed(man, runErr):
			// Without its manifest the shard cannot be joined: retry it.
			return runErr
		case errors.Is(runErr, collector.ErrNothingCollected) && man.Totals.TenantsDeferred == 0:
			// Failed as a whole (e.g. the API was down): SQS retries it
			// after the join attempt below, and the retry's manifest
			// replaces this one.
			shardErr = runErr
		case runErr != nil:
			log.WarnContext(ctx, "shard finished with errors", slog.Any("error", runErr))
		}
		if err := h.continueShard(ctx, msg, man, log); err != nil {
			return err
		}
	}
	// Detached: the join must not be cut short by the invocation's
	// cancellation once the shard's own work is done.
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), collector.DefaultFinishTime)
	defer cancel()
	res, err := scaleout.TryJoin(jctx, h.Store, msg.RunID)
	switch {
	case errors.Is(err, scaleout.ErrNotFound):
		log.WarnContext(ctx, "the run has no plan; the shard's manifest is not joined", slog.Any("error", err))
		return shardErr
	case err != nil:
		return errors.Join(shardErr, fmt.Errorf("collector: joining run %s: %w", msg.RunID, err))
	case res.Joined == nil:
		log.InfoContext(ctx, "shard done; waiting for other shards", slog.String("missing", res.Missing))
		return shardErr
	}
	j := res.Joined
	log.InfoContext(ctx, "run joined", slog.Int("shards", len(j.Shards)), slog.Bool("complete", j.Complete),
		slog.Int("tenants", j.Totals.Tenants), slog.Int("tenants_failed", j.Totals.TenantsFailed),
		slog.Int("tenants_deferred", j.Totals.TenantsDeferred))
	if err := collector.WriteEMF(h.stdout(), j, collector.EMFOptions{Dimensions: JoinedEMFDimensions()}); err != nil {
		log.ErrorContext(ctx, "writing metrics failed", slog.Any("error", err))
	}
	return shardErr
}

// continueShard enqueues a continuation for the tenants the shard deferred,
// recording it first so the joiner waits for it. Without a queue, past the
// run's deadline or at the end of the chain, the tenants stay deferred in
// the manifest and the next scheduled run collects them first.
func (h *Handler) continueShard(ctx context.Context, msg *scaleout.ShardMessage, man *collector.Manifest, log *slog.Logger) error {
	var deferred []string
	for _, t := range man.Tenants {
		if t.Status == collector.StatusDeferred {
			deferred = append(deferred, t.ID)
		}
	}
	if len(deferred) == 0 {
		return nil
	}
	next, ok := msg.Next(deferred)
	switch {
	case h.SQS == nil:
		ok = false
	case !msg.Deadline().IsZero() && !h.now().Before(msg.Deadline()):
		ok = false
	}
	if !ok {
		log.WarnContext(ctx, "deferred tenants are left for the next scheduled run", slog.Int("deferred", len(deferred)))
		return nil
	}
	// Detached: the invocation's time is nearly over by now.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), collector.DefaultFinishTime)
	defer cancel()
	if err := scaleout.RecordContinuation(cctx, h.Store, msg.ID(), next); err != nil {
		return err
	}
	sender := &scaleout.Sender{Client: h.SQS, QueueURL: h.Config.ShardQueueURL}
	if err := sender.Send(cctx, next); err != nil {
		return err
	}
	log.InfoContext(ctx, "continuation sent", slog.String("continuation", next.ID()), slog.Int("tenants", len(deferred)))
	return nil
}
