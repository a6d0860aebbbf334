package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/testenv"
)

// motoBus is a custom bus on moto_server with a rule matching source
// centralmsp whose target is an SQS queue.
type motoBus struct {
	eb    *eventbridge.Client
	sqs   *sqs.Client
	cfg   aws.Config
	bus   string
	queue string
}

func newMotoBus(t testing.TB) motoBus {
	t.Helper()
	mt := testenv.StartMoto(t)
	cfg := mt.AWSConfig(t)
	ctx := context.Background()
	m := motoBus{eb: eventbridge.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), cfg: cfg, bus: "centralmsp-test"}
	if _, err := m.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(m.bus)}); err != nil {
		t.Fatal(err)
	}
	q, err := m.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("centralmsp-events")})
	if err != nil {
		t.Fatal(err)
	}
	m.queue = aws.ToString(q.QueueUrl)
	attrs, err := m.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("to-queue"), EventBusName: aws.String(m.bus),
		EventPattern: aws.String(`{"source":["centralmsp"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("to-queue"), EventBusName: aws.String(m.bus),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}}}); err != nil {
		t.Fatal(err)
	}
	return m
}

// delivered is an event as it arrives in the queue.
type delivered struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
	Resources  []string        `json:"resources"`
}

// drain reads the queue until want messages arrived and one more empty
// receive confirms nothing else is there.
func (m motoBus) drain(t testing.TB, want int) []delivered {
	t.Helper()
	var out []delivered
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := m.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(m.queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range r.Messages {
			var d delivered
			if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &d); err != nil {
				t.Fatalf("message %q: %v", aws.ToString(msg.Body), err)
			}
			out = append(out, d)
			if _, err := m.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(m.queue), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
		if len(r.Messages) == 0 && len(out) >= want {
			return out
		}
		if len(r.Messages) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

// sampleEntries returns n entries cycling through every detail type the
// audit publishes, built from internal/audit's detail types.
func sampleEntries(t testing.TB, n int) []Entry {
	t.Helper()
	at := time.Date(2026, 11, 23, 14, 15, 0, 0, time.UTC)
	str := func(s string) *string { return &s }
	var out []Entry
	for i := range n {
		var e Entry
		var err error
		switch i % 5 {
		case 0:
			e, err = NewEntry(audit.DetailInventoryChange, &audit.InventoryChangeDetail{TenantID: "3fa9c2d1e5b74a0c9d1e2f3a4b5c6d7e", TenantName: "Acme Networks",
				Dataset: "aps", ResourceID: fmt.Sprintf("CN%08d", i), RunID: "r2", PreviousRunID: "r1", CaptureTime: at,
				ConfigurationItemDiff: audit.ItemDiff{ChangeType: audit.Update, ChangedProperties: map[string]audit.ChangedProperty{
					"status": {PreviousValue: str("Up"), UpdatedValue: str("Down"), ChangeType: audit.Update}}}})
		case 1:
			e, err = NewEntry(audit.DetailAuditFinding, &audit.Finding{ID: fmt.Sprintf("device-offline|devices|CN%08d", i), TenantID: "3fa9c2d1e5b74a0c9d1e2f3a4b5c6d7e",
				TenantName: "Acme Networks", Rule: audit.RuleDeviceOffline, Severity: audit.SeverityHigh, Dataset: "devices", Key: fmt.Sprintf("CN%08d", i),
				Message: "device went offline", New: true, RunID: "r2", Time: at})
		case 2:
			e, err = NewEntry(audit.DetailInventoryChangeCap, &audit.SummarizedDetail{TenantID: "3fa9c2d1e5b74a0c9d1e2f3a4b5c6d7e", TenantName: "Acme Networks",
				RunID: "r2", Total: 1200, Published: 99, Omitted: 1101, Counts: map[string]int{fmt.Sprint("ds", i, "/CREATE"): 1200},
				Location: "s3://inv/drift/r2/changes.ndjson.gz", Key: "drift/r2/changes.ndjson.gz"})
		case 3:
			e, err = NewEntry(audit.DetailAuditFindingCap, &audit.SummarizedDetail{TenantID: "3fa9c2d1e5b74a0c9d1e2f3a4b5c6d7e", TenantName: "Acme Networks",
				RunID: "r2", Total: 150, Published: 99, Omitted: 51, Counts: map[string]int{audit.RuleDeviceOffline: 150},
				Location: "s3://inv/findings/r2/findings.ndjson.gz", Key: "findings/r2/findings.ndjson.gz"})
		case 4:
			e, err = NewEntry(audit.DetailAuditRunCompleted, &audit.RunCompletedDetail{RunID: fmt.Sprint("r", i), Date: "2026-11-23",
				Totals: audit.SummaryTotals{Tenants: 3, Changes: 10, Findings: 2}, SummaryKey: "audit/run=r2/summary.json",
				ReportKey: "audit/run=r2/report.html", Location: "s3://inv", CompletedAt: at.Add(time.Minute)})
			e.Resources = []string{"arn:aws:s3:::inv/audit/run=r2/report.html"}
			e.Time = at
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// key identifies a delivered or sent event for comparison.
func key(detailType string, detail []byte, resources []string) string {
	var v any
	_ = json.Unmarshal(detail, &v)
	b, _ := json.Marshal(v) // canonical key order
	return detailType + "|" + string(b) + "|" + fmt.Sprint(resources)
}

// TestPublishToMotoEventBridge publishes through the real SDK to a custom
// bus on moto_server and reads back from the rule's SQS target exactly the
// events sent: same count, detail types, details and resources.
func TestPublishToMotoEventBridge(t *testing.T) {
	m := newMotoBus(t)
	// moto delivers each event to the queue in most of a second, so the
	// test sends two calls' worth (10 + 3).
	in := sampleEntries(t, 13)
	p := NewFromConfig(m.cfg, m.bus)
	start := time.Now()
	res, err := p.Publish(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("published %d events in %d calls in %v", res.Sent, res.Calls, time.Since(start))
	if res.Sent != 13 || res.Failed != 0 || res.Calls != 2 {
		t.Fatalf("result %+v", res)
	}
	start = time.Now()
	got := m.drain(t, len(in))
	t.Logf("drained %d in %v", len(got), time.Since(start))
	var want, have []string
	for _, e := range in {
		want = append(want, key(e.DetailType, e.Detail, e.Resources))
	}
	for _, d := range got {
		if d.Source != Source {
			t.Fatalf("source %q", d.Source)
		}
		have = append(have, key(d.DetailType, d.Detail, d.Resources))
	}
	slices.Sort(want)
	slices.Sort(have)
	if !slices.Equal(want, have) {
		t.Fatalf("delivered %d events, sent %d; they differ:\nsent[0] %s\ngot[0]  %s", len(have), len(want), want[0], have[0])
	}
}
