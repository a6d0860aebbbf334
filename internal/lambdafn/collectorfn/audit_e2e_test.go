package collectorfn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const auditTestBus = "centralmsp-audit"

// eventQueue is the SQS target of a rule on a custom bus in moto that
// matches the collector's events (source centralmsp).
type eventQueue struct {
	sqs *sqs.Client
	url string
}

func newEventQueue(t *testing.T, s *stack) eventQueue {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx) // moto, from the stack's environment
	if err != nil {
		t.Fatal(err)
	}
	eb := eventbridge.NewFromConfig(cfg)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(auditTestBus)}); err != nil {
		t.Fatal(err)
	}
	q, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("centralmsp-events")})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	arn := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Resource":%q}]}`, arn)
	if _, err := s.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: q.QueueUrl,
		Attributes: map[string]string{string(sqstypes.QueueAttributeNamePolicy): policy}}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("to-queue"), EventBusName: aws.String(auditTestBus),
		EventPattern: aws.String(`{"source":["centralmsp"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("to-queue"), EventBusName: aws.String(auditTestBus),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(arn)}}}); err != nil {
		t.Fatal(err)
	}
	return eventQueue{sqs: s.sqs, url: aws.ToString(q.QueueUrl)}
}

// busEvent is an event as the rule delivers it to the queue.
type busEvent struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

// drain receives (and deletes) messages until want arrived, within a
// bounded time, then confirms with one empty long poll that no more came,
// and checks every event's detail against its schema (events/schemas).
func (q eventQueue) drain(t *testing.T, want int) []busEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(want+10)*2*time.Second)
	defer cancel()
	var out []busEvent
	confirmed := false
	for !confirmed {
		wait := int32(2)
		if len(out) >= want {
			wait, confirmed = 1, true
		}
		r, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url), MaxNumberOfMessages: 10, WaitTimeSeconds: wait})
		if err != nil {
			t.Fatalf("receiving events (%d of %d so far): %v", len(out), want, err)
		}
		for _, m := range r.Messages {
			var e busEvent
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &e); err != nil {
				t.Fatalf("message %q: %v", aws.ToString(m.Body), err)
			}
			if e.Source != PublishedSource {
				t.Errorf("event from source %q", e.Source)
			}
			out = append(out, e)
			if _, err := q.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
		if len(r.Messages) > 0 {
			confirmed = false
		}
	}
	if len(out) != want {
		t.Fatalf("received %d events, want %d", len(out), want)
	}
	checkSchemas(t, out)
	return out
}

// byType counts events per detail type.
func byType(evs []busEvent) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		m[e.DetailType]++
	}
	return m
}

// changeLine is one record-level change as the simulator reports it:
// tenant, dataset, key, type, field, previous and new value.
func changeLine(tenant, ds, key, typ, field, old, nw string) string {
	return strings.Join([]string{strings.ReplaceAll(strings.ToLower(tenant), "-", ""), ds, key, typ, field, old, nw}, " | ")
}

// publishedChanges expands the InventoryChange events into change lines
// (one per changed field of an UPDATE).
func publishedChanges(t *testing.T, evs []busEvent) []string {
	t.Helper()
	var out []string
	for _, e := range evs {
		if e.DetailType == audit.DetailInventoryChangeCap {
			t.Errorf("a summary event under the cap: %s", e.Detail)
		}
		if e.DetailType != audit.DetailInventoryChange {
			continue
		}
		var d audit.InventoryChangeDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatalf("InventoryChange %s: %v", e.Detail, err)
		}
		if d.RunID == "" || d.PreviousRunID == "" || d.TenantName == "" {
			t.Errorf("InventoryChange without run ids or tenant name: %s", e.Detail)
		}
		typ := string(d.ConfigurationItemDiff.ChangeType)
		if typ != string(audit.Update) {
			out = append(out, changeLine(d.TenantID, d.Dataset, d.ResourceID, typ, "", "", ""))
			continue
		}
		for f, p := range d.ConfigurationItemDiff.ChangedProperties {
			out = append(out, changeLine(d.TenantID, d.Dataset, d.ResourceID, typ, f, aws.ToString(p.PreviousValue), aws.ToString(p.UpdatedValue)))
		}
	}
	sort.Strings(out)
	return out
}

func simChanges(cs []centralsim.Change, keep func(centralsim.Change) bool) []string {
	var out []string
	for _, c := range cs {
		if keep == nil || keep(c) {
			out = append(out, changeLine(c.TenantHexID, c.Dataset, c.Key, c.Type, c.Field, c.Old, c.New))
		}
	}
	sort.Strings(out)
	return out
}

// scheduledAudit runs the scheduled path and returns its summary and the
// events it published, read back from the bus's queue.
func (s *stack) scheduledAudit(t *testing.T, h *Handler, q eventQueue) (*Summary, []busEvent) {
	t.Helper()
	sum := s.summary(t, h, readEvent(t, "scheduler.json"))
	if sum.Mode != "in-process" || sum.Audit == nil {
		t.Fatalf("scheduled run %+v\nlogs:\n%s", sum, s.logs.String())
	}
	if sum.Audit.EventsFailed != 0 || sum.Audit.Errors != 0 {
		t.Fatalf("audit %+v\nlogs:\n%s", sum.Audit, s.logs.String())
	}
	return sum, q.drain(t, sum.Audit.EventsSent)
}

// checkRunCompleted: one AuditRunCompleted event names the run and its
// report as the summary does.
func checkRunCompleted(t *testing.T, evs []busEvent, sum *Summary) {
	t.Helper()
	if n := byType(evs)[audit.DetailAuditRunCompleted]; n != 1 {
		t.Fatalf("%d AuditRunCompleted events", n)
	}
	for _, e := range evs {
		if e.DetailType != audit.DetailAuditRunCompleted {
			continue
		}
		var d audit.RunCompletedDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if d.RunID != sum.RunID || d.ReportKey != sum.Audit.Report || d.SummaryKey != sum.Audit.Summary || d.Totals.Changes != sum.Audit.Changes {
			t.Errorf("AuditRunCompleted %s, summary %+v audit %+v", e.Detail, sum, sum.Audit)
		}
	}
}

// TestAuditEventsEndToEnd: the scheduled path with auditing on, against
// the simulator and moto (S3, EventBridge custom bus, rule to SQS),
// publishes exactly the simulator's changes as InventoryChange events; a
// dataset that fails publishes no deletions; an AuditRequest writes a
// report.
func TestAuditEventsEndToEnd(t *testing.T) {
	start := time.Now()
	// No finding rules: moto delivers about two events a second, and the
	// simulator's tenants would raise dozens of findings at the baseline.
	off := map[string]map[string]bool{}
	for _, r := range audit.RuleNames() {
		off[r] = map[string]bool{"enabled": false}
	}
	rules, _ := json.Marshal(map[string]any{"rules": off})
	s := newStack(t, 3, map[string]string{EnvShardQueueURL: "-", EnvEventBus: auditTestBus, EnvAudit: "true", EnvAuditRules: string(rules)})
	q := newEventQueue(t, s)
	h := s.handler(t)
	h.MSPOptions = append(h.MSPOptions, func(o *msp.Options) {
		o.ClientOptions = append(o.ClientOptions, func(co *central.Options) { co.Retry.Rand = func() float64 { return 0 } })
	})
	if h.Events == nil {
		t.Fatal("auditing on but no publisher")
	}
	tn := s.sim.Tenants()

	// 1. The baseline: no changes to publish.
	sum1, evs1 := s.scheduledAudit(t, h, q)
	if !sum1.Complete || sum1.TenantsOK != 3 {
		t.Fatalf("baseline run %+v", sum1)
	}
	if n := byType(evs1)[audit.DetailInventoryChange]; n != 0 || sum1.Audit.Changes != 0 {
		t.Fatalf("baseline published %d InventoryChange events (%d changes)", n, sum1.Audit.Changes)
	}
	if byType(evs1)[audit.DetailAuditRunCompleted] != 1 {
		t.Errorf("baseline events %v", byType(evs1))
	}
	t.Logf("baseline: %v in %s", byType(evs1), time.Since(start).Round(time.Millisecond))

	// 2. A few changes on two tenants: the events are exactly them.
	want := s.sim.Mutate(centralsim.MutateOptions{Tenants: []string{tn[0].HexID}, Refirmware: 1})
	want = append(want, s.sim.Mutate(centralsim.MutateOptions{Tenants: []string{tn[1].HexID}, Renew: 1, Add: 1})...)
	if len(want) == 0 {
		t.Fatal("the simulator changed nothing")
	}
	sum2, evs2 := s.scheduledAudit(t, h, q)
	if !sum2.Complete || sum2.TenantsOK != 3 || sum2.Audit.Changes != len(want) {
		t.Errorf("second run %+v audit %+v, want %d changes", sum2, sum2.Audit, len(want))
	}
	got, exp := publishedChanges(t, evs2), simChanges(want, nil)
	if !slices.Equal(got, exp) {
		t.Fatalf("published changes differ from the simulator's\n got %q\nwant %q", got, exp)
	}
	checkRunCompleted(t, evs2, sum2)
	t.Logf("changes: %d simulator changes, events %v, %s", len(want), byType(evs2), time.Since(start).Round(time.Millisecond))

	// 3. A device removed from a tenant whose devices endpoint fails: no
	// deletion for that dataset, the other datasets' deletions published.
	removed := s.sim.Mutate(centralsim.MutateOptions{Tenants: []string{tn[0].HexID}, Remove: 1})
	s.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{Endpoint: centralsim.EndpointDevices, Tenant: tn[0].HexID, ServerErrorRate: 1, ServerErrorStatus: 503}}})
	failed := func(c centralsim.Change) bool { return c.Dataset == centralsim.DatasetDevices }
	if !slices.ContainsFunc(removed, failed) {
		t.Fatalf("the removal did not touch %s: %+v", centralsim.DatasetDevices, removed)
	}
	sum3, evs3 := s.scheduledAudit(t, h, q)
	s.sim.SetFaults(centralsim.Faults{})
	if sum3.TenantsFailed != 1 || sum3.TenantsOK != 2 {
		t.Errorf("third run %+v", sum3)
	}
	hit := false
	for _, tr := range s.manifest(t, sum3.Manifest).Tenants {
		for _, dr := range tr.Datasets {
			if dr.Dataset == centralsim.DatasetDevices && dr.Status == collector.StatusFailed {
				hit = hit || strings.EqualFold(strings.ReplaceAll(tr.ID, "-", ""), tn[0].HexID)
			}
		}
	}
	if !hit {
		t.Fatalf("the fault did not fail %s of tenant %s", centralsim.DatasetDevices, tn[0].Name)
	}
	got = publishedChanges(t, evs3)
	failedPrefix := strings.ToLower(tn[0].HexID) + " | " + centralsim.DatasetDevices + " | "
	for _, g := range got {
		if strings.HasPrefix(g, failedPrefix) {
			t.Errorf("a change published for the failed dataset: %s", g)
		}
	}
	exp = simChanges(removed, func(c centralsim.Change) bool { return !failed(c) })
	if !slices.Equal(got, exp) {
		t.Fatalf("third run: published changes\n got %q\nwant %q", got, exp)
	}
	t.Logf("failed dataset: %d simulator changes, events %v, %s", len(removed), byType(evs3), time.Since(start).Round(time.Millisecond))

	// 4. An AuditRequest for one tenant names its report, which is in S3.
	detail, _ := json.Marshal(AuditRequest{Tenants: []string{tn[2].HexID}, Since: time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)})
	ev, _ := json.Marshal(events.EventBridgeEvent{Version: "0", ID: "x", DetailType: DetailTypeAudit, Source: SourceAudit,
		AccountID: "123456789012", Time: time.Now().UTC(), Region: "us-east-1", Resources: []string{}, Detail: detail})
	if inv, err := DecodeEvent(ev); err != nil || inv.Kind != KindAudit {
		t.Fatalf("decoding the request: %+v %v", inv, err)
	}
	sum4 := s.summary(t, h, ev)
	if sum4.Kind != KindAudit || sum4.Audit == nil || sum4.Audit.Report == "" || sum4.Audit.Summary == "" {
		t.Fatalf("audit request %+v audit %+v\nlogs:\n%s", sum4, sum4.Audit, s.logs.String())
	}
	for _, key := range []string{sum4.Audit.Report, sum4.Audit.Summary} {
		if _, err := s.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(testPrefix + key)}); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	// The response names the report by one URI, and an object is there.
	if want := "s3://" + testBucket + "/" + testPrefix + sum4.Audit.Report; sum4.Audit.ReportURI != want {
		t.Errorf("report_uri %q, want %q", sum4.Audit.ReportURI, want)
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(sum4.Audit.ReportURI, "s3://"), "/")
	if _, err := s.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); !ok || err != nil {
		t.Errorf("no object at report_uri %s: %v", sum4.Audit.ReportURI, err)
	}
	if !strings.Contains(string(s.get(t, sum4.Audit.Report)), tn[2].Name) {
		t.Errorf("the report does not name tenant %s", tn[2].Name)
	}
	q.drain(t, sum4.Audit.EventsSent)
	s.noSecretsLogged(t)
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

// TestAuditManyEventsKeepReport: with the default finding rules the
// baseline run publishes dozens of findings, which moto takes longer than
// collector.DefaultFinishTime to deliver after the run returns; the audit's
// summary, report and AuditRunCompleted are still written and sent.
func TestAuditManyEventsKeepReport(t *testing.T) {
	s := newStack(t, 2, map[string]string{EnvShardQueueURL: "-", EnvEventBus: auditTestBus, EnvAudit: "true"})
	q := newEventQueue(t, s)
	h := s.handler(t)
	start := time.Now()
	sum, evs := s.scheduledAudit(t, h, q)
	took := time.Since(start)
	if sum.Audit.Findings == 0 || sum.Audit.Report == "" || sum.Audit.EventsSent != sum.Audit.Findings+1 {
		t.Fatalf("audit %+v", sum.Audit)
	}
	if n := byType(evs)[audit.DetailAuditFinding]; n != sum.Audit.Findings {
		t.Errorf("%d AuditFinding events, %d findings", n, sum.Audit.Findings)
	}
	checkRunCompleted(t, evs, sum)
	for _, key := range []string{sum.Audit.Report, sum.Audit.Summary} {
		if _, err := s.s3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(testPrefix + key)}); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	t.Logf("%d findings published and read back in %s (finish budget %s)", sum.Audit.Findings, took.Round(time.Millisecond), collector.DefaultFinishTime)
}
