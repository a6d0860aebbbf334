package collectorfn

import (
	"context"
	"errors"
	"iter"
	"log/slog"

	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// TrailSummary is the incremental audit trail's outcome in an invocation's
// Summary: per tenant its status, records and object keys.
type TrailSummary = scaleout.TrailOutcome

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

// auditTrail is the coordinator's AuditTrail hook (nil when
// CENTRALMSP_AUDIT_TRAIL is off): audittrail.Run on the output store and
// the watermarks, with its own MSP session whose budgets are divided by
// share.
func (h *Handler) auditTrail() scaleout.AuditTrail {
	if !h.Config.AuditTrail {
		return nil
	}
	return func(ctx context.Context, tenants []msp.Tenant, share int, log *slog.Logger) (*audittrail.Result, error) {
		if h.Watermarks == nil {
			return nil, errors.New("no watermark store configured; skipped")
		}
		m, err := h.openMSP(ctx, h.Config.Budgets(share), log)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		return audittrail.Run(ctx, audittrail.Config{
			MSP:      knownTenants{MSP: collector.FromMSP(m), tenants: tenants},
			Sink:     h.Store,
			Store:    h.Watermarks,
			Lookback: h.Config.AuditLookback,
			RunID:    collector.NewRunID(h.now()),
			Now:      h.Now,
			Logger:   log,
		})
	}
}
