package scaleout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

var testSince = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// trailCall is one call of a recording AuditTrail hook.
type trailCall struct {
	tenants []string
	share   int
	runs    int // engine runs done when the trail started
}

// auditSetup is a coordinator over a fake runner of n tenants with a fake
// audit and an AuditTrail hook that record when they start.
type auditSetup struct {
	c          *Coordinator
	r          *fakeRunner
	a          *fakeAudit
	auditRuns  []int // engine runs done when each audit started
	trailCalls []trailCall
}

func newAuditSetup(n int) *auditSetup {
	store := sink.NewMemory()
	s := &auditSetup{r: newFakeRunner(store, n), a: &fakeAudit{seen: map[string][]string{}}}
	s.c = newTestCoordinator(store, s.r, nil)
	s.c.Audit = func(ctx context.Context, cfg collector.Config) (collector.ItemObserver, AuditFinish, error) {
		s.auditRuns = append(s.auditRuns, len(s.r.runs))
		return s.a.hook(ctx, cfg)
	}
	s.c.AuditTrail = func(_ context.Context, ts []msp.Tenant, share int, _ *slog.Logger) (*audittrail.Result, error) {
		call := trailCall{share: share, runs: len(s.r.runs)}
		res := &audittrail.Result{RunID: "trail"}
		for _, t := range ts {
			call.tenants = append(call.tenants, t.ID)
			res.Tenants = append(res.Tenants, audittrail.TenantResult{TenantID: t.ID, Status: audittrail.StatusWritten, Records: 1})
		}
		s.trailCalls = append(s.trailCalls, call)
		return res, nil
	}
	return s
}

func (s *auditSetup) id(i int) string { return s.r.tenants[i].Tenant.ID }

func hasAuditLogs(cfg collector.Config) bool { return slices.Contains(cfg.Datasets, AuditLogsDataset) }

// TestRunAuditSteps: the audit-logs run (since-filtered, unobserved), then
// the audited collection of the same tenants under its own run id, then
// the trail of the tenants collected; the report's URI is joined; the
// latest-run pointer is not moved.
func TestRunAuditSteps(t *testing.T) {
	s := newAuditSetup(3)
	named := []string{s.id(0), s.id(2)}
	res, err := s.c.RunAudit(context.Background(), AuditPlan{Tenants: named, Since: testSince, RunID: "audit-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.r.runs) != 2 || !slices.Equal(s.r.opened, []int{1, 1}) {
		t.Fatalf("%d engine runs, shares %v; want 2 runs with the whole budgets", len(s.r.runs), s.r.opened)
	}
	logs, inv := s.r.runs[0], s.r.runs[1]
	if logs.RunID != "audit-1" || !slices.Equal(logs.Datasets, []string{AuditLogsDataset}) || logs.Observer != nil ||
		logs.Params[AuditLogsDataset]["filter"] != "createdAt ge '2026-11-23T00:00:00Z'" || !slices.Equal(logs.Tenants, named) {
		t.Errorf("first run %+v, want the unobserved audit-logs run since %s", logs, testSince)
	}
	if inv.RunID == logs.RunID || !slices.Equal(inv.Datasets, s.c.Datasets) || inv.Observer == nil ||
		!slices.Equal(inv.Tenants, named) || inv.Date != "2026-11-24" {
		t.Errorf("second run %+v, want the audited collection of the same tenants", inv)
	}
	if !slices.Equal(s.auditRuns, []int{1}) {
		t.Errorf("audits started after runs %v, want one after the audit-logs run", s.auditRuns)
	}
	if len(s.trailCalls) != 1 || s.trailCalls[0].runs != 2 || s.trailCalls[0].share != 1 || !slices.Equal(s.trailCalls[0].tenants, named) {
		t.Errorf("trail calls %+v, want one after both runs for %v", s.trailCalls, named)
	}
	if res.Logs == nil || res.Logs.RunID != "audit-1" || res.Inventory == nil || res.Inventory.RunID != inv.RunID {
		t.Errorf("manifests: logs %+v inventory %+v", res.Logs, res.Inventory)
	}
	if res.Audit == nil || res.Audit.ReportURI != "memory://"+res.Audit.Report || res.AuditTrail == nil || res.AuditTrail.Written != 2 {
		t.Errorf("audit %+v trail %+v", res.Audit, res.AuditTrail)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %v", res.Warnings)
	}
	if p, err := Previous(context.Background(), s.c.Store); p != nil || err != nil {
		t.Errorf("latest run %v %v, want none", p, err)
	}
}

// TestRunAuditLogsFailStillAudits: an audit-logs run that failed as a whole
// is a warning naming the step; the audited collection, its report and the
// trail still run.
func TestRunAuditLogsFailStillAudits(t *testing.T) {
	s := newAuditSetup(2)
	s.r.failIf = hasAuditLogs
	res, err := s.c.RunAudit(context.Background(), AuditPlan{Since: testSince})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.r.runs) != 2 || res.Audit == nil || res.Audit.Report == "" || res.Inventory.Totals.TenantsOK != 2 {
		t.Fatalf("runs %d audit %+v inventory %+v", len(s.r.runs), res.Audit, res.Inventory)
	}
	w := strings.Join(res.Warnings, "\n")
	if !strings.Contains(w, "audit-logs collection: ") || !strings.Contains(w, collector.ErrNothingCollected.Error()) {
		t.Errorf("warnings %q, want the failed audit-logs run named", res.Warnings)
	}
	if res.Logs == nil || res.Logs.Totals.TenantsFailed != 2 {
		t.Errorf("logs manifest %+v", res.Logs)
	}
	if len(s.trailCalls) != 1 || len(s.trailCalls[0].tenants) != 2 {
		t.Errorf("trail calls %+v", s.trailCalls)
	}
}

