package collectorfn

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"

	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// TrailSummary is the incremental audit trail's outcome in an invocation's
// Summary: per tenant its status, records and object keys.
type TrailSummary struct {
	RunID   string                    `json:"run_id,omitempty"`
	Tenants []audittrail.TenantResult `json:"tenants,omitempty"`
	Written int                       `json:"written"`
	Failed  int                       `json:"failed"`
	Records int                       `json:"records"`
}

// collectedTenants are the tenants a manifest's run started (ok or failed;
// not deferred or skipped).
func collectedTenants(m *collector.Manifest) []msp.Tenant {
	if m == nil {
		return nil
	}
	var ts []msp.Tenant
	for _, t := range m.Tenants {
		if t.Status == collector.StatusOK || t.Status == collector.StatusFailed {
			ts = append(ts, msp.Tenant{ID: t.ID, Name: t.Name})
		}
	}
	return ts
}

// shardTenants are the tenants of a shard message body, ids normalised
// (nil when it does not decode; the coordinator has already refused such a
// message, and an id that does not normalise is left out).
func shardTenants(body []byte) []msp.Tenant {
	var m scaleout.ShardMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var ts []msp.Tenant
	for i, id := range m.Tenants {
		n, err := msp.NormalizeTenantID(id)
		if err != nil {
			continue
		}
		t := msp.Tenant{ID: n}
		if len(m.Names) == len(m.Tenants) {
			t.Name = m.Names[i]
		}
		ts = append(ts, t)
	}
	return ts
}

// knownTenants is an MSP whose tenant list is the tenants already known
// (the run's manifest or the shard message): the trail lists no tenants
// again.
type knownTenants struct {
	collector.MSP
	tenants []msp.Tenant
}

func (k knownTenants) Tenants(context.Context) iter.Seq2[msp.Tenant, error] {
	return func(yield func(msp.Tenant, error) bool) {
		for _, t := range k.tenants {
			if !yield(t, nil) {
				return
			}
		}
	}
}

// trail runs the incremental audit trail (audittrail.Run) for tenants
// (without listing the MSP's tenants again) with its own MSP session: share divides the account-scoped budgets as the
// engine run's did. It never fails the invocation: a tenant's failure is in
// the returned summary and its warnings, and a failure of the whole trail
// (no store, no MSP, tenant list) is one warning.
func (h *Handler) trail(ctx context.Context, tenants []msp.Tenant, share int, log *slog.Logger) (*TrailSummary, []string) {
	if !h.Config.AuditTrail || len(tenants) == 0 {
		return nil, nil
	}
	if h.Watermarks == nil {
		return nil, []string{"audit trail: no watermark store configured; skipped"}
	}
	m, err := h.openMSP(ctx, h.Config.Budgets(share), log)
	if err != nil {
		log.ErrorContext(ctx, "audit trail skipped", slog.Any("error", err))
		return nil, []string{"audit trail: " + err.Error()}
	}
	defer m.Close()
	res, err := audittrail.Run(ctx, audittrail.Config{
		MSP:      knownTenants{MSP: collector.FromMSP(m), tenants: tenants},
		Sink:     h.Store,
		Store:    h.Watermarks,
		Lookback: h.Config.AuditLookback,
		RunID:    collector.NewRunID(h.now()),
		Now:      h.Now,
		Logger:   log,
	})
	if err != nil {
		log.ErrorContext(ctx, "audit trail failed", slog.Any("error", err))
		return nil, []string{"audit trail: " + err.Error()}
	}
	sum := &TrailSummary{RunID: res.RunID, Tenants: res.Tenants}
	var warnings []string
	for _, t := range res.Tenants {
		sum.Records += t.Records
		switch t.Status {
		case audittrail.StatusWritten:
			sum.Written++
		case audittrail.StatusFailed:
			sum.Failed++
			warnings = append(warnings, fmt.Sprintf("audit trail: tenant %s: %s", t.TenantID, t.Err))
		}
	}
	log.InfoContext(ctx, "audit trail", slog.String("run_id", res.RunID), slog.Int("tenants", len(res.Tenants)),
		slog.Int("written", sum.Written), slog.Int("failed", sum.Failed), slog.Int("records", sum.Records))
	return sum, warnings
}
