package scaleout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// AuditLogsDataset is the opt-in dataset an audit collects since a time.
const AuditLogsDataset = "audit-logs"

// auditLogsFilterParam is the audit-logs dataset's filter parameter
// (collector.Config.Params).
const auditLogsFilterParam = "filter"

// AuditLogsFilter is the audit-logs filter of the logs created at or after
// since.
func AuditLogsFilter(since time.Time) string {
	return "createdAt ge '" + since.UTC().Format(time.RFC3339) + "'"
}

// DirectPlan is a collection asked for directly (not scheduled): no plan,
// no shards, no audit, one invocation with the whole budgets.
type DirectPlan struct {
	// Tenants are workspace ids or exact names; empty means all.
	Tenants []string
	// Datasets default to Coordinator.Datasets.
	Datasets []string
	// RunID defaults to a new one.
	RunID string
}

// DirectResult is the outcome of RunDirect.
type DirectResult struct {
	Manifest *collector.Manifest
	// Warnings are the run's errors when it did not fail as a whole.
	Warnings []string
}

// RunDirect collects p's tenants and datasets in this invocation. It returns
// an error when the datasets are unknown or the run failed as a whole
// (collector.RunFailed); tenant and dataset failures are in the manifest
// and a warning. It neither audits nor moves the latest-run pointer.
func (c *Coordinator) RunDirect(ctx context.Context, p DirectPlan) (*DirectResult, error) {
	ds := p.Datasets
	if len(ds) == 0 {
		ds = c.Datasets
	}
	if _, err := collector.SelectDatasets(ds...); err != nil {
		return nil, fmt.Errorf("scaleout: direct collection: %w", err)
	}
	log := c.log()
	man, err := c.runOnce(ctx, collector.Config{Datasets: ds, Tenants: p.Tenants, RunID: c.runID(p.RunID)}, log)
	warning, failed := collector.Outcome(ctx, man, err, log)
	if failed != nil {
		return nil, fmt.Errorf("scaleout: direct collection: %w", failed)
	}
	out := &DirectResult{Manifest: man}
	if warning != "" {
		out.Warnings = append(out.Warnings, warning)
	}
	return out, nil
}

// runID is id, or a new run id when empty.
func (c *Coordinator) runID(id string) string {
	if id != "" {
		return id
	}
	return collector.NewRunID(c.now())
}

// runOnce runs the engine once, unobserved, in a session with the whole
// budgets.
func (c *Coordinator) runOnce(ctx context.Context, cfg collector.Config, log *slog.Logger) (*collector.Manifest, error) {
	s, err := c.Runner.Open(ctx, 1)
	if err != nil {
		return nil, err
	}
	defer s.Close(ctx)
	cfg.Concurrency, cfg.Logger, cfg.Now = c.Concurrency, log, c.Now
	return s.Run(ctx, cfg)
}

// AuditPlan is an audit asked for now (an AuditRequest).
type AuditPlan struct {
	// Tenants are workspace ids or names; empty means all.
	Tenants []string
	// Since is the lower bound of the audit logs collected (required).
	Since time.Time
	// RunID names the audit-logs run (default a new one).
	RunID string
}

// AuditResult is the outcome of RunAudit.
type AuditResult struct {
	// Logs is the audit-logs run's manifest (nil when it wrote none).
	Logs *collector.Manifest
	// Inventory is the audited collection's manifest (nil without
	// Coordinator.Audit or when it wrote none).
	Inventory *collector.Manifest
	// Audit is what the audited collection's audit wrote.
	Audit *AuditOutcome
	// AuditTrail is the trail of the tenants the two runs collected.
	AuditTrail *TrailOutcome
	// Warnings name the step (and tenant) they come from.
	Warnings []string
}