// TestRunAuditFailsWhenNothingAudited: when the audit-logs run failed as a
// whole and no audit was written (every run failed, or auditing is off),
// RunAudit fails with each step named, and runs no trail.
func TestRunAuditFailsWhenNothingAudited(t *testing.T) {
	s := newAuditSetup(2)
	s.r.fail = true
	_, err := s.c.RunAudit(context.Background(), AuditPlan{Since: testSince})
	if err == nil || !errors.Is(err, collector.ErrNothingCollected) ||
		!strings.Contains(err.Error(), "audit: audit-logs collection: ") || !strings.Contains(err.Error(), "audit: audited collection: ") {
		t.Fatalf("error %v, want both failed steps named", err)
	}
	if len(s.trailCalls) != 0 {
		t.Errorf("trail ran: %+v", s.trailCalls)
	}

	off := newAuditSetup(2)
	off.c.Audit = nil
	off.r.failIf = hasAuditLogs
	if _, err := off.c.RunAudit(context.Background(), AuditPlan{Since: testSince}); err == nil || !strings.Contains(err.Error(), "audit-logs collection") {
		t.Fatalf("auditing off: %v", err)
	}
	if len(off.r.runs) != 1 || len(off.trailCalls) != 0 {
		t.Errorf("auditing off: %d runs, trail %+v; want the audit-logs run only", len(off.r.runs), off.trailCalls)
	}
	if _, err := off.c.RunAudit(context.Background(), AuditPlan{}); err == nil {
		t.Error("no since time accepted")
	}
}

