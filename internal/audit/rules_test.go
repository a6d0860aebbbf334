package audit

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

func TestParseRules(t *testing.T) {
	r, err := ParseRules([]byte("rules:\n  subscription-expiring:\n    days: 60\n  device-offline:\n    enabled: false\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.Rules[RuleSubscriptionExpiring].Days != 60 || r.Rules[RuleSubscriptionExpiring].Severity != SeverityHigh || r.Rules[RuleDeviceOffline].Enabled {
		t.Fatalf("rules %+v", r.Rules)
	}
	if _, err := ParseRules([]byte(`{"rules":{"firmware-mixed":{"min_versions":3}}}`), "env"); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	for src, want := range map[string]string{
		`{"rules":{"typo-rule":{}}}`:                         `rule "typo-rule": unknown rule`,
		`{"rules":{"device-offline":{"severity":"urgent"}}}`: `unknown severity "urgent"`,
		`{"rules":{"device-offline":{"treshold":1}}}`:        `device-offline`,
		`{"rulez":{}}`: `rulez`,
		`{"rules":{"subscription-expiring":{"days":-1}}}`: `days`,
	} {
		_, err := ParseRules([]byte(src), "src")
		var re *RulesError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", src, err, want)
		}
	}
}

func TestRulesEvaluate(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	subs := &Baseline{Fields: []string{"subscriptionStatus", "tier", "endTime"}, Items: map[string][]string{
		"SOON":  {"STARTED", "T", now.AddDate(0, 0, 10).Format(time.RFC3339)},
		"LATER": {"STARTED", "T", now.AddDate(0, 0, 90).Format(time.RFC3339)},
		"ENDED": {"ENDED", "T", now.AddDate(0, 0, 5).Format(time.RFC3339)},
	}}
	devs := &Baseline{Fields: []string{"model", "status", "firmwareVersion"}, Items: map[string][]string{
		"A": {"AP-1", "ONLINE", "1.0"}, "B": {"AP-1", "OFFLINE", "1.1"}, "C": {"SW", "ONLINE", "9"},
	}}
	glp := &Baseline{Fields: []string{"subscriptionKey", "archived"}, Items: map[string][]string{
		"A": {"K", "false"}, "B": {"", "false"}, "C": {"", "true"},
	}}
	in := evalInput{TenantID: tid, Now: now, Sets: map[string]*Baseline{"subscriptions": subs, "devices": devs, "glp-devices": glp},
		Health: &TenantHealth{Alerts: 3, DegradedSites: 1}, PrevHealth: &TenantHealth{Alerts: 1, DegradedSites: 1}}
	fs, ev := DefaultRules().evaluate(in)
	var got []string
	for _, f := range fs {
		got = append(got, f.Rule+":"+f.Key)
	}
	want := "subscription-expiring:SOON tenant-health-rising:alerts device-offline:B device-unsubscribed:B firmware-mixed:AP-1"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q\nwant %q", strings.Join(got, " "), want)
	}
	if len(ev) != 5 {
		t.Fatalf("evaluated %v", ev)
	}
	// Without the devices dataset its rules are not evaluated.
	delete(in.Sets, "devices")
	in.PrevHealth = nil
	_, ev = DefaultRules().evaluate(in)
	if strings.Join(ev, ",") != "device-unsubscribed,subscription-expiring" {
		t.Fatalf("evaluated %v", ev)
	}
}

// renamedMSP lists the MSP's tenants with names changed by rename.
type renamedMSP struct {
	collector.MSP
	rename func([]msp.Tenant) []msp.Tenant
}

func (r renamedMSP) Tenants(ctx context.Context) iter.Seq2[msp.Tenant, error] {
	return func(yield func(msp.Tenant, error) bool) {
		var ts []msp.Tenant
		for t, err := range r.MSP.Tenants(ctx) {
			if err != nil {
				yield(t, err)
				return
			}
			ts = append(ts, t)
		}
		for _, t := range r.rename(ts) {
			if !yield(t, nil) {
				return
			}
		}
	}
}

func (r renamedMSP) MSPClient() *central.Client { return r.MSP.(collector.MSPClienter).MSPClient() }

// healthFindings returns the tenant-health-rising findings by tenant id.
func healthFindings(sum *Summary) map[string][]string {
	out := map[string][]string{}
	for _, ta := range sum.Tenants {
		for _, f := range ta.Findings {
			if f.Rule == RuleHealthRising {
				out[ta.TenantID] = append(out[ta.TenantID], f.Key)
			}
		}
	}
	return out
}

