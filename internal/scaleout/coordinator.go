package scaleout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
)

// maxTimeout is Lambda's longest invocation, assumed when ctx has no
// deadline.
const maxTimeout = 15 * time.Minute

// Queue carries shard messages to the invocations that run them: SQS in
// Lambda (SQSQueue), a slice in the demo (LocalQueue), a fake in tests.
type Queue interface {
	// Send enqueues the messages. Messages not known to be sent are
	// listed in a *SendError's Unsent.
	Send(ctx context.Context, msgs ...ShardMessage) error
	// Backlog returns the messages waiting and those being processed.
	Backlog(ctx context.Context) (waiting, inFlight int, err error)
	// RetryLater makes a received message that failed visible again after
	// retryDelay(receiveCount) and returns that delay.
	RetryLater(ctx context.Context, receipt string, receiveCount int) (time.Duration, error)
}

// Runner runs the collector engine for the coordinator (EngineRunner over
// an MSP; a fake in tests).
type Runner interface {
	// Open connects to the MSP with 1/share of every account-scoped budget.
	Open(ctx context.Context, share int) (Session, error)
}

// Session is one connection to the MSP.
type Session interface {
	// List reads the MSP's tenant list once (collector.ListTenants).
	List(ctx context.Context) ([]collector.ListedTenant, error)
	// Run runs the engine; the session supplies cfg's MSP and Sink.
	Run(ctx context.Context, cfg collector.Config) (*collector.Manifest, error)
	// Close releases the connection.
	Close(ctx context.Context)
}

// Coordinator owns a scheduled run from the schedule to the joined
// manifest: Schedule decides in-process or sharded, writes the plan and
// sends the shards; RunShard runs one shard, continues it when it ran out of
// time and joins the run when every shard is in. It keeps no state between
// calls: everything it needs is in the Store (see the package comment).
type Coordinator struct {
	// Store holds the dataset objects and the run objects.
	Store sink.Sink
	// Queue carries shard messages; nil means every run is in-process and
	// deferred tenants wait for the next scheduled run.
	Queue Queue
	// Runner runs the engine.
	Runner Runner
	// Datasets are the dataset names of a scheduled run, and of a shard
	// message that names none (empty: the engine's default).
	Datasets []string
	// Budgets are the budgets one invocation has alone (share 1), as the
	// planner sees them (BudgetsFrom).
	Budgets []Budget
	// Concurrency is the tenants one invocation collects in parallel.
	Concurrency int
	// ShardConcurrency is the shard invocations running at once; each
	// shard gets 1/ShardConcurrency of the account-scoped budgets.
	ShardConcurrency int
	// ShardSize, when > 0, is the most tenants per invocation.
	ShardSize int
	// ShardFraction is the fraction of the invocation's time a shard is
	// sized to (default DefaultShardFraction).
	ShardFraction float64
	// RunWindow, when > 0, is the time a sharded run has: shards received
	// after it defer their tenants to the next scheduled run.
	RunWindow time.Duration
	// Latency is the planner's assumed request latency (default
	// DefaultLatency).
	Latency time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Joined, if set, is called with every joined run manifest (metrics).
	Joined func(ctx context.Context, m *collector.Manifest)
	// Audit, if set, observes every engine run the coordinator starts (the
	// in-process run and each shard) and finishes its audit after it.
	Audit Audit
	// AuditTrail, if set, runs the incremental audit trail for the tenants
	// the in-process run or a shard collected (see trail.go).
	AuditTrail AuditTrail
}

// Mode is what a scheduled run did.
type Mode string

// Modes of a scheduled run.
const (
	ModeInProcess Mode = "in-process"
	ModeSharded   Mode = "sharded"
	// ModeSkipped: shard messages of an earlier run are still queued.
	ModeSkipped Mode = "skipped"
)

// Scheduled is the outcome of Schedule.
type Scheduled struct {
	RunID  string
	Mode   Mode
	Reason string
	// Manifest is the in-process run's manifest.
	Manifest *collector.Manifest
	// Plan is the plan's key and Shards the shards sent (sharded runs).
	Plan   string
	Shards int
	// Tenants listed and TenantsDeferred by the previous run (sharded runs).
	Tenants, TenantsDeferred int
	// Estimate of all tenants in one invocation; RunEstimate of the run as
	// planned.
	Estimate    *Estimate
	RunEstimate time.Duration
	Warnings    []string
	// Audit is what the in-process run's audit wrote (Coordinator.Audit).
	Audit *AuditOutcome
	// AuditTrail is the in-process run's audit trail (Coordinator.AuditTrail).
	AuditTrail *TrailOutcome
}

func (c *Coordinator) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Coordinator) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Coordinator) shardFraction() float64 {
	if c.ShardFraction > 0 {
		return c.ShardFraction
	}
	return DefaultShardFraction
}

// remaining is the time left in the invocation.
func (c *Coordinator) remaining(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return dl.Sub(c.now())
	}
	return maxTimeout
}

// detached is a context for finishing work after ctx's own time is over:
// recording what was not sent, continuing and joining matter most then.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), collector.DefaultFinishTime)
}

// RetryLater shortens a failed shard message's invisibility to
// retryDelay(receiveCount), so a shard that failed fast is retried in
// minutes; without a queue or a receipt it does nothing.
func (c *Coordinator) RetryLater(ctx context.Context, receipt string, receiveCount int) {
	log := c.log()
	if c.Queue == nil || receipt == "" {
		return
	}
	// Detached: a shard that ran out of time still schedules its retry.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	d, err := c.Queue.RetryLater(rctx, receipt, receiveCount)
	if err != nil {
		log.WarnContext(ctx, "the retry keeps the queue's visibility timeout", slog.Any("error", err))
		return
	}
	log.InfoContext(ctx, "shard retry scheduled", slog.Duration("in", d), slog.Int("receive_count", receiveCount))
}

// WithLogger returns a copy of c that logs to l (e.g. with a message id).
func (c *Coordinator) WithLogger(l *slog.Logger) *Coordinator {
	cc := *c
	cc.Logger = l
	return &cc
}

// join joins runID if every expected shard manifest exists and reports a
// joined run through Joined. It returns an error matching sink.ErrNotFound
// when the run has no plan.
func (c *Coordinator) join(ctx context.Context, runID string, log *slog.Logger) error {
	res, err := tryJoin(ctx, c.Store, runID)
	switch {
	case err != nil:
		return err
	case res.Joined == nil:
		log.InfoContext(ctx, "shard done; waiting for other shards", slog.String("missing", res.Missing))
		return nil
	}
	j := res.Joined
	log.InfoContext(ctx, "run joined", slog.Int("shards", len(j.Shards)), slog.Bool("complete", j.Complete),
		slog.Int("tenants", j.Totals.Tenants), slog.Int("tenants_failed", j.Totals.TenantsFailed),
		slog.Int("tenants_deferred", j.Totals.TenantsDeferred))
	if c.Joined != nil {
		c.Joined(ctx, j)
	}
	return nil
}

// errNoPlan tells a shard of a run without a plan (e.g. a sample event).
func errNoPlan(err error) bool { return errors.Is(err, sink.ErrNotFound) }

// joinError wraps a failed join of runID.
func joinError(runID string, err error) error {
	return fmt.Errorf("scaleout: joining run %s: %w", runID, err)
}
