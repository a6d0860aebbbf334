package collectorfn

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/audittrail"
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
		Joined:           h.emf(log, JoinedEMFDimensions()),
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

// auditTrail is the coordinator's AuditTrail hook (nil when
// CENTRALMSP_AUDIT_TRAIL is off): audittrail.Run on the output store and
// the watermarks, with its own MSP session.
func (h *Handler) auditTrail(log *slog.Logger) scaleout.AuditTrail {
	if !h.Config.AuditTrail {
		return nil
	}
	connect := func(ctx context.Context, share int) (*msp.MSP, error) {
		return h.openMSP(ctx, h.Config.Budgets(share), log)
	}
	return scaleout.NewAuditTrail(connect, audittrail.Config{Sink: h.Store, Store: h.Watermarks, Lookback: h.Config.AuditLookback, Now: h.Now})
}

// scheduled serves a scheduled event through the coordinator and shapes
// its outcome as the invocation's summary.
func (h *Handler) scheduled(ctx context.Context, reqID string, log *slog.Logger) (*Summary, error) {
	out, err := h.coordinator(log).Schedule(ctx)
	if err != nil {
		return nil, err
	}
	sum := &Summary{RequestID: reqID, Kind: KindScheduled, RunID: out.RunID, Mode: string(out.Mode), Reason: out.Reason,
		Shards: out.Shards, Plan: out.Plan, Tenants: out.Tenants, TenantsDeferred: out.TenantsDeferred,
		Warnings: out.Warnings, Estimate: out.Estimate, RunEstimateMS: out.RunEstimate.Milliseconds(), Audit: out.Audit,
		AuditTrail: out.AuditTrail}
	sum.fill(out.Manifest)
	return sum, nil
}

// shards runs an SQS batch of shard messages through the coordinator and
// reports the ones that failed as a whole.
func (h *Handler) shards(ctx context.Context, ev *events.SQSEvent, log *slog.Logger) events.SQSEventResponse {
	ds := make([]scaleout.ShardDelivery, len(ev.Records))
	for i, rec := range ev.Records {
		n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"]) // absent: 0, the first delay
		ds[i] = scaleout.ShardDelivery{ID: rec.MessageId, Body: []byte(rec.Body), Receipt: rec.ReceiptHandle, ReceiveCount: n}
	}
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, id := range h.coordinator(log).RunShards(ctx, ds) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return resp
}
