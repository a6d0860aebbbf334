package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/eventschema"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// TestPublishedDetailsMatchSchemas: the details the Auditor publishes in
// real runs (changes of every type, capped with a summary, findings, the
// run event) and a capped finding list marshal to JSON that validates
// against events/schemas, and every detail type is covered.
func TestPublishedDetailsMatchSchemas(t *testing.T) {
	schs, err := eventschema.Load("../../events")
	if err != nil {
		t.Fatal(err)
	}
	e := newSimEnv(t, []int{40, 3})
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var evs []Event
	for i, mut := range []centralsim.MutateOptions{{}, {Refirmware: 2, Add: 3, Remove: 3, Move: 1, End: 1}, {Add: 10, Alerts: 2}} {
		if i > 0 {
			e.sim.Mutate(mut)
		}
		p := &fakePublisher{}
		at := t0.Add(time.Duration(i) * time.Hour)
		cfg := collector.Config{MSP: collector.FromMSP(e.msp), Sink: e.dir, RunID: fmt.Sprint("run-", i), Now: func() time.Time { return at }}
		if _, _, err := Collect(context.Background(), cfg, Options{Store: SinkStore{Sink: e.dir}, Publisher: p, EventCap: 5}); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, p.evs...)
	}
	// A capped finding list, built the way the Auditor builds it.
	ta := &TenantAudit{TenantID: "3fa9c2d1e5b74a0c9d1e2f3a4b5c6d7e", TenantName: "Acme", FindingsKey: "findings/dt=2026-11-30/run=r/tenant=3fa9c2d1e5b74a0c9d1e2f3a4b5c6d7e/findings.ndjson.gz"}
	for i := range 4 {
		ta.Findings = append(ta.Findings, Finding{ID: fmt.Sprint("device-offline|devices|k", i), TenantID: ta.TenantID, TenantName: ta.TenantName,
			Rule: RuleDeviceOffline, Severity: SeverityMedium, Dataset: "devices", Key: fmt.Sprint("k", i), Message: "offline", New: true, RunID: "r", Time: t0})
	}
	evs = append(evs, findingEvents(ta, "s3://bucket/prefix", 2)...)

	seen := map[string]int{}
	for _, ev := range evs {
		b, err := json.Marshal(ev.Detail)
		if err != nil {
			t.Fatal(err)
		}
		if err := schs.Validate(ev.DetailType, b); err != nil {
			t.Errorf("%s %s: %v", ev.DetailType, b, err)
		}
		if ev.DetailType == DetailInventoryChange {
			seen[DetailInventoryChange+"/"+string(ev.Detail.(*InventoryChangeDetail).ConfigurationItemDiff.ChangeType)]++
		}
		seen[ev.DetailType]++
	}
	for _, want := range append(eventschema.DetailTypes(), "InventoryChange/CREATE", "InventoryChange/UPDATE", "InventoryChange/DELETE") {
		if seen[want] == 0 {
			t.Errorf("no %s event (%v)", want, seen)
		}
	}
	for _, dt := range []string{DetailInventoryChange, DetailInventoryChangeCap, DetailAuditFinding, DetailAuditFindingCap, DetailAuditRunCompleted} {
		if _, ok := eventschema.Files[dt]; !ok {
			t.Errorf("no schema for %s", dt)
		}
	}
}
