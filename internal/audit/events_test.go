package audit

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
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

// readingPublisher reads the objects AuditRunCompleted names as it is
// published, as a consumer reacting to the event would.
type readingPublisher struct {
	snk              sink.Sink
	summary, report  []byte
	summaryErr, rErr error
	detail           *RunCompletedDetail
}

func (p *readingPublisher) Publish(ctx context.Context, evs []Event) (PublishResult, error) {
	for _, e := range evs {
		if d, ok := e.Detail.(*RunCompletedDetail); ok {
			p.detail = d
			p.summary, p.summaryErr = p.snk.Get(ctx, d.SummaryKey)
			if d.ReportKey != "" {
				p.report, p.rErr = p.snk.Get(ctx, d.ReportKey)
			}
		}
	}
	return PublishResult{Sent: len(evs)}, nil
}

// failingReports refuses the HTML reports.
type failingReports struct{ sink.Sink }

func (f failingReports) Put(ctx context.Context, key string, body []byte, ct string) error {
	if strings.HasSuffix(key, "/report.html") {
		return errors.New("injected: report refused")
	}
	return f.Sink.Put(ctx, key, body, ct)
}

// TestRunCompletedNamesWrittenObjects: the summary and the report that
// AuditRunCompleted names are in the store when the event is sent, the
// stored summary ends with the event counted, and a report that could not
// be written is not named.
func TestRunCompletedNamesWrittenObjects(t *testing.T) {
	e := newSimEnv(t, []int{20})
	run := func(id string, snk sink.Sink) (*readingPublisher, *Summary, error) {
		p := &readingPublisher{snk: snk}
		cfg := collector.Config{MSP: collector.FromMSP(e.msp), Sink: snk, RunID: id}
		_, sum, err := Collect(t.Context(), cfg, Options{Store: SinkStore{Sink: snk}, Publisher: p})
		return p, sum, err
	}
	p, sum, err := run("run-1", e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.detail == nil || p.summaryErr != nil || p.rErr != nil || len(p.report) == 0 || p.detail.ReportKey != sum.Report {
		t.Fatalf("at the event: detail %+v, summary err %v, report %d bytes err %v", p.detail, p.summaryErr, len(p.report), p.rErr)
	}
	stored, err := e.dir.Get(t.Context(), p.detail.SummaryKey)
	if err != nil {
		t.Fatal(err)
	}
	var final Summary
	if err := json.Unmarshal(stored, &final); err != nil || final.RunEventsSent != 1 || final.Report != sum.Report {
		t.Fatalf("stored summary: sent %d, report %q, %v", final.RunEventsSent, final.Report, err)
	}

	p, sum, err = run("run-2", failingReports{e.dir})
	if err == nil || !strings.Contains(err.Error(), "report refused") {
		t.Fatalf("error %v, want the report's", err)
	}
	if p.detail == nil || p.detail.ReportKey != "" || sum.Report != "" || p.summaryErr != nil {
		t.Fatalf("without a report: detail %+v, summary report %q, summary err %v", p.detail, sum.Report, p.summaryErr)
	}
}
