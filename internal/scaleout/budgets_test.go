package scaleout

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
)

// budgetShard is a shard manifest of run "r" with budget entries.
func budgetShard(id string, started int64, budgets ...central.BudgetReport) *collector.Manifest {
	m := &collector.Manifest{Version: collector.ManifestVersion, RunID: "r", Shard: id, Date: "2026-11-24", Datasets: []string{"devices"},
		StartedAt: time.Unix(started, 0).UTC(), FinishedAt: time.Unix(started+10, 0).UTC(), Budgets: budgets,
		Tenants: []collector.TenantResult{{ID: fmt.Sprintf("%032x", started), Status: collector.StatusOK,
			Datasets: []collector.DatasetResult{{Dataset: "devices", Status: collector.StatusOK}}}}}
	m.Summarize()
	return m
}

type ws = map[string]central.WindowSample

// TestJoinMergesBudgets: the joined manifest holds one budget entry per
// name and scope from every shard: first answers by workspace from the
// shard that started first, the lowest rate and stated limit, the windows
// added up, a detected scope only when the shards agree.
func TestJoinMergesBudgets(t *testing.T) {
	ctx := context.Background()
	st := sink.NewMemory()
	if err := writePlan(ctx, st, &RunPlan{Version: planVersion, RunID: "r", Shards: []PlannedShard{{ID: "1"}, {ID: "2"}, {ID: "3"}}}); err != nil {
		t.Fatal(err)
	}
	// Shard 2 started first: its answer for w2 is the run's first.
	shards := []*collector.Manifest{
		budgetShard("1", 200,
			central.BudgetReport{Name: "central", Scope: "account", ScopeSource: "default", DetectedScope: "account", Rate: 4, Limit: 100, WindowSeconds: 1,
				IndependentWindows: 1, SharedWindows: 3, FirstAnswers: ws{"w1": {Remaining: 90, Limit: 100}, "w2": {Remaining: 50, Limit: 100}}}),
		budgetShard("2", 100,
			central.BudgetReport{Name: "central", Scope: "account", ScopeSource: "detected", DetectedScope: "account", Rate: 2, Limit: 80, WindowSeconds: 1,
				SharedWindows: 2, FirstAnswers: ws{"w2": {Remaining: 70, Limit: 80}, "w3": {Remaining: 60, Limit: 80}}},
			central.BudgetReport{Name: "glp-devices", Scope: "workspace", ScopeSource: "configured", Rate: 2.5, Limit: 160, WindowSeconds: 60}),
		budgetShard("3", 300,
			central.BudgetReport{Name: "central", Scope: "account", ScopeSource: "default", DetectedScope: "workspace", Limit: 80, WindowSeconds: 2,
				IndependentWindows: 3, FirstAnswers: ws{"w4": {Remaining: 10, Limit: 80}}},
			central.BudgetReport{Name: "central", Scope: "workspace", ScopeSource: "configured", Rate: 8}),
	}
	for _, m := range shards {
		if err := collector.WriteManifest(ctx, st, m); err != nil {
			t.Fatal(err)
		}
	}
	res, err := tryJoin(ctx, st, "r")
	if err != nil || res.Joined == nil {
		t.Fatalf("join: %+v %v", res, err)
	}
	stored, err := readManifest(ctx, st, collector.ManifestKey("r"))
	if err != nil {
		t.Fatal(err)
	}
	b := stored.Budgets
	if len(b) != 3 || b[0].Name != "central" || b[0].Scope != "account" || b[1].Name != "central" || b[1].Scope != "workspace" || b[2].Name != "glp-devices" {
		t.Fatalf("budgets %+v, want central/account, central/workspace, glp-devices/workspace", b)
	}
	c := b[0]
	wantFirst := ws{"w1": {Remaining: 90, Limit: 100}, "w2": {Remaining: 70, Limit: 80}, "w3": {Remaining: 60, Limit: 80}, "w4": {Remaining: 10, Limit: 80}}
	if !maps.Equal(c.FirstAnswers, wantFirst) {
		t.Errorf("first answers %v, want %v", c.FirstAnswers, wantFirst)
	}
	if c.Rate != 2 || c.Limit != 80 || c.WindowSeconds != 2 {
		t.Errorf("rate %v limit %d per %vs, want the lowest: 2/s, 80 per 2s", c.Rate, c.Limit, c.WindowSeconds)
	}
	if c.IndependentWindows != 4 || c.SharedWindows != 5 || c.DetectedScope != "" || c.ScopeSource != "detected" {
		t.Errorf("windows %d/%d detected %q source %q, want 4/5, undecided (the shards disagree), detected",
			c.IndependentWindows, c.SharedWindows, c.DetectedScope, c.ScopeSource)
	}
	if b[1].Rate != 8 || b[1].ScopeSource != "configured" || b[2].Limit != 160 || b[2].Rate != 2.5 {
		t.Errorf("single-shard entries changed: %+v %+v", b[1], b[2])
	}
}

// TestMergeBudgetsBounds: no shard with budgets gives none; the first
// answers kept are bounded whatever the shards bring.
func TestMergeBudgetsBounds(t *testing.T) {
	if got := mergeBudgets([]*collector.Manifest{budgetShard("1", 1)}); got != nil {
		t.Errorf("no budgets: %+v", got)
	}
	var parts []*collector.Manifest
	for s := range 3 {
		fa := ws{}
		for i := range 600 {
			fa[fmt.Sprintf("s%d-w%04d", s, i)] = central.WindowSample{Remaining: 1, Limit: 2}
		}
		parts = append(parts, budgetShard(fmt.Sprint(s+1), int64(s+1), central.BudgetReport{Name: "central", Scope: "account", FirstAnswers: fa}))
	}
	got := mergeBudgets(parts)
	if len(got) != 1 || len(got[0].FirstAnswers) != maxFirstAnswers {
		t.Fatalf("%d entries, %d first answers; want 1 entry with %d", len(got), len(got[0].FirstAnswers), maxFirstAnswers)
	}
	if _, ok := got[0].FirstAnswers["s0-w0599"]; !ok {
		t.Error("the first shard's answers were not kept first")
	}
}
