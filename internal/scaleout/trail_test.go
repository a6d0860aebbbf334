package scaleout

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// TestShardTenants: a shard's trail tenants are its message's ids,
// normalised, with the names when given.
func TestShardTenants(t *testing.T) {
	ts := trailTenants([]byte(`{"run_id":"r","shard":1,"shards":1,"tenants":["3FA9C2D1-E5B7-4A0C-9D1E-2F3A4B5C6D7E","bad"],"names":["a","b"]}`))
	if len(ts) != 1 || ts[0].ID != "3fa9c2d1e5b74a0c9d1e2f3a4b5c6d7e" || ts[0].Name != "a" {
		t.Fatalf("%+v", ts)
	}
	if trailTenants([]byte("nope")) != nil {
		t.Error("an undecodable body gave tenants")
	}
}

// TestRunAuditTrail: without a hook or tenants nothing runs; a hook's error
// is one warning; a result is tallied, with a warning per failed tenant.
func TestRunAuditTrail(t *testing.T) {
	ctx := context.Background()
	ts := []msp.Tenant{{ID: "a"}, {ID: "b"}}
	if out, w := (&Coordinator{}).runAuditTrail(ctx, ts, 1); out != nil || w != nil {
		t.Fatalf("no hook: %v %v", out, w)
	}
	var gotShare int
	c := &Coordinator{AuditTrail: func(_ context.Context, tenants []msp.Tenant, share int, _ *slog.Logger) (*audittrail.Result, error) {
		gotShare = share
		return &audittrail.Result{RunID: "r", Tenants: []audittrail.TenantResult{
			{TenantID: tenants[0].ID, Status: audittrail.StatusWritten, Records: 3},
			{TenantID: tenants[1].ID, Status: audittrail.StatusFailed, Err: "boom"}}}, nil
	}}
	if out, w := c.runAuditTrail(ctx, nil, 1); out != nil || w != nil {
		t.Fatalf("no tenants: %v %v", out, w)
	}
	out, w := c.runAuditTrail(ctx, ts, 4)
	if out == nil || out.Written != 1 || out.Failed != 1 || out.Records != 3 || gotShare != 4 || len(w) != 1 || !strings.Contains(w[0], "tenant b: boom") {
		t.Fatalf("%+v %v share %d", out, w, gotShare)
	}
	c.AuditTrail = func(context.Context, []msp.Tenant, int, *slog.Logger) (*audittrail.Result, error) {
		return nil, errors.New("no session")
	}
	if out, w := c.runAuditTrail(ctx, ts, 1); out != nil || len(w) != 1 || w[0] != "audit trail: no session" {
		t.Fatalf("%v %v", out, w)
	}
}