// TestTenantHealthFromDataset: the health rule reads the run's
// tenant-health dataset (one list-tenants call per run, no second read)
// and the previous run's figures from the finding state; a tenant whose
// name is ambiguous gets no health finding and is listed in the summary.
func TestTenantHealthFromDataset(t *testing.T) {
	e := newSimEnv(t, []int{10, 20, 30})
	sim := e.sim.Tenants()
	run := func(m collector.MSP, id string, at time.Time) *Summary {
		cfg := collector.Config{MSP: m, Sink: e.dir, RunID: id, Datasets: []string{"aps", collector.TenantHealthDataset},
			Now: func() time.Time { return at }}
		man, sum, err := Collect(context.Background(), cfg, Options{Store: SinkStore{Sink: e.dir}})
		if err != nil || !man.Complete {
			t.Fatalf("collect %s: %v %+v", id, err, man)
		}
		return sum
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	plain := collector.FromMSP(e.msp)
	if s := run(plain, "r1", t0); s.Health == nil || s.Health.Mapped != 3 || len(healthFindings(s)) != 0 {
		t.Fatalf("first run: health %+v findings %v", s.Health, healthFindings(s))
	}
	e.sim.Mutate(centralsim.MutateOptions{Tenants: []string{sim[1].HexID, sim[2].HexID}, Alerts: 5})
	// The third tenant is listed under the second's name: both ambiguous.
	clash := renamedMSP{MSP: plain, rename: func(ts []msp.Tenant) []msp.Tenant {
		for i := range ts {
			if ts[i].Name == sim[2].Name {
				ts[i].Name = sim[1].Name
			}
		}
		return ts
	}}
	s := run(clash, "r2", t0.Add(time.Hour))
	if got := e.sim.Stats().ByEndpoint[centralsim.EndpointListTenants]; got != 2 {
		t.Fatalf("%d list-tenants calls for two runs, want 2", got)
	}
	if s.Health == nil || s.Health.Mapped != 1 || len(s.Health.Unmatched) != 1 || len(s.Health.Ambiguous) != 1 {
		t.Fatalf("mapping %+v", s.Health)
	}
	if f := healthFindings(s); len(f) != 0 {
		t.Fatalf("findings %v: ambiguous tenants must get none", f)
	}
	s = run(plain, "r3", t0.Add(2*time.Hour))
	f := healthFindings(s)
	if len(f) != 2 || !slices.Contains(f[sim[1].HexID], "alerts") || !slices.Contains(f[sim[2].HexID], "alerts") {
		t.Fatalf("findings %v, want alerts risen for tenants 1 and 2", f)
	}
}

// TestTenantHealthFailed: a failed tenant-health dataset gives no health
// (the rule is not evaluated, its previous state carried over), says why in
// the summary, and fails none of the tenants' datasets.
func TestTenantHealthFailed(t *testing.T) {
	e := newSimEnv(t, []int{5})
	e.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{Endpoint: centralsim.EndpointListTenants, ServerErrorRate: 1}}})
	cfg := collector.Config{MSP: collector.FromMSP(e.msp), Sink: e.dir, RunID: "rf", Datasets: []string{"aps", collector.TenantHealthDataset}}
	man, sum, err := Collect(context.Background(), cfg, Options{Store: SinkStore{Sink: e.dir}})
	if err != nil || man.Totals.DatasetsOK != 1 || man.Totals.MSPDatasetsFailed != 1 {
		t.Fatalf("err %v totals %+v", err, man.Totals)
	}
	if sum.Health == nil || !strings.HasPrefix(sum.Health.Error, "failed") {
		t.Fatalf("summary health %+v", sum.Health)
	}
}

// TestLoadRules: the one reader of CENTRALMSP_AUDIT_RULES and --rules:
// inline JSON or a file; empty means the defaults; a missing file or an
// unknown rule is refused, naming where it came from.
func TestLoadRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte("rules:\n  subscription-expiring:\n    days: 45\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for value, days := range map[string]int{
		"": 30, "  ": 30, path: 45,
		`{"rules":{"subscription-expiring":{"days":7}}}`: 7,
	} {
		r, err := LoadRules(value, "$"+RulesEnv)
		if err != nil || r.Rules[RuleSubscriptionExpiring].Days != days {
			t.Errorf("LoadRules(%q) = %+v, %v; want days %d", value, r, err, days)
		}
	}
	if _, err := LoadRules(filepath.Join(t.TempDir(), "missing.yaml"), "x"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadRules(`{"rules":{"typo-rule":{}}}`, "$"+RulesEnv); err == nil || !strings.Contains(err.Error(), "$"+RulesEnv) || !strings.Contains(err.Error(), "typo-rule") {
		t.Errorf("unknown rule: %v", err)
	}
}
