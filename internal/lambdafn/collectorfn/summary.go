package collectorfn

import (
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
)

// Summary is the result of a scheduled, audit or direct invocation. It
// never holds a token or secret.
type Summary struct {
	RequestID string `json:"request_id,omitempty"`
	Kind      Kind   `json:"kind"`
	RunID     string `json:"run_id"`
	// Mode of a scheduled run: "in-process", "sharded", or "skipped" when
	// shards of an earlier run are still queued.
	Mode   string `json:"mode,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Shards sent, for a sharded run; Plan is its key.
	Shards int    `json:"shards,omitempty"`
	Plan   string `json:"plan,omitempty"`
	// Manifest is the key of the run's manifest (in-process runs).
	Manifest        string   `json:"manifest,omitempty"`
	Complete        bool     `json:"complete"`
	Tenants         int      `json:"tenants"`
	TenantsOK       int      `json:"tenants_ok"`
	TenantsFailed   int      `json:"tenants_failed"`
	TenantsDeferred int      `json:"tenants_deferred"`
	Records         int64    `json:"records"`
	APICalls        int64    `json:"api_calls"`
	RateLimited     int64    `json:"rate_limited"`
	TokenCacheHits  int64    `json:"token_cache_hits"`
	Exchanges       int64    `json:"exchanges"`
	DurationMS      int64    `json:"duration_ms"`
	Warnings        []string `json:"warnings,omitempty"`
	// Estimate is the planner's estimate of a scheduled run in one
	// invocation; RunEstimateMS its estimated wall time as planned.
	Estimate      *scaleout.Estimate `json:"estimate,omitempty"`
	RunEstimateMS int64              `json:"run_estimate_ms,omitempty"`
	// Audit is where the scheduled in-process run's audit is (summary and
	// report keys under Location).
	Audit *scaleout.AuditOutcome `json:"audit,omitempty"`
	// AuditTrail is the incremental audit trail's outcome
	// (CENTRALMSP_AUDIT_TRAIL): the scheduled in-process run's collected
	// tenants, or an AuditRequest's tenants.
	AuditTrail *TrailSummary `json:"audit_trail,omitempty"`
}

// TrailSummary is the incremental audit trail's outcome in an invocation's
// Summary: per tenant its status, records and object keys.
type TrailSummary = scaleout.TrailOutcome

// fill sets the run's id, manifest key and figures from m (none when nil).
func (s *Summary) fill(m *collector.Manifest) {
	if m == nil {
		return
	}
	s.RunID, s.Manifest = m.RunID, collector.ManifestKey(m.RunID)
	t := m.Totals
	s.Complete = m.Complete
	s.Tenants, s.TenantsOK, s.TenantsFailed, s.TenantsDeferred = t.Tenants, t.TenantsOK, t.TenantsFailed, t.TenantsDeferred
	s.Records, s.APICalls, s.RateLimited = t.Records, t.APICalls, t.RateLimited
	s.TokenCacheHits, s.Exchanges, s.DurationMS = t.TokenCacheHits, t.Exchanges, t.DurationMS
}
