package scaleout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// AuditTrail runs the incremental audit trail (audittrail.Run) for tenants
// already known (not listed again), with an MSP session whose account-scoped
// budgets are divided by share as the engine run's were.
type AuditTrail func(ctx context.Context, tenants []msp.Tenant, share int, log *slog.Logger) (*audittrail.Result, error)

// TrailOutcome is the audit trail's outcome: per tenant its status, records
// and object keys.
type TrailOutcome struct {
	RunID   string                    `json:"run_id,omitempty"`
	Tenants []audittrail.TenantResult `json:"tenants,omitempty"`
	Written int                       `json:"written"`
	Failed  int                       `json:"failed"`
	Records int                       `json:"records"`
}

// Schedule serves a scheduled event: unless an earlier run's shards are
// still queued, it lists the tenants, estimates the run from the previous
// run's manifest and either collects in-process (previously deferred
// tenants first) or writes a plan and sends the shards. It returns an error
// when the run failed as a whole (collector.RunFailed) or nothing could be
// planned or sent. After an in-process run, the tenants it collected get
// the audit trail (Coordinator.AuditTrail).
func (c *Coordinator) Schedule(ctx context.Context) (*Scheduled, error) {
	out, err := c.schedule(ctx)
	if err != nil || out == nil || out.Manifest == nil {
		return out, err
	}
	var tw []string
	out.AuditTrail, tw = c.runAuditTrail(ctx, collectedTenants(out.Manifest), 1)
	out.Warnings = append(out.Warnings, tw...)
	return out, nil
}

// RunShard runs one shard message: the engine on its tenants with its share
// of the account budgets, a continuation for tenants it had no time for,
// then an attempt to join the run. An error means the shard failed as a
// whole and its message should be retried. After a shard that did not fail,
// its tenants get the audit trail; its failures are logged and never fail
// the shard.
func (c *Coordinator) RunShard(ctx context.Context, body []byte) error {
	if err := c.runShard(ctx, body); err != nil {
		return err
	}
	_, tw := c.runAuditTrail(ctx, trailTenants(body), c.ShardConcurrency)
	for _, w := range tw {
		c.log().WarnContext(ctx, w)
	}
	return nil
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

// trailTenants are the tenants of a shard message body, ids normalised
// (nil when it does not decode; RunShard has already refused such a
// message, and an id that does not normalise is left out).
func trailTenants(body []byte) []msp.Tenant {
	var m ShardMessage
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

// runAuditTrail runs c.AuditTrail for tenants. It never fails the caller: a
// tenant's failure is in the returned outcome and its warnings, and a
// failure of the whole trail is one warning. Without a hook or tenants it
// does nothing.
func (c *Coordinator) runAuditTrail(ctx context.Context, tenants []msp.Tenant, share int) (*TrailOutcome, []string) {
	if c.AuditTrail == nil || len(tenants) == 0 {
		return nil, nil
	}
	log := c.log()
	res, err := c.AuditTrail(ctx, tenants, share, log)
	if err != nil {
		log.ErrorContext(ctx, "audit trail failed", slog.Any("error", err))
		return nil, []string{"audit trail: " + err.Error()}
	}
	sum := &TrailOutcome{RunID: res.RunID, Tenants: res.Tenants}
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

// NewAuditTrail returns the AuditTrail hook that runs audittrail.Run for
// tenants already known, over its own MSP session from connect (1/share of
// the account budgets, as the engine run's), with base's Sink, Store,
// Lookback and Now; RunID, MSP and Logger are set per call. A nil
// base.Store skips the trail with an error (one warning of the caller).
func NewAuditTrail(connect func(ctx context.Context, share int) (*msp.MSP, error), base audittrail.Config) AuditTrail {
	return func(ctx context.Context, tenants []msp.Tenant, share int, log *slog.Logger) (*audittrail.Result, error) {
		if base.Store == nil {
			return nil, errors.New("no watermark store configured; skipped")
		}
		m, err := connect(ctx, share)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		cfg := base
		now := time.Now
		if cfg.Now != nil {
			now = cfg.Now
		}
		cfg.MSP = collector.KnownTenants(collector.FromMSP(m), tenants)
		cfg.RunID, cfg.Logger = collector.NewRunID(now()), log
		return audittrail.Run(ctx, cfg)
	}
}
