package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// ErrNoWatermarks means the output store cannot keep the audit trail's
// watermarks (it has no conditional writes), so no audit log is read.
var ErrNoWatermarks = errors.New("the output store has no conditional writes for the audit-log watermarks")

// auditTrail reads the audited tenants' GLP audit logs with the
// exactly-once trail (internal/audittrail): each tenant continues from its
// watermark, kept in the same store as the output, and a tenant without
// one starts lookback before now.
func auditTrail(ctx context.Context, env *Env, m collector.MSP, snk sink.Sink, tenants []msp.Tenant, lookback time.Duration) (*audittrail.Result, error) {
	cs, ok := snk.(sink.Conditional)
	if !ok {
		return nil, ErrNoWatermarks
	}
	if len(tenants) == 0 {
		return &audittrail.Result{}, nil
	}
	return audittrail.Run(ctx, audittrail.Config{
		MSP:      collector.KnownTenants(m, tenants),
		Sink:     snk,
		Store:    audittrail.SinkStore{Sink: cs},
		Lookback: lookback,
		Logger:   env.Logger,
	})
}

// auditedTenants are the tenants the audit's collection started (ok or
// failed; not deferred, skipped or unresolved): those whose audit logs the
// trail reads.
func auditedTenants(man *collector.Manifest) []msp.Tenant {
	var ts []msp.Tenant
	for _, t := range man.Tenants {
		if _, err := msp.NormalizeTenantID(t.ID); err != nil {
			continue // a selector that matched no tenant
		}
		if t.Status == collector.StatusOK || t.Status == collector.StatusFailed {
			ts = append(ts, msp.Tenant{ID: t.ID, Name: t.Name})
		}
	}
	return ts
}

// trailFailed returns an error naming how many tenants' trails failed
// (nil when none did).
func trailFailed(res *audittrail.Result) error {
	n := 0
	for _, t := range res.Tenants {
		if t.Status == audittrail.StatusFailed {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("audit logs of %d tenant(s) could not be read (their watermarks did not advance; the next audit reads them)", n)
}

// auditPrintTrail prints the audit-log trail's figures.
func auditPrintTrail(w io.Writer, res *audittrail.Result, loc func(string) string) {
	var written, upToDate, failed, records int
	for _, t := range res.Tenants {
		records += t.Records
		switch t.Status {
		case audittrail.StatusWritten:
			written++
		case audittrail.StatusFailed:
			failed++
		default:
			upToDate++
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "audit logs\t%d new event(s) from %d tenant(s); %d up to date, %d failed\n", records, written, upToDate, failed)
	fmt.Fprintf(tw, "audit-log objects\t%s\n", loc("inventory/dataset="+audittrail.Dataset+"/"))
	tw.Flush()
}
