package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// TestRunDriftSmall runs a tiny drift scenario through the child processes:
// the audited run finds exactly as many changes as the simulator made, the
// audit writes baselines and drift, and the table reports the added time.
func TestRunDriftSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	cfg, ok := DriftScenario("drift-cpu", 20, 2*time.Millisecond, 3, 16)
	if !ok {
		t.Fatal("drift-cpu is not a drift scenario")
	}
	cfg.Drift.Reps, cfg.CentralRate = 2, 100
	res, err := Run(t.Context(), cfg, self(t))
	if err != nil {
		t.Fatal(err)
	}
	d := res.Drift
	if d == nil || len(d.Pairs) != 2 {
		t.Fatalf("drift result %+v", d)
	}
	for i, p := range d.Pairs {
		if p.SimChanges == 0 || p.Found != p.SimChanges || p.AuditErrors != 0 || p.PlainWall <= 0 || p.AuditWall <= 0 {
			t.Errorf("pair %d: %+v", i, p)
		}
	}
	if d.Bytes["baseline"] == 0 || d.Bytes["drift"] == 0 || d.Bytes["audit"] == 0 || d.InventoryBytes == 0 {
		t.Errorf("bytes %v, inventory %d", d.Bytes, d.InventoryBytes)
	}
	if !res.Complete || res.TenantsOK != 20 || res.ExchangesPerTenant != 0 {
		t.Errorf("plain run: complete %v, %d tenants ok, %.2f exchanges/tenant", res.Complete, res.TenantsOK, res.ExchangesPerTenant)
	}
	var sb strings.Builder
	if err := WriteTable(&sb, []*Result{res}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "drift added") || strings.Contains(sb.String(), "DIFFERENT") {
		t.Errorf("table:\n%s", sb.String())
	}
	t.Log("\n" + sb.String())
}

// TestMutateIDs: the picks are spread, eligible only, and rotate per call.
func TestMutateIDs(t *testing.T) {
	var ts []centralsim.Tenant
	for i, n := range []int{50, 5, 50, 50, 50} {
		ts = append(ts, centralsim.Tenant{HexID: string(rune('a' + i)), Devices: n})
	}
	if got := strings.Join(mutateIDs(ts, 2, 0), ","); got != "a,d" {
		t.Errorf("call 0: %s", got)
	}
	if got := strings.Join(mutateIDs(ts, 2, 1), ","); got != "c,e" {
		t.Errorf("call 1: %s", got)
	}
	if got := mutateIDs(ts, 9, 0); len(got) != 4 {
		t.Errorf("more than eligible: %v", got)
	}
	if got := mutateIDs(ts, 0, 0); got != nil {
		t.Errorf("none: %v", got)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]time.Duration{5, 1, 3}); m != 3 {
		t.Errorf("odd: %d", m)
	}
	if m := median([]time.Duration{40, 10, 30, 20}); m != 25 {
		t.Errorf("even: %d", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("empty: %d", m)
	}
}

// TestDriftScenario: "drift" is the job's defaults, "drift-cpu" the
// CPU-bound variant; a given concurrency replaces the scenario's.
func TestDriftScenario(t *testing.T) {
	d, ok := DriftScenario("drift", 1000, DefaultLatency, 1, 0)
	if !ok || d.Concurrency != 8 || !d.LearnCentral || !d.Warm || d.CentralRate != 8 || d.Drift.MutateTenants != 50 ||
		d.MinDevices != 20 || d.DevicesPerTenant != 100 || d.Drift.Reps != 2 {
		t.Errorf("drift: %+v %+v", d, d.Drift)
	}
	c, ok := DriftScenario("drift-cpu", 1000, DefaultLatency, 1, 0)
	if !ok || c.Concurrency != DriftCPUConcurrency || c.LearnCentral || c.Drift.Reps != 3 {
		t.Errorf("drift-cpu: %+v %+v", c, c.Drift)
	}
	if c, _ := DriftScenario("drift-cpu", 10, 0, 1, 32); c.Concurrency != 32 || c.Drift.MutateTenants != 1 {
		t.Errorf("drift-cpu at 10 tenants, concurrency 32: %+v %+v", c, c.Drift)
	}
	if _, ok := DriftScenario("account-cold", 10, 0, 1, 0); ok {
		t.Error("account-cold taken for a drift scenario")
	}
}
