package tokencache

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/termsafe"
)

// A tenant renamed to a 70 KB name must not push its shard over the
// SecretString limit: before names were capped, that shard failed to
// encode on every refresh and every other tenant in it lost its token.
func TestRefreshLongNameKeepsSecretWritable(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 31)
	r := newTestRefresher(t, mem, src, clk.Now)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	src.mu.Lock()
	src.tenants[0].Name = strings.Repeat("N", 70000)
	src.mu.Unlock()
	res, err := r.Refresh(ctx)
	if err != nil || len(res.Errors) != 0 {
		t.Fatalf("refresh with a long name: %v %+v", err, res.Errors)
	}
	_, we := DefaultSchedule().WindowAt(clk.Now())
	got := loadAll(t, mem, prefix)
	if len(got) != 31 {
		t.Fatalf("%d tenants cached", len(got))
	}
	for id, g := range got {
		if !g.Entry.ValidFor(we, 0) {
			t.Errorf("tenant %s lost its token: %s", id, g.Entry)
		}
		if len(g.Entry.Name) > termsafe.MaxName {
			t.Errorf("tenant %s: name of %d bytes stored", id, len(g.Entry.Name))
		}
	}
}

// A list that repeats a tenant (any spelling) caches it once and counts it.
func TestRefreshDuplicateTenants(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 5)
	src.tenants = append(src.tenants, Tenant{ID: strings.ToUpper(src.tenants[1].ID), Name: "impostor"}, src.tenants[2])
	r := newTestRefresher(t, mem, src, clk.Now)
	res, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := loadAll(t, mem, prefix)
	if res.Tenants != 5 || res.DuplicateTenants != 2 || len(got) != 5 || got[src.tenants[1].ID].Entry.Name != "Tenant 0001" {
		t.Fatalf("result %+v, %d cached", res, len(got))
	}
}

// assign (what the refresher and PlanWith lay out with) gives a tenant
// listed twice one entry, whoever calls it.
func TestAssignDuplicateTenants(t *testing.T) {
	ts := []Tenant{{ID: tenantID(1), Name: "a"}, {ID: tenantID(2), Name: "b"}, {ID: tenantID(1), Name: "again"}}
	res := &Result{Sizes: map[string]int{}, Counts: map[SkipReason]int{}}
	shards := assign(prefix, DefaultLayout(), nil, ts, true, res)
	n := 0
	for _, st := range shards {
		n += len(st.entries)
	}
	if n != 2 || res.NewTenants != 2 {
		t.Fatalf("%d entries, %d new", n, res.NewTenants)
	}
}