// RunAudit serves an audit request in three steps, each with the whole
// budgets: (1) the audit-logs dataset since p.Since; (2) when c.Audit is
// set, an audited collection of c.Datasets for the same tenants (drift,
// findings, events, summary and report, like a scheduled run's); (3) the
// audit trail (c.AuditTrail) of the tenants those runs collected. A step
// that fails is a warning naming it, and the next steps still run: the
// audited collection is worth having when the audit logs could not be read.
// It returns an error only when the audit-logs run failed as a whole and
// no audit was written (or none is configured); the latest-run pointer is
// never moved.
func (c *Coordinator) RunAudit(ctx context.Context, p AuditPlan) (*AuditResult, error) {
	if p.Since.IsZero() {
		return nil, errors.New("scaleout: audit: no since time")
	}
	log := c.log()
	filter := AuditLogsFilter(p.Since)
	log.InfoContext(ctx, "audit request", slog.Int("tenants", len(p.Tenants)), slog.String("filter", filter))
	res := &AuditResult{}
	cfg := collector.Config{RunID: c.runID(p.RunID), Tenants: p.Tenants, Datasets: []string{AuditLogsDataset},
		Params: map[string]map[string]any{AuditLogsDataset: {auditLogsFilterParam: filter}}}
	man, err := c.runOnce(ctx, cfg, log)
	res.Logs = man
	warning, logsErr := collector.Outcome(ctx, man, err, log)
	if warning != "" {
		res.Warnings = append(res.Warnings, "audit-logs collection: "+warning)
	}
	if logsErr != nil {
		logsErr = fmt.Errorf("scaleout: audit: audit-logs collection: %w", logsErr)
	}
	var invErr error
	if c.Audit != nil {
		invErr = c.auditedCollection(ctx, p.Tenants, res, log)
	}
	if logsErr != nil && (c.Audit == nil || invErr != nil) {
		return nil, errors.Join(logsErr, invErr)
	}
	for _, e := range []error{logsErr, invErr} {
		if e != nil {
			res.Warnings = append(res.Warnings, strings.TrimPrefix(e.Error(), "scaleout: audit: "))
		}
	}
	var tw []string
	res.AuditTrail, tw = c.runAuditTrail(ctx, unionTenants(collectedTenants(res.Logs), collectedTenants(res.Inventory)), 1)
	res.Warnings = append(res.Warnings, tw...)
	return res, nil
}

// auditedCollection runs one audited collection of tenants (all when empty)
// under a new run id, into res. Its error means no audit was written or the
// run failed as a whole; lesser problems are warnings in res.
func (c *Coordinator) auditedCollection(ctx context.Context, tenants []string, res *AuditResult, log *slog.Logger) error {
	const step = "scaleout: audit: audited collection: "
	now := c.now()
	cfg := collector.Config{RunID: collector.NewRunID(now), Date: now.UTC().Format(time.DateOnly), Datasets: c.Datasets,
		Tenants: tenants, Concurrency: c.Concurrency, Logger: log, Now: c.Now}
	s, err := c.Runner.Open(ctx, 1)
	if err != nil {
		return fmt.Errorf(step+"%w", err)
	}
	man, aout, warns, err := c.runEngine(ctx, s, cfg, log)
	s.Close(ctx)
	res.Inventory, res.Audit = man, aout
	for _, w := range warns {
		res.Warnings = append(res.Warnings, "audited collection: "+w)
	}
	switch {
	case collector.RunFailed(man, err):
		return fmt.Errorf(step+"%w", err)
	case err != nil:
		res.Warnings = append(res.Warnings, "audited collection: "+err.Error())
	}
	if aout == nil {
		return errors.New(step + "no audit was written")
	}
	return nil
}

// unionTenants is a's tenants, then b's not in a (by id).
func unionTenants(a, b []msp.Tenant) []msp.Tenant {
	seen := make(map[string]bool, len(a))
	for _, t := range a {
		seen[t.ID] = true
	}
	for _, t := range b {
		if !seen[t.ID] {
			seen[t.ID] = true
			a = append(a, t)
		}
	}
	return a
}

// objectURI joins a store's location (sink.Sink's String: "s3://bucket/prefix/",
// "memory://" or a directory) and a key into the one address of the object:
// a URI for a store with a scheme, a file path for a directory.
func objectURI(location, key string) string {
	switch {
	case location == "":
		return key
	case strings.Contains(location, "://"):
		if strings.HasSuffix(location, "/") {
			return location + key
		}
		return location + "/" + key
	}
	return filepath.Join(location, filepath.FromSlash(key))
}
