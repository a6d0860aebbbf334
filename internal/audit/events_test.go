package audit

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// fakePublisher records events; it fails every entry when fail is set.
type fakePublisher struct {
	mu   sync.Mutex
	evs  []Event
	fail bool
}

func (p *fakePublisher) Publish(ctx context.Context, evs []Event) (PublishResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range evs {
		if _, err := json.Marshal(e.Detail); err != nil {
			return PublishResult{}, err
		}
	}
	if p.fail {
		return PublishResult{Failed: len(evs), Errors: []string{"InternalFailure"}}, errors.New("bus down")
	}
	p.evs = append(p.evs, evs...)
	return PublishResult{Sent: len(evs)}, nil
}

func (p *fakePublisher) byType() map[string][]Event {
	m := map[string][]Event{}
	for _, e := range p.evs {
		m[e.DetailType] = append(m[e.DetailType], e)
	}
	return m
}

// TestEventsCapped: changes become one InventoryChange per resource, capped
// per tenant with a summary event pointing at the drift object; a failing
// bus is counted and the drift records stay.
func TestEventsCapped(t *testing.T) {
	e := newSimEnv(t, []int{80})
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	run := func(id string, at time.Time, pub Publisher) *Summary {
		cfg := collector.Config{MSP: collector.FromMSP(e.msp), Sink: e.dir, RunID: id, Now: func() time.Time { return at }}
		_, sum, err := Collect(context.Background(), cfg, Options{Store: SinkStore{Sink: e.dir}, Publisher: pub, EventCap: 5,
			Rules: &Rules{Rules: map[string]Rule{RuleDeviceOffline: {Enabled: true, Severity: SeverityMedium}}}})
		if err != nil && pub != nil && !pub.(*fakePublisher).fail {
			t.Fatal(err)
		}
		return sum
	}
	p1 := &fakePublisher{}
	run("run-1", t0, p1)
	if n := len(p1.byType()[DetailInventoryChange]); n != 0 {
		t.Fatalf("first run published %d changes", n)
	}
	if len(p1.byType()[DetailAuditRunCompleted]) != 1 {
		t.Fatal("no AuditRunCompleted")
	}
	want := e.sim.Mutate(centralsim.MutateOptions{Refirmware: 1})
	p2 := &fakePublisher{}
	run("run-2", t0.Add(time.Hour), p2)
	ch := p2.byType()[DetailInventoryChange]
	if len(ch) != 3 { // devices, aps|switches|gateways, device-inventory: one resource each, one field
		t.Fatalf("%d InventoryChange events for %d changes", len(ch), len(want))
	}
	d := ch[0].Detail.(*InventoryChangeDetail)
	if d.ConfigurationItemDiff.ChangeType != Update || d.ConfigurationItemDiff.ChangedProperties["firmwareVersion"].UpdatedValue == nil {
		t.Fatalf("detail %+v", d)
	}
	e.sim.Mutate(centralsim.MutateOptions{Add: 4, Remove: 4})
	p3 := &fakePublisher{}
	sum := run("run-3", t0.Add(2*time.Hour), p3)
	bt := p3.byType()
	if len(bt[DetailInventoryChange]) != 4 || len(bt[DetailInventoryChangeCap]) != 1 {
		t.Fatalf("cap: %d changes, %d summaries", len(bt[DetailInventoryChange]), len(bt[DetailInventoryChangeCap]))
	}
	s := bt[DetailInventoryChangeCap][0].Detail.(*SummarizedDetail)
	if s.Total != 32 || s.Omitted != 28 || s.Key != sum.Tenants[0].DriftKey || s.Location == "" {
		t.Fatalf("summary %+v", s)
	}
	// A failing bus: counted, and the drift is still written.
	e.sim.Mutate(centralsim.MutateOptions{Refirmware: 1})
	sum = run("run-4", t0.Add(3*time.Hour), &fakePublisher{fail: true})
	if sum.Totals.EventsFailed == 0 || sum.Totals.EventsSent != 0 || sum.Tenants[0].DriftKey == "" || sum.RunEventsFailed != 1 {
		t.Fatalf("failing bus: %+v", sum.Totals)
	}
}
