package collectorfn

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// faultySQS forwards every call to moto, records ChangeMessageVisibility
// calls, and can make SQS refuse chosen batch entries or whole calls.
type faultySQS struct {
	scaleout.QueueAPI
	mu         sync.Mutex
	refuse     map[string]bool // batch entry ids SQS reports as failed
	failCalls  bool            // every SendMessageBatch fails as a whole
	afterSend  func()          // runs after the accepted entries are sent
	visibility []sqs.ChangeMessageVisibilityInput
}

func (f *faultySQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if f.failCalls {
		return nil, errors.New("injected: connection reset")
	}
	var keep []types.SendMessageBatchRequestEntry
	var failed []types.BatchResultErrorEntry
	for _, e := range in.Entries {
		if f.refuse[aws.ToString(e.Id)] {
			failed = append(failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidParameterValue"), Message: aws.String("injected"), SenderFault: true})
			continue
		}
		keep = append(keep, e)
	}
	out := &sqs.SendMessageBatchOutput{}
	if len(keep) > 0 {
		cp := *in
		cp.Entries = keep
		o, err := f.QueueAPI.SendMessageBatch(ctx, &cp, opts...)
		if err != nil {
			return nil, err
		}
		out = o
	}
	out.Failed = append(out.Failed, failed...)
	if f.afterSend != nil {
		f.afterSend()
	}
	return out, nil
}

func (f *faultySQS) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	out, err := f.QueueAPI.ChangeMessageVisibility(ctx, in, opts...)
	if err == nil {
		f.mu.Lock()
		f.visibility = append(f.visibility, *in)
		f.mu.Unlock()
	}
	return out, err
}

// TestFailedShardRetriesSoon: a shard that fails as a whole is not left
// invisible for the queue's 5,400 s visibility timeout: moto accepts a
// ChangeMessageVisibility for its receipt handle, 1 minute after its first
// receive and 4 minutes after its third.
func TestFailedShardRetriesSoon(t *testing.T) {
	s := newStack(t, 2, nil)
	h := s.handler(t)
	fq := &faultySQS{QueueAPI: h.SQS}
	h.SQS = fq
	ctx := context.Background()
	// A shard of tenants the MSP does not have: every tenant fails.
	msg := scaleout.ShardMessage{RunID: "20261128T010000Z-retry", Shard: 1, Shards: 1,
		Tenants: []string{"0123456789abcdef0123456789abcdef"}, Datasets: []string{"devices"}}
	if err := (&scaleout.Sender{Client: s.sqs, QueueURL: s.queueURL}).Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	r, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL), WaitTimeSeconds: 1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil || len(r.Messages) != 1 {
		t.Fatalf("receive: %v %d", err, len(r.Messages))
	}
	m := r.Messages[0]
	for _, tc := range []struct {
		count string
		want  int32
	}{{m.Attributes["ApproximateReceiveCount"], 60}, {"3", 240}} {
		rec := events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			EventSource: "aws:sqs", Attributes: map[string]string{"ApproximateReceiveCount": tc.count}}
		if resp := s.processShard(t, h, rec); len(resp.BatchItemFailures) != 1 {
			t.Fatalf("response %+v", resp)
		}
		fq.mu.Lock()
		calls := slices.Clone(fq.visibility)
		fq.mu.Unlock()
		if len(calls) == 0 {
			t.Fatalf("receive count %s: no ChangeMessageVisibility call\n%s", tc.count, s.logs.String())
		}
		last := calls[len(calls)-1]
		if last.VisibilityTimeout != tc.want || aws.ToString(last.ReceiptHandle) != aws.ToString(m.ReceiptHandle) || aws.ToString(last.QueueUrl) != s.queueURL {
			t.Fatalf("receive count %s: visibility %d s for %s, want %d s", tc.count, last.VisibilityTimeout, aws.ToString(last.QueueUrl), tc.want)
		}
	}
	if !strings.Contains(s.logs.String(), "shard retry scheduled") {
		t.Errorf("no log line for the retry:\n%s", s.logs.String())
	}
	s.noSecretsLogged(t)
}

