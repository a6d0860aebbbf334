package events

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/testenv"
)

// changes returns n InventoryChange entries whose two field values are pad
// bytes each.
func changes(t testing.TB, n, pad int) []Entry {
	t.Helper()
	at := time.Date(2026, 11, 23, 14, 15, 0, 0, time.UTC)
	v := strings.Repeat("v", pad)
	out := make([]Entry, n)
	for i := range out {
		e, err := NewEntry(audit.DetailInventoryChange, &audit.InventoryChangeDetail{TenantID: "3fa9c2d1e5b74a0c9d1e2f3a4b5c6d7e", TenantName: "Acme Networks",
			Dataset: "aps", ResourceID: fmt.Sprintf("CN%08d", i), RunID: "r2", PreviousRunID: "r1", CaptureTime: at,
			ConfigurationItemDiff: audit.ItemDiff{ChangeType: audit.Update, ChangedProperties: map[string]audit.ChangedProperty{
				"status": {PreviousValue: &v, UpdatedValue: &v, ChangeType: audit.Update}}}})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = e
	}
	return out
}

// TestCallsPer1000Changes records how many PutEvents calls 1,000 changes
// need for a few detail sizes (the batching is deterministic).
func TestCallsPer1000Changes(t *testing.T) {
	for _, tc := range []struct{ pad, want int }{{10, 100}, {2_000, 100}, {20_000, 167}, {60_000, 500}} {
		one := changes(t, 1, tc.pad)[0]
		es := make([]Entry, 1000)
		for i := range es {
			es[i] = one // Batches depends on sizes only
		}
		got := len(Batches(es))
		t.Logf("1,000 changes of %d bytes each: %d PutEvents calls", EntrySize(es[0]), got)
		if got != tc.want {
			t.Errorf("pad %d: %d calls, want %d", tc.pad, got, tc.want)
		}
	}
}

// BenchmarkPublishMoto publishes b.N small InventoryChange events to a
// custom bus on moto_server (no rule, so moto only ingests) and reports
// events/s and calls per 1,000 events:
//
//	go test -run '^$' -bench PublishMoto -benchtime 2000x ./internal/events/
func BenchmarkPublishMoto(b *testing.B) {
	mt := testenv.StartMoto(b)
	eb := eventbridge.NewFromConfig(mt.AWSConfig(b))
	if _, err := eb.CreateEventBus(context.Background(), &eventbridge.CreateEventBusInput{Name: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	in := changes(b, b.N, 200)
	p := New(eb, "bench")
	b.ResetTimer()
	start := time.Now()
	res, err := p.Publish(context.Background(), in)
	el := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.Sent)/el.Seconds(), "events/s")
	b.ReportMetric(float64(res.Calls)*1000/float64(b.N), "calls/1000")
}

// BenchmarkPublishMotoDelivered is BenchmarkPublishMoto with a rule and an
// SQS target on the bus, so moto also delivers every event:
//
//	go test -run '^$' -bench PublishMotoDelivered -benchtime 50x ./internal/events/
func BenchmarkPublishMotoDelivered(b *testing.B) {
	m := newMotoBus(b)
	in := changes(b, b.N, 200)
	p := New(m.eb, m.bus)
	b.ResetTimer()
	start := time.Now()
	res, err := p.Publish(context.Background(), in)
	el := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(res.Sent)/el.Seconds(), "events/s")
	b.ReportMetric(float64(res.Calls)*1000/float64(b.N), "calls/1000")
}
