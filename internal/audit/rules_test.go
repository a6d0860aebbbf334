package audit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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

// TestTenantHealthMapping: list-tenants is read and mapped by name; names
// matching no workspace or several are reported.
func TestTenantHealthMapping(t *testing.T) {
	e := newSimEnv(t, []int{10, 20, 30})
	var tenants []msp.Tenant
	for tn, err := range e.msp.Tenants(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, tn)
	}
	// A duplicate name and a missing one.
	tenants = append(tenants, msp.Tenant{ID: "ffffffffffffffffffffffffffffffff", Name: tenants[0].Name})
	tenants = tenants[: len(tenants)-2 : len(tenants)-2]
	tenants = append(tenants, msp.Tenant{ID: "ffffffffffffffffffffffffffffffff", Name: tenants[0].Name})
	e.sim.Mutate(centralsim.MutateOptions{Tenants: []string{tenants[1].ID}, Alerts: 5})
	h, hm, err := TenantHealthByWorkspace(context.Background(), e.msp.Client(), tenants)
	if err != nil {
		t.Fatal(err)
	}
	if hm.Mapped != 1 || len(hm.Unmatched) != 1 || len(hm.Ambiguous) != 1 {
		t.Fatalf("mapping %+v", hm)
	}
	want := e.sim.Tenants()[1].Devices/10 + 5
	if got := h[tenants[1].ID]; got.Alerts != want {
		t.Fatalf("health %+v, want %d alerts", got, want)
	}
}