// TestScheduledUnsentShardIsDeferred: when SQS refuses one shard of a
// scheduled run, the run still joins once the sent shards are done: the
// refused shard's tenants are deferred (first in the next run), the others
// are collected, and the summary says so.
func TestScheduledUnsentShardIsDeferred(t *testing.T) {
	s := newStack(t, 7, map[string]string{EnvShardSize: "3", EnvConcurrency: "2"})
	h := s.handler(t)
	h.SQS = &faultySQS{QueueAPI: h.SQS, refuse: map[string]bool{"1": true}} // the second shard
	sum := s.summary(t, h, readEvent(t, "scheduled-rule.json"))
	wantField(t, "mode", sum.Mode, "sharded")
	wantField(t, "shards", sum.Shards, 2)
	wantField(t, "warnings", len(sum.Warnings), 1)
	if t.Failed() {
		t.FailNow()
	}
	if !strings.Contains(sum.Warnings[0], "1 of 3 shards could not be sent") {
		t.Errorf("warning %q does not count the unsent shard", sum.Warnings[0])
	}
	var plan scaleout.RunPlan
	if err := json.Unmarshal(s.get(t, sum.Plan), &plan); err != nil {
		t.Fatal(err)
	}
	refused := plan.Shards[1]
	for _, m := range s.receive(t, 2) {
		if resp := s.processShard(t, h, m); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %+v\n%s", resp, s.logs.String())
		}
	}
	joined := s.manifest(t, collector.ManifestKey(sum.RunID))
	if joined.Complete || joined.Totals.Tenants != 7 || joined.Totals.TenantsDeferred != len(refused.Tenants) ||
		joined.Totals.TenantsOK != 7-len(refused.Tenants) {
		t.Fatalf("joined %+v", joined.Totals)
	}
	for _, tr := range joined.Tenants {
		if (tr.Status == collector.StatusDeferred) != slices.Contains(refused.Tenants, tr.ID) {
			t.Errorf("tenant %s: %s", tr.ID, tr.Status)
		}
	}
	s.checkRecords(t, joined, nil)
	var latest scaleout.LatestRun
	if err := json.Unmarshal(s.get(t, scaleout.LatestRunKey), &latest); err != nil || latest.RunID != sum.RunID || latest.Deferred != len(refused.Tenants) {
		t.Fatalf("latest %+v %v", latest, err)
	}
}

// TestScheduledNoShardSent: when SQS takes no shard at all the invocation
// fails (its on-failure destination alarms), and the run is joined with
// every tenant deferred rather than left without a manifest.
func TestScheduledNoShardSent(t *testing.T) {
	s := newStack(t, 7, map[string]string{EnvShardSize: "3", EnvConcurrency: "2"})
	h := s.handler(t)
	h.SQS = &faultySQS{QueueAPI: h.SQS, failCalls: true}
	_, err := s.invoke(t, h, readEvent(t, "scheduled-rule.json"), 5*time.Minute)
	if err == nil || !strings.Contains(err.Error(), "sending shards") {
		t.Fatalf("error %v", err)
	}
	out, err := s.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(testPrefix + "runs/")})
	if err != nil {
		t.Fatal(err)
	}
	var manifest string
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
		if strings.HasSuffix(aws.ToString(o.Key), "/manifest.json") {
			manifest = aws.ToString(o.Key)
		}
	}
	if manifest == "" {
		t.Fatalf("no joined manifest among %v", keys)
	}
	joined := s.manifest(t, strings.TrimPrefix(manifest, testPrefix))
	if joined.Complete || joined.Totals.Tenants != 7 || joined.Totals.TenantsDeferred != 7 {
		t.Fatalf("joined %+v", joined.Totals)
	}
}