// TestRunAuditTrailOnlyCollected: tenants a run deferred are not given to
// the trail; without an audit hook the trail follows the audit-logs run.
func TestRunAuditTrailOnlyCollected(t *testing.T) {
	s := newAuditSetup(3)
	s.r.deferAll = map[string]bool{s.id(1): true}
	if _, err := s.c.RunAudit(context.Background(), AuditPlan{Since: testSince}); err != nil {
		t.Fatal(err)
	}
	if len(s.trailCalls) != 1 || !slices.Equal(s.trailCalls[0].tenants, []string{s.id(0), s.id(2)}) {
		t.Errorf("trail calls %+v, want the collected tenants only", s.trailCalls)
	}

	off := newAuditSetup(2)
	off.c.Audit = nil
	res, err := off.c.RunAudit(context.Background(), AuditPlan{Since: testSince})
	if err != nil || res.Audit != nil || res.Inventory != nil || len(off.r.runs) != 1 {
		t.Fatalf("auditing off: %+v %v, runs %d", res, err, len(off.r.runs))
	}
	if len(off.trailCalls) != 1 || off.trailCalls[0].runs != 1 || len(off.trailCalls[0].tenants) != 2 {
		t.Errorf("auditing off: trail calls %+v", off.trailCalls)
	}
}

// TestRunAuditAuditStartFails: an audit that cannot start leaves an
// unaudited collection and a warning naming the step; the request stands
// on its audit-logs run.
func TestRunAuditAuditStartFails(t *testing.T) {
	s := newAuditSetup(2)
	s.a.startErr = errors.New("no baseline store")
	res, err := s.c.RunAudit(context.Background(), AuditPlan{Since: testSince})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(res.Warnings, "\n")
	if res.Audit != nil || !strings.Contains(w, "audited collection: audit: no baseline store") || !strings.Contains(w, "audited collection: no audit was written") {
		t.Errorf("audit %+v warnings %q", res.Audit, res.Warnings)
	}
}

