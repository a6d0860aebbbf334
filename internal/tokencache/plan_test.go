package tokencache

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPlanWithinLimits is the figure the README quotes: at 100, 1,000 and
// 10,000 tenants the default schedule stays inside every Secrets Manager
// limit.
func TestPlanWithinLimits(t *testing.T) {
	var plans []Plan
	for _, n := range []int{100, 1000, 10000} {
		p := PlanFor(n, DefaultSchedule())
		if err := p.Check(); err != nil {
			t.Errorf("%d tenants: %v", n, err)
		}
		if p.LargestBytes > MaxSecretBytes || p.LargestBytes > DefaultLayout().TargetBytes {
			t.Errorf("%d tenants: largest secret %d bytes", n, p.LargestBytes)
		}
		if p.WritesPerSecretPerDay >= MaxVersionsPerDay || p.PeakWriteTPS > AccountWriteTPS/5 {
			t.Errorf("%d tenants: %+v", n, p)
		}
		if p.TokenBytes < 1000 || p.MaxEntries < 20 {
			t.Errorf("%d tenants: sample token %d B, %d per shard", n, p.TokenBytes, p.MaxEntries)
		}
		if want := (n + p.MaxEntries - 1) / p.MaxEntries; p.TenantSecrets != want {
			t.Errorf("%d tenants: %d shards, want %d", n, p.TenantSecrets, want)
		}
		plans = append(plans, p)
	}
	if plans[2].TotalUSD > 200 || plans[2].TotalUSD >= 0.40*10000/10 {
		t.Errorf("10,000 tenants cost $%.2f/month", plans[2].TotalUSD)
	}
	var b bytes.Buffer
	if err := WritePlanTable(&b, plans); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "10,000") || strings.Contains(b.String(), "EXCEEDED") {
		t.Errorf("table:\n%s", b.String())
	}
	t.Logf("\n%s", b.String())
}

func TestPlanFlagsBadSchedule(t *testing.T) {
	s := DefaultSchedule()
	s.CollectorInterval = 10 * time.Minute // 144 windows a day
	if err := PlanFor(100, s).Check(); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("err = %v", err)
	}
	s = DefaultSchedule()
	s.WriteRate = 80
	if err := PlanWith(1000, s, Layout{TargetBytes: 4000}).Check(); err == nil {
		t.Error("80 write TPS accepted")
	}
}

// TestPlanMatchesRefresher checks the plan's layout and per-run call counts
// against what the refresher actually does.
func TestPlanMatchesRefresher(t *testing.T) {
	ctx := context.Background()
	const n = 250
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, n)
	for i := range src.tenants {
		src.tenants[i].Name = fmt.Sprintf("Customer %05d Managed Network Services Ltd", i) // as PlanFor
	}
	r := newTestRefresher(t, mem, src, clk.Now)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	before := mem.Calls()
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	after := mem.Calls()
	calls := 0
	for k, v := range after {
		calls += v - before[k]
	}
	p := PlanFor(n, DefaultSchedule())
	shards, _ := mem.List(ctx, prefix+"/shard-")
	if len(shards) != p.TenantSecrets {
		t.Errorf("refresher made %d shards, plan %d", len(shards), p.TenantSecrets)
	}
	// The plan adds one read of the credentials secret (the handler's).
	if calls+1 != p.RefresherCallsPerRun {
		t.Errorf("refresher made %d calls per run, plan says %d", calls, p.RefresherCallsPerRun-1)
	}
}
