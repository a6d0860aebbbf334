package collectorfn

import (
	"context"
	"log/slog"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// coordinator is the scale-out coordinator of one invocation, configured
// from the environment: the Store, the shard queue when one is configured,
// and the engine runner with the function's metrics.
func (h *Handler) coordinator(log *slog.Logger) *scaleout.Coordinator {
	c := &scaleout.Coordinator{
		Store:            h.Store,
		Runner:           h.runner(log),
		Datasets:         h.Config.Datasets,
		Budgets:          scaleout.BudgetsFrom(h.Config.Budgets(1)),
		Concurrency:      h.Config.Concurrency,
		ShardConcurrency: h.Config.ShardConcurrency,
		ShardSize:        h.Config.ShardSize,
		ShardFraction:    h.Config.ShardFraction,
		RunWindow:        h.Config.RunWindow,
		Latency:          h.Latency,
		Now:              h.Now,
		Logger:           log,
		Joined:           h.emf(log, true),
		AuditTrail:       h.auditTrail(log),
	}
	if h.Config.Audit {
		c.Audit = audit.RunHook(audit.Options{Sink: h.Store, Store: audit.SinkStore{Sink: h.Store}, Publisher: h.Events, Rules: h.Config.AuditRules})
	}
	if h.SQS != nil {
		c.Queue = &scaleout.SQSQueue{Client: h.SQS, URL: h.Config.ShardQueueURL}
	}
	return c
}

// runner is the engine runner of one invocation: the MSP client from the
// credentials secret, the Store, and the run's metrics on Stdout.
func (h *Handler) runner(log *slog.Logger) *scaleout.EngineRunner {
	return &scaleout.EngineRunner{
		Connect: func(ctx context.Context, share int) (*msp.MSP, error) {
			return h.openMSP(ctx, share, log)
		},
		Store:  h.Store,
		Ran:    h.emf(log, false),
		Logger: log,
	}
}

// auditTrail is the coordinator's AuditTrail hook (nil when
// CENTRALMSP_AUDIT_TRAIL is off): audittrail.Run on the output store and
// the watermarks, with its own MSP session.
func (h *Handler) auditTrail(log *slog.Logger) scaleout.AuditTrail {
	if !h.Config.AuditTrail {
		return nil
	}
	connect := func(ctx context.Context, share int) (*msp.MSP, error) {
		return h.openMSP(ctx, share, log)
	}
	return scaleout.NewAuditTrail(connect, audittrail.Config{Sink: h.Store, Store: h.Watermarks, Lookback: h.Config.AuditLookback, Now: h.Now})
}

// emf returns a function that publishes a manifest's figures as one EMF
// line. template.yaml's CollectorTenantsFailedAlarm watches namespace
// CentralMSP, metric TenantsFailed, dimension Function=collector: every
// engine run (in-process, shard, audit, direct) is published with that
// dimension alone; a joined sharded run (joined) also with Run=joined,
// another metric in CloudWatch, so the alarm does not count a run's tenants
// twice.
func (h *Handler) emf(log *slog.Logger, joined bool) func(context.Context, *collector.Manifest) {
	dims := map[string]string{"Function": "collector"}
	if joined {
		dims["Run"] = "joined"
	}
	return func(ctx context.Context, m *collector.Manifest) {
		if err := collector.WriteEMF(h.stdout(), m, collector.EMFOptions{Dimensions: dims}); err != nil {
			log.ErrorContext(ctx, "writing metrics failed", slog.Any("error", err))
		}
	}
}
