package scaleout

import (
	"context"
	"errors"
	"log/slog"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// runShard is RunShard without the audit trail.
func (c *Coordinator) runShard(ctx context.Context, body []byte) error {
	msg, err := DecodeShardMessage(body)
	if err != nil {
		return err
	}
	log := c.log().With(slog.String("run_id", msg.RunID), slog.String("shard", msg.ID()))
	if msg.Duplicates > 0 {
		log.WarnContext(ctx, "repeated tenant ids in the shard message: each is collected once", slog.Int("duplicate_tenants", msg.Duplicates))
	}
	ds := msg.Datasets
	if len(ds) == 0 {
		ds = c.Datasets
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
	if c.late(msg) {
		err = c.deferShard(ctx, msg, names, log)
	} else {
		shardErr, err = c.collectShard(ctx, msg, names, log)
	}
	if err != nil {
		return err
	}
	// Detached: the join must not be cut short by the invocation's
	// cancellation once the shard's own work is done.
	jctx, cancel := detached(ctx)
	defer cancel()
	switch err := c.join(jctx, msg.RunID, log); {
	case errNoPlan(err):
		log.WarnContext(ctx, "the run has no plan; the shard's manifest is not joined", slog.Any("error", err))
	case err != nil:
		return errors.Join(shardErr, joinError(msg.RunID, err))
	}
	return shardErr
}

// late reports whether the run's deadline has passed.
func (c *Coordinator) late(msg *ShardMessage) bool {
	return !msg.Deadline().IsZero() && !c.now().Before(msg.Deadline())
}

// deferShard writes the manifest of a shard received after its deadline:
// every tenant deferred to the next scheduled run.
func (c *Coordinator) deferShard(ctx context.Context, msg *ShardMessage, datasets []string, log *slog.Logger) error {
	log.WarnContext(ctx, "shard received after its deadline: its tenants are deferred to the next scheduled run",
		slog.Time("deadline", msg.Deadline()), slog.Int("tenants", len(msg.Tenants)))
	return collector.WriteManifest(ctx, c.Store, deferredManifest(msg, datasets, msg.TenantNames(), c.now()))
}

// collectShard runs the engine on the shard's tenants and continues the
// shard. shardErr is set when the shard collected nothing (SQS retries it
// after the join attempt, and the retry's manifest replaces this one); err
// when the shard cannot be joined or continued.
func (c *Coordinator) collectShard(ctx context.Context, msg *ShardMessage, datasets []string, log *slog.Logger) (shardErr, err error) {
	now := c.now()
	s, err := c.Runner.Open(ctx, c.ShardConcurrency)
	if err != nil {
		return nil, err
	}
	cfg := collector.Config{RunID: msg.RunID, Shard: msg.ID(), Date: runDate(msg.RunID, now), Tenants: msg.Tenants, Datasets: datasets,
		Listed: shardTenants(msg), Concurrency: c.Concurrency, Logger: log, Now: c.Now}
	man, _, _, runErr := c.runEngine(ctx, s, cfg, log)
	s.Close(ctx)
	switch {
	case man == nil || collector.ManifestUnwritten(man, runErr):
		// Without its manifest the shard cannot be joined: retry it.
		return nil, runErr
	case errors.Is(runErr, collector.ErrNothingCollected) && man.Totals.TenantsDeferred == 0:
		// Failed as a whole (e.g. the API was down).
		shardErr = runErr
	case runErr != nil:
		log.WarnContext(ctx, "shard finished with errors", slog.Any("error", runErr))
	}
	return shardErr, c.continueShard(ctx, msg, man, log)
}

// shardTenants is the tenant list a message carries with names (the
// scheduled run listed them: no listing per shard), or nil.
func shardTenants(msg *ShardMessage) []collector.ListedTenant {
	named := msg.TenantNames()
	if named == nil {
		return nil
	}
	out := make([]collector.ListedTenant, 0, len(msg.Tenants))
	for _, id := range msg.Tenants {
		nid, _ := msp.NormalizeTenantID(id) // valid: DecodeShardMessage checked it
		out = append(out, collector.ListedTenant{Tenant: msp.Tenant{ID: nid, WorkspaceID: id, Name: named[id]}})
	}
	return out
}

// continueShard enqueues a continuation for the tenants the shard deferred,
// recording it first so the joiner waits for it. Without a queue, past the
// run's deadline or at the end of the chain, the tenants stay deferred in
// the manifest and the next scheduled run collects them first.
func (c *Coordinator) continueShard(ctx context.Context, msg *ShardMessage, man *collector.Manifest, log *slog.Logger) error {
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
	if !ok || c.Queue == nil || c.late(msg) {
		log.WarnContext(ctx, "deferred tenants are left for the next scheduled run", slog.Int("deferred", len(deferred)))
		return nil
	}
	// Detached: the invocation's time is nearly over by now.
	cctx, cancel := detached(ctx)
	defer cancel()
	if err := recordContinuation(cctx, c.Store, msg.ID(), next); err != nil {
		return err
	}
	if err := c.Queue.Send(cctx, next); err != nil {
		return err
	}
	log.InfoContext(ctx, "continuation sent", slog.String("continuation", next.ID()), slog.Int("tenants", len(deferred)))
	return nil
}

// ShardDelivery is one shard message as the queue delivered it.
type ShardDelivery struct {
	// ID names the message (SQS message id) in the logs and the result.
	ID   string
	Body []byte
	// Receipt and ReceiveCount let a failed message be retried sooner
	// (RetryLater); an empty receipt keeps the queue's timeout.
	Receipt      string
	ReceiveCount int
}

// RunShards runs delivered shard messages one after another (RunShard) and
// returns the ids of those that failed as a whole, to be received again;
// each of them is made visible again after retryDelay (RetryLater).
func (c *Coordinator) RunShards(ctx context.Context, ds []ShardDelivery) (failed []string) {
	for _, d := range ds {
		cc := c.WithLogger(c.log().With(slog.String("message_id", d.ID)))
		if err := cc.RunShard(ctx, d.Body); err != nil {
			cc.log().ErrorContext(ctx, "shard failed; the queue will deliver it again", slog.Any("error", err))
			cc.RetryLater(ctx, d.Receipt, d.ReceiveCount)
			failed = append(failed, d.ID)
		}
	}
	return failed
}