// TestRunDirect: one unobserved, unaudited run of the named tenants and
// datasets (the coordinator's by default) with the whole budgets; a run that
// failed as a whole or unknown datasets are errors naming the step.
func TestRunDirect(t *testing.T) {
	s := newAuditSetup(3)
	ctx := context.Background()
	res, err := s.c.RunDirect(ctx, DirectPlan{Tenants: []string{s.id(1)}, RunID: "manual-1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.r.runs[0]
	if res.Manifest == nil || res.Manifest.RunID != "manual-1" || res.Manifest.Totals.TenantsOK != 1 || len(res.Warnings) != 0 {
		t.Fatalf("result %+v", res)
	}
	if cfg.Observer != nil || !slices.Equal(cfg.Datasets, s.c.Datasets) || cfg.Concurrency != s.c.Concurrency || !slices.Equal(s.r.opened, []int{1}) {
		t.Errorf("run %+v opened %v", cfg, s.r.opened)
	}
	if len(s.auditRuns) != 0 || len(s.trailCalls) != 0 {
		t.Errorf("a direct run was audited (%v) or trailed (%+v)", s.auditRuns, s.trailCalls)
	}
	if p, _ := Previous(ctx, s.c.Store); p != nil {
		t.Errorf("latest run %s", p.RunID)
	}
	if _, err := s.c.RunDirect(ctx, DirectPlan{Datasets: []string{"subscriptions", "aps"}}); err != nil || !slices.Equal(s.r.runs[1].Datasets, []string{"subscriptions", "aps"}) {
		t.Errorf("named datasets: %v %v", s.r.runs[1].Datasets, err)
	}
	if _, err := s.c.RunDirect(ctx, DirectPlan{Datasets: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "direct collection") || len(s.r.runs) != 2 {
		t.Errorf("unknown dataset: %v", err)
	}
	s.r.fail = true
	if _, err := s.c.RunDirect(ctx, DirectPlan{}); !errors.Is(err, collector.ErrNothingCollected) || !strings.Contains(err.Error(), "direct collection: ") {
		t.Errorf("failed run: %v", err)
	}
}

// TestObjectURI: a location and a key make one address.
func TestObjectURI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct{ loc, key, want string }{
		{"s3://bucket/msp/", "audit/run=r/report.html", "s3://bucket/msp/audit/run=r/report.html"},
		{"s3://bucket/", "audit/run=r/report.html", "s3://bucket/audit/run=r/report.html"},
		{"s3://bucket", "a/b", "s3://bucket/a/b"},
		{"memory://", "a/b", "memory://a/b"},
		{dir, "audit/run=r/report.html", filepath.Join(dir, "audit", "run=r", "report.html")},
		{"", "a/b", "a/b"},
	} {
		if got := objectURI(c.loc, c.key); got != c.want {
			t.Errorf("objectURI(%q, %q) = %q, want %q", c.loc, c.key, got, c.want)
		}
	}
}

// TestRunAuditReportURIDirectory: with a directory store the report's
// address is its file path.
func TestRunAuditReportURIDirectory(t *testing.T) {
	s := newAuditSetup(1)
	dir := t.TempDir()
	s.c.Store = sink.NewDir(dir)
	s.r.store = s.c.Store
	res, err := s.c.RunAudit(context.Background(), AuditPlan{Since: testSince})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, filepath.FromSlash(res.Audit.Report)); res.Audit.ReportURI != want {
		t.Errorf("report_uri %q, want %q", res.Audit.ReportURI, want)
	}
}

// retryQueue is a LocalQueue that records RetryLater calls.
type retryQueue struct {
	LocalQueue
	retried []string
}

func (q *retryQueue) RetryLater(_ context.Context, receipt string, n int) (time.Duration, error) {
	q.retried = append(q.retried, fmt.Sprintf("%s@%d", receipt, n))
	return time.Minute, nil
}

// TestRunShards: a batch runs in order; a message that fails as a whole is
// reported by id and retried sooner, the others are not.
func TestRunShards(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 2)
	q := &retryQueue{}
	c := newTestCoordinator(store, r, q)
	good := fmt.Sprintf(`{"run_id":"20261124T140000Z-00000000","shard":1,"shards":1,"tenants":[%q]}`, r.tenants[0].Tenant.ID)
	failed := c.RunShards(context.Background(), []ShardDelivery{
		{ID: "m1", Body: []byte("not a shard"), Receipt: "r1", ReceiveCount: 2},
		{ID: "m2", Body: []byte(good), Receipt: "r2", ReceiveCount: 1},
	})
	if !slices.Equal(failed, []string{"m1"}) || !slices.Equal(q.retried, []string{"r1@2"}) {
		t.Fatalf("failed %v retried %v, want m1 only", failed, q.retried)
	}
	if len(r.runs) != 1 || r.runs[0].Shard != "1" {
		t.Errorf("runs %+v, want the good shard's", r.runs)
	}
}

// TestRunAuditTrailTenantWarning: a tenant the trail failed is a warning
// naming the step and the tenant; the request still succeeds.
func TestRunAuditTrailTenantWarning(t *testing.T) {
	s := newAuditSetup(2)
	bad := s.id(1)
	s.c.AuditTrail = func(_ context.Context, ts []msp.Tenant, _ int, _ *slog.Logger) (*audittrail.Result, error) {
		res := &audittrail.Result{RunID: "trail"}
		for _, tn := range ts {
			st, msg := audittrail.StatusWritten, ""
			if tn.ID == bad {
				st, msg = audittrail.StatusFailed, "watermark unreadable"
			}
			res.Tenants = append(res.Tenants, audittrail.TenantResult{TenantID: tn.ID, Status: st, Err: msg})
		}
		return res, nil
	}
	res, err := s.c.RunAudit(context.Background(), AuditPlan{Since: testSince})
	if err != nil {
		t.Fatal(err)
	}
	want := "audit trail: tenant " + bad + ": watermark unreadable"
	if !slices.Contains(res.Warnings, want) || res.AuditTrail == nil || res.AuditTrail.Failed != 1 || res.Audit == nil {
		t.Errorf("warnings %q trail %+v, want %q", res.Warnings, res.AuditTrail, want)
	}
}
