package collectorfn

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/centralmsp/centralmsp/internal/scaleout"
)

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

// direct serves a direct invocation through the coordinator.
func (h *Handler) direct(ctx context.Context, reqID string, req *DirectRequest, log *slog.Logger) (*Summary, error) {
	out, err := h.coordinator(log).RunDirect(ctx, scaleout.DirectPlan{Tenants: req.Tenants, Datasets: req.Datasets, RunID: req.RunID})
	if err != nil {
		return nil, err
	}
	sum := &Summary{RequestID: reqID, Kind: KindDirect, Warnings: out.Warnings}
	sum.fill(out.Manifest)
	return sum, nil
}

// audit serves an AuditRequest through the coordinator: the since-filtered
// audit-logs dataset, the audited collection and the audit trail.
func (h *Handler) audit(ctx context.Context, reqID string, req *AuditRequest, log *slog.Logger) (*Summary, error) {
	since, err := req.SinceTime()
	if err != nil {
		return nil, err
	}
	out, err := h.coordinator(log).RunAudit(ctx, scaleout.AuditPlan{Tenants: req.Tenants, Since: since})
	if err != nil {
		return nil, err
	}
	sum := &Summary{RequestID: reqID, Kind: KindAudit, Warnings: out.Warnings, Audit: out.Audit, AuditTrail: out.AuditTrail}
	sum.fill(out.Logs)
	return sum, nil
}