// TestShardAfterMidnightKeepsRunDate: a shard of a run that started before
// midnight (UTC) writes its objects to the run's dt partition, even though
// it runs the next day, so the run is one partition for Athena.
func TestShardAfterMidnightKeepsRunDate(t *testing.T) {
	s := newStack(t, 2, nil)
	h := s.handler(t)
	id := s.sim.Tenants()[0].HexID
	msg := scaleout.ShardMessage{RunID: "20261127T235500Z-midnight", Shard: 1, Shards: 1, Tenants: []string{id}, Datasets: []string{"aps"}}
	body, _ := json.Marshal(msg)
	rec := events.SQSMessage{MessageId: "m-1", Body: string(body), EventSource: "aws:sqs"}
	if resp := s.processShard(t, h, rec); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response %+v\n%s", resp, s.logs.String())
	}
	m := s.manifest(t, collector.ShardKey(msg.RunID, msg.ID()))
	if m.Date != "2026-11-27" || len(m.Tenants) != 1 || m.Tenants[0].Datasets[0].Key != collector.ObjectKey("aps", "2026-11-27", msg.RunID, id) {
		t.Fatalf("shard manifest date %s, tenants %+v", m.Date, m.Tenants)
	}
	s.get(t, m.Tenants[0].Datasets[0].Key)
}

// TestShardWithNamesAndDashedIDs: a hand-written shard message may give
// tenant ids in GLP's dashed, upper-case form with names; the shard still
// finds its tenants without listing them and records the names given.
func TestShardWithNamesAndDashedIDs(t *testing.T) {
	s := newStack(t, 2, nil)
	h := s.handler(t)
	tn := s.sim.Tenants()[1]
	msg := scaleout.ShardMessage{RunID: "20261128T020000Z-dashed", Shard: 1, Shards: 1,
		Tenants: []string{strings.ToUpper(tn.ID)}, Names: []string{tn.Name}, Datasets: []string{"aps"}}
	body, _ := json.Marshal(msg)
	before := s.sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants]
	if resp := s.processShard(t, h, events.SQSMessage{MessageId: "m-2", Body: string(body), EventSource: "aws:sqs"}); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response %+v\n%s", resp, s.logs.String())
	}
	m := s.manifest(t, collector.ShardKey(msg.RunID, msg.ID()))
	if m.Totals.TenantsOK != 1 || m.Tenants[0].ID != tn.HexID || m.Tenants[0].Name != tn.Name {
		t.Fatalf("shard manifest %+v %+v", m.Totals, m.Tenants)
	}
	if s.sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants] != before {
		t.Error("the shard listed tenants")
	}
}

// TestUnsentShardAfterSentShardsFinished: when the sent shards all finish
// before the unsent one's deferred manifest is written (their joins find
// it missing), the scheduled invocation joins the run itself.
func TestUnsentShardAfterSentShardsFinished(t *testing.T) {
	s := newStack(t, 7, map[string]string{EnvShardSize: "3", EnvConcurrency: "2"})
	h := s.handler(t)
	fq := &faultySQS{QueueAPI: h.SQS, refuse: map[string]bool{"2": true}} // the third shard
	fq.afterSend = func() {
		// The two sent shards run to completion inside the send call.
		for _, m := range s.receive(t, 2) {
			if resp := s.processShard(t, h, m); len(resp.BatchItemFailures) != 0 {
				t.Errorf("failures %+v", resp)
			}
		}
	}
	h.SQS = fq
	sum := s.summary(t, h, readEvent(t, "scheduled-rule.json"))
	wantField(t, "shards", sum.Shards, 2)
	joined := s.manifest(t, collector.ManifestKey(sum.RunID))
	if joined.Complete || joined.Totals.Tenants != 7 || joined.Totals.TenantsDeferred == 0 || joined.Totals.TenantsOK+joined.Totals.TenantsDeferred != 7 {
		t.Fatalf("joined %+v", joined.Totals)
	}
}
