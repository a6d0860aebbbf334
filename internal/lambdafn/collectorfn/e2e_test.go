package collectorfn

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/lambdafn/tokenrefresh"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const (
	testBucket      = "inv"
	testPrefix      = "msp/"
	testSecret      = "centralmsp/credentials"
	testCachePrefix = "centralmsp/tokens"
)

// wantField reports a summary field that differs from want.
func wantField[T comparable](t *testing.T, field string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("summary %s = %v, want %v", field, got, want)
	}
}

// syncBuffer is a goroutine-safe buffer for logs and EMF lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// skewClock is time.Now shifted by an offset the test moves.
type skewClock struct{ off atomic.Int64 }

func (c *skewClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// jumpRT moves the clock when armed and the first tenant token exchange
// passes, so that the engine finds too little time left for the next
// tenant (no sleeping: the engine compares the deadline with Now).
type jumpRT struct {
	next     http.RoundTripper
	clock    *skewClock
	mspWS    string
	armed    atomic.Bool
	deadline atomic.Int64 // unix ns of the current invocation's deadline
}

func (j *jumpRT) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := j.next.RoundTrip(r)
	if strings.HasPrefix(r.URL.Path, "/authorization/v2/oauth2/") && !strings.Contains(r.URL.Path, j.mspWS) && j.armed.CompareAndSwap(true, false) {
		// Leave 10 s (< collector.DefaultReserve) by the handler's clock.
		left := time.Until(time.Unix(0, j.deadline.Load()))
		j.clock.off.Store(int64(left - 10*time.Second))
	}
	return resp, err
}

// stack is moto (S3, Secrets Manager, SQS) plus the simulator, with the
// process environment configured as template.yaml configures the function.
type stack struct {
	sim      *centralsim.Server
	s3       *s3.Client
	sqs      *sqs.Client
	sm       *secretsmanager.Client
	queueURL string
	stdout   *syncBuffer
	logs     *syncBuffer
	clock    *skewClock
	rt       *jumpRT
}

func newStack(t *testing.T, tenants int, env map[string]string) *stack {
	t.Helper()
	m := testenv.StartMoto(t)
	m.SetEnv(t)
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = tenants
		o.Seed = 11
		o.DevicesPerTenant = func(i int) int { return 3 + 37*i }
		o.RateLimits.Central = centralsim.Limit{Requests: 400, Window: time.Second, Scope: centralsim.ScopeAccount}
	})
	t.Cleanup(sim.Close)
	cfg := m.AWSConfig(t)
	s := &stack{
		sim: sim, s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true
		}),
		sqs: sqs.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg),
		stdout: &syncBuffer{}, logs: &syncBuffer{}, clock: &skewClock{},
	}
	s.rt = &jumpRT{next: http.DefaultTransport, clock: s.clock, mspWS: sim.MSP().WorkspaceID}
	ctx := context.Background()
	if _, err := s.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(testSecret), SecretString: aws.String(string(sim.CredentialsYAML()))}); err != nil {
		t.Fatal(err)
	}
	q, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("shards")})
	if err != nil {
		t.Fatal(err)
	}
	s.queueURL = aws.ToString(q.QueueUrl)
	base := map[string]string{
		EnvBucket: testBucket, EnvPrefix: testPrefix, EnvCredentialsSecret: testSecret,
		EnvTokenCachePrefix: testCachePrefix, EnvConcurrency: "4", EnvForcePathStyle: "true",
		EnvShardQueueURL: s.queueURL, EnvCentralRate: "400",
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range base {
		if v == "-" {
			v = ""
		}
		t.Setenv(k, v)
	}
	return s
}

// handler builds the handler from the environment, as functions/collector does.
func (s *stack) handler(t *testing.T) *Handler {
	t.Helper()
	h, err := NewFromEnv(context.Background(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	h.Stdout = s.stdout
	h.Logger = slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.Now = s.clock.Now
	h.MSPOptions = []func(*msp.Options){func(o *msp.Options) { o.HTTPClient = &http.Client{Transport: s.rt, Timeout: 30 * time.Second} }}
	return h
}

// invoke pushes raw through aws-lambda-go's handler path with a deadline
// and a Lambda context, as the runtime (and sam local invoke) do.
func (s *stack) invoke(t *testing.T, h *Handler, raw []byte, timeout time.Duration) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	s.rt.deadline.Store(dl.UnixNano())
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-" + fmt.Sprint(time.Now().UnixNano())})
	return lambda.NewHandler(h.Handle).Invoke(ctx, raw)
}

func (s *stack) summary(t *testing.T, h *Handler, raw []byte) *Summary {
	t.Helper()
	out, err := s.invoke(t, h, raw, 5*time.Minute)
	if err != nil {
		t.Fatalf("invoke: %v\nlogs:\n%s", err, s.logs.String())
	}
	var sum Summary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	return &sum
}

func (s *stack) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := s.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(testPrefix + key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *stack) manifest(t *testing.T, key string) *collector.Manifest {
	t.Helper()
	m, err := collector.ReadManifest(bytes.NewReader(s.get(t, key)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// receive takes n messages from moto's queue (deleting them, as the event
// source mapping does after a successful batch).
func (s *stack) receive(t *testing.T, n int) []events.SQSMessage {
	t.Helper()
	ctx := context.Background()
	var out []events.SQSMessage
	for try := 0; len(out) < n && try < 20; try++ {
		r, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			out = append(out, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:shards", AWSRegion: "us-east-1"})
			if _, err := s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(out) != n {
		t.Fatalf("received %d messages, want %d", len(out), n)
	}
	return out
}

// processShard feeds one message as an SQS event (BatchSize 1).
func (s *stack) processShard(t *testing.T, h *Handler, m events.SQSMessage) events.SQSEventResponse {
	t.Helper()
	raw, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{m}})
	out, err := s.invoke(t, h, raw, 5*time.Minute)
	if err != nil {
		t.Fatalf("shard: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	return resp
}

// checkRecords compares every ok dataset object of the manifest with the
// simulator's records (fields kept verbatim, the four added fields right).
func (s *stack) checkRecords(t *testing.T, m *collector.Manifest, filter func(tenant, dataset string, recs []json.RawMessage) []json.RawMessage) {
	t.Helper()
	for _, tr := range m.Tenants {
		for _, dr := range tr.Datasets {
			if dr.Status != collector.StatusOK {
				continue
			}
			want := s.sim.Records(tr.ID, dr.Dataset)
			if filter != nil {
				want = filter(tr.ID, dr.Dataset, want)
			}
			zr, err := gzip.NewReader(bytes.NewReader(s.get(t, dr.Key)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(zr)
			lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
			if len(body) == 0 {
				lines = nil
			}
			if len(lines) != len(want) || dr.Records != int64(len(want)) {
				t.Fatalf("%s/%s: %d lines, manifest %d, simulator %d", tr.Name, dr.Dataset, len(lines), dr.Records, len(want))
			}
			for i, line := range lines {
				var got map[string]any
				if err := json.Unmarshal([]byte(line), &got); err != nil {
					t.Fatal(err)
				}
				if got["_tenant_id"] != tr.ID || got["_tenant_name"] != tr.Name || got["_run_id"] != m.RunID || got["_collected_at"] == nil {
					t.Fatalf("%s/%s line %d: added fields %v", tr.Name, dr.Dataset, i, got)
				}
				for _, k := range []string{"_tenant_id", "_tenant_name", "_run_id", "_collected_at"} {
					delete(got, k)
				}
				var exp map[string]any
				if err := json.Unmarshal(want[i], &exp); err != nil {
					t.Fatal(err)
				}
				g, _ := json.Marshal(got)
				e, _ := json.Marshal(exp)
				if !bytes.Equal(g, e) {
					t.Fatalf("%s/%s line %d:\n got %s\nwant %s", tr.Name, dr.Dataset, i, g, e)
				}
			}
		}
	}
}

func (s *stack) noSecretsLogged(t *testing.T) {
	t.Helper()
	all := s.logs.String() + s.stdout.String()
	if strings.Contains(all, s.sim.MSP().ClientSecret) {
		t.Error("the client secret is in the logs")
	}
	if strings.Contains(all, "eyJ") {
		t.Error("a JWT is in the logs")
	}
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// emfLines returns the EMF documents on stdout.
func emfLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("stdout line is not JSON: %q", l)
		}
		docs = append(docs, d)
	}
	return docs
}

// TestScheduledShardsEndToEnd: a scheduled event whose tenants exceed the
// shard size writes a plan and one SQS message per shard into moto; the
// messages, received from moto and fed back as SQS events, are collected
// (the first one runs out of time and enqueues a continuation) and the
// last shard joins a complete run manifest whose objects hold exactly the
// simulator's records.
func TestScheduledShardsEndToEnd(t *testing.T) {
	s := newStack(t, 7, map[string]string{EnvShardSize: "3", EnvConcurrency: "1"})
	h := s.handler(t)
	sum := s.summary(t, h, readEvent(t, "scheduled-rule.json"))
	wantField(t, "kind", sum.Kind, KindScheduled)
	wantField(t, "mode", sum.Mode, "sharded")
	wantField(t, "shards", sum.Shards, 3)
	wantField(t, "tenants", sum.Tenants, 7)
	wantField(t, "plan", sum.Plan, "runs/"+sum.RunID+"/plan.json")
	if t.Failed() {
		t.FailNow()
	}
	var plan scaleout.RunPlan
	if err := json.Unmarshal(s.get(t, sum.Plan), &plan); err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, sh := range plan.Shards {
		if len(sh.Tenants) > 3 {
			t.Errorf("shard %s has %d tenants", sh.ID, len(sh.Tenants))
		}
		planned = append(planned, sh.Tenants...)
	}
	if len(planned) != 7 {
		t.Fatalf("plan holds %d tenants", len(planned))
	}
	// While those shards are queued, the next schedule skips.
	if again := s.summary(t, h, readEvent(t, "scheduler.json")); again.Mode != "skipped" || !strings.Contains(again.Reason, "3 shard message(s)") {
		t.Fatalf("second scheduled run while shards are queued: %+v", again)
	}
	msgs := s.receive(t, 3)
	// The shards carry the tenants' names: they never list tenants again.
	listings := s.sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants]

	// The first shard runs out of time after its first tenant.
	s.rt.armed.Store(true)
	if resp := s.processShard(t, h, msgs[0]); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %+v\n%s", resp, s.logs.String())
	}
	s.clock.off.Store(0)
	first, err := scaleout.DecodeShardMessage([]byte(msgs[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	sm := s.manifest(t, collector.ShardKey(sum.RunID, first.ID()))
	if sm.Totals.TenantsOK != 1 || sm.Totals.TenantsDeferred != len(first.Tenants)-1 {
		t.Fatalf("first shard: %+v", sm.Totals)
	}
	cont := s.receive(t, 1)[0]
	next, err := scaleout.DecodeShardMessage([]byte(cont.Body))
	if err != nil || next.ID() != first.ID()+"c1" || len(next.Tenants) != len(first.Tenants)-1 || next.RunID != sum.RunID {
		t.Fatalf("continuation %+v %v", next, err)
	}
	for _, m := range append(msgs[1:], cont) {
		if resp := s.processShard(t, h, m); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %+v\n%s", resp, s.logs.String())
		}
	}
	joined := s.manifest(t, collector.ManifestKey(sum.RunID))
	// Four tenant shards and the MSP-level part the scheduling invocation read.
	if !joined.Complete || joined.Totals.Tenants != 7 || joined.Totals.TenantsOK != 7 || len(joined.Shards) != 5 || joined.Totals.MSPDatasetsOK != 1 {
		t.Fatalf("joined %+v shards %v", joined.Totals, joined.Shards)
	}
	if got := s.sim.Stats().ByEndpoint[centralsim.EndpointMSPTenants]; got != listings {
		t.Errorf("the shards listed tenants %d times", got-listings)
	}
	for _, tr := range joined.Tenants {
		if want, ok := s.sim.Tenant(tr.ID); !ok || tr.Name != want.Name {
			t.Errorf("tenant %s named %q, want %q", tr.ID, tr.Name, want.Name)
		}
	}
	s.checkRecords(t, joined, nil)
	var latest scaleout.LatestRun
	if err := json.Unmarshal(s.get(t, scaleout.LatestRunKey), &latest); err != nil || latest.RunID != sum.RunID || !latest.Complete {
		t.Fatalf("latest %+v %v", latest, err)
	}
	// EMF: one line per shard invocation with Function=collector, and the
	// joined run under its own dimension set.
	var perShard, joinedLines int
	for _, d := range emfLines(t, s.stdout.String()) {
		if d["Function"] != "collector" {
			t.Errorf("EMF without Function=collector: %v", d)
		}
		aws := d["_aws"].(map[string]any)
		cw := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
		if cw["Namespace"] != "CentralMSP" {
			t.Errorf("namespace %v", cw["Namespace"])
		}
		if _, ok := d["TenantsFailed"]; !ok {
			t.Error("no TenantsFailed metric")
		}
		if d["Run"] == "joined" {
			joinedLines++
		} else {
			perShard++
		}
	}
	if perShard != 5 || joinedLines != 1 { // four tenant shards and the MSP-level part
		t.Errorf("EMF lines: %d shard, %d joined", perShard, joinedLines)
	}
	s.noSecretsLogged(t)
}

// TestScheduledInProcessPicksUpDeferred: without a queue a run that runs out
// of time defers tenants, and the next scheduled run (a Scheduler event
// with its string detail) collects them first.
func TestScheduledInProcessPicksUpDeferred(t *testing.T) {
	s := newStack(t, 5, map[string]string{EnvShardQueueURL: "-", EnvConcurrency: "1"})
	h := s.handler(t)
	if h.SQS != nil {
		t.Fatal("a queue client without a queue")
	}
	s.rt.armed.Store(true)
	sum1 := s.summary(t, h, readEvent(t, "scheduled-rule.json"))
	s.clock.off.Store(0)
	if sum1.Mode != "in-process" || sum1.TenantsOK != 1 || sum1.TenantsDeferred != 4 || sum1.Complete {
		t.Fatalf("first run %+v", sum1)
	}
	m1 := s.manifest(t, sum1.Manifest)
	var deferred []string
	for _, tr := range m1.Tenants {
		if tr.Status == collector.StatusDeferred {
			deferred = append(deferred, tr.ID)
		}
	}
	sum2 := s.summary(t, h, readEvent(t, "scheduler.json"))
	if !sum2.Complete || sum2.TenantsOK != 5 || sum2.Estimate == nil {
		t.Fatalf("second run %+v", sum2)
	}
	m2 := s.manifest(t, sum2.Manifest)
	var order []string
	for _, tr := range m2.Tenants[:4] {
		order = append(order, tr.ID)
	}
	if !slices.Equal(order, deferred) {
		t.Errorf("second run order %v, deferred %v", order, deferred)
	}
	s.checkRecords(t, m2, nil)
	var latest scaleout.LatestRun
	if err := json.Unmarshal(s.get(t, scaleout.LatestRunKey), &latest); err != nil || latest.RunID != sum2.RunID {
		t.Fatalf("latest %+v %v", latest, err)
	}
	s.noSecretsLogged(t)
}

// TestAuditRequest: an AuditRequest event collects the audit-logs dataset
// filtered by since, by tenant id and by name.
func TestAuditRequest(t *testing.T) {
	s := newStack(t, 4, nil)
	h := s.handler(t)
	tn := s.sim.Tenants()
	recs := s.sim.Records(tn[3].HexID, "audit-logs")
	if len(recs) < 3 {
		t.Fatalf("%d audit logs", len(recs))
	}
	var third struct {
		CreatedAt string `json:"createdAt"`
	}
	_ = json.Unmarshal(recs[2], &third)
	since, err := time.Parse(time.RFC3339, third.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	detail, _ := json.Marshal(AuditRequest{Tenants: []string{tn[0].HexID, tn[3].Name}, Since: since.Format(time.RFC3339)})
	ev, _ := json.Marshal(events.EventBridgeEvent{Version: "0", ID: "x", DetailType: DetailTypeAudit, Source: SourceAudit,
		AccountID: "123456789012", Time: time.Now().UTC(), Region: "us-east-1", Resources: []string{}, Detail: detail})
	sum := s.summary(t, h, ev)
	wantField(t, "kind", sum.Kind, KindAudit)
	wantField(t, "tenants_ok", sum.TenantsOK, 2)
	wantField(t, "tenants", sum.Tenants, 2)
	wantField(t, "complete", sum.Complete, true)
	if t.Failed() {
		t.Fatalf("logs:\n%s", s.logs.String())
	}
	m := s.manifest(t, sum.Manifest)
	if !slices.Equal(m.Datasets, []string{AuditDataset}) {
		t.Fatalf("datasets %v", m.Datasets)
	}
	filtered := 0
	s.checkRecords(t, m, func(_, _ string, recs []json.RawMessage) []json.RawMessage {
		var out []json.RawMessage
		for _, r := range recs {
			var v struct {
				CreatedAt string `json:"createdAt"`
			}
			_ = json.Unmarshal(r, &v)
			if at, _ := time.Parse(time.RFC3339Nano, v.CreatedAt); !at.Before(since) {
				out = append(out, r)
			}
		}
		filtered += len(recs) - len(out)
		return out
	})
	if filtered == 0 {
		t.Error("the since filter removed nothing; the test does not prove it")
	}
	// Audit runs do not move the scheduled runs' pointer.
	if _, err := scaleout.Previous(context.Background(), h.Store); err != nil {
		t.Fatal(err)
	}
	if p, _ := scaleout.Previous(context.Background(), h.Store); p != nil {
		t.Errorf("latest points at %s", p.RunID)
	}
}

// TestDirectInvocationWarmCache: a direct invocation by tenant name, with
// the token cache filled by the refresher in moto's Secrets Manager, needs
// no token exchange.
func TestDirectInvocationWarmCache(t *testing.T) {
	s := newStack(t, 4, nil)
	h := s.handler(t)
	tn := s.sim.Tenants()
	fillTokenCache(t, s)
	before := s.sim.Stats().Exchanges
	raw, _ := json.Marshal(DirectRequest{Tenants: []string{tn[1].Name, tn[2].ID}, Datasets: []string{"devices", "subscriptions"}, RunID: "manual-1"})
	sum := s.summary(t, h, raw)
	wantField(t, "kind", sum.Kind, KindDirect)
	wantField(t, "run_id", sum.RunID, "manual-1")
	wantField(t, "tenants_ok", sum.TenantsOK, 2)
	wantField(t, "complete", sum.Complete, true)
	wantField(t, "token_cache_hits", sum.TokenCacheHits, int64(2))
	wantField(t, "exchanges", sum.Exchanges, int64(0))
	if t.Failed() {
		t.Fatalf("logs:\n%s", s.logs.String())
	}
	if n := s.sim.Stats().Exchanges - before; n != 0 {
		t.Errorf("%d exchanges with a warm cache", n)
	}
	m := s.manifest(t, collector.ManifestKey("manual-1"))
	if m.Tenants[0].Name != tn[1].Name || !slices.Equal(m.Datasets, []string{"devices", "subscriptions"}) {
		t.Fatalf("manifest %+v", m)
	}
	s.checkRecords(t, m, nil)

	// A direct invocation whose tenants do not exist collects nothing: an error.
	raw, _ = json.Marshal(DirectRequest{Tenants: []string{"No Such Tenant"}, RunID: "manual-2"})
	if _, err := s.invoke(t, h, raw, time.Minute); err == nil || !strings.Contains(err.Error(), "nothing could be collected") {
		t.Fatalf("unknown tenant: %v", err)
	}
	if m := s.manifest(t, collector.ManifestKey("manual-2")); m.Tenants[0].Error.Class != collector.ClassNotFound {
		t.Errorf("manifest %+v", m.Tenants[0])
	}
	s.noSecretsLogged(t)
}

// TestEventFiles feeds every events/*.json through the handler, as sam
// local invoke -e does. The samples' tenants do not exist in the
// simulator, so the audit, direct and shard samples record not_found
// tenants and report that nothing could be collected.
func TestEventFiles(t *testing.T) {
	s := newStack(t, 3, nil)
	h := s.handler(t)
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "events", "*.json"))
	if len(files) < 6 {
		t.Fatalf("%d event files", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw := readEvent(t, name)
			var env struct{ Source string }
			if json.Unmarshal(raw, &env) == nil && env.Source == PublishedSource {
				t.Skip("an event the collector publishes (docs/events.md), not one that invokes it")
			}
			inv, err := DecodeEvent(raw)
			if err != nil {
				t.Fatal(err)
			}
			switch inv.Kind {
			case KindScheduled:
				sum := s.summary(t, h, raw)
				if sum.Mode != "in-process" || !sum.Complete || sum.TenantsOK != 3 {
					t.Fatalf("%+v", sum)
				}
			case KindAudit, KindDirect:
				_, err := s.invoke(t, h, raw, time.Minute)
				if err == nil || !strings.Contains(err.Error(), "nothing could be collected") {
					t.Fatalf("error %v", err)
				}
				if inv.Kind == KindDirect {
					m := s.manifest(t, collector.ManifestKey(inv.Direct.RunID))
					if len(m.Tenants) != len(inv.Direct.Tenants) || m.Tenants[0].Error.Class != collector.ClassNotFound ||
						!slices.Equal(m.Datasets, inv.Direct.Datasets) {
						t.Fatalf("manifest %+v", m)
					}
				}
			case KindShards:
				// As when the message was sent (before its deadline_unix).
				sent := time.UnixMilli(1795528805000)
				s.clock.off.Store(int64(time.Until(sent)))
				defer s.clock.off.Store(0)
				out, err := s.invoke(t, h, raw, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				var resp events.SQSEventResponse
				_ = json.Unmarshal(out, &resp)
				if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != inv.SQS.Records[0].MessageId {
					t.Fatalf("response %s", out)
				}
				msg, _ := scaleout.DecodeShardMessage([]byte(inv.SQS.Records[0].Body))
				m := s.manifest(t, collector.ShardKey(msg.RunID, msg.ID()))
				if m.Totals.Tenants != len(msg.Tenants) || m.Totals.TenantsFailed != len(msg.Tenants) {
					t.Fatalf("shard manifest %+v", m.Totals)
				}
				// After its deadline the shard starts nothing and fails nothing.
				s.clock.off.Store(int64(time.Until(msg.Deadline().Add(time.Second))))
				out, err = s.invoke(t, h, raw, time.Minute)
				if err != nil || !strings.Contains(string(out), `"batchItemFailures":[]`) {
					t.Fatalf("late shard: %s %v", out, err)
				}
				if m := s.manifest(t, collector.ShardKey(msg.RunID, msg.ID())); m.Totals.TenantsDeferred != len(msg.Tenants) {
					t.Fatalf("late shard manifest %+v", m.Totals)
				}
			}
		})
	}
	s.noSecretsLogged(t)
}

// TestBadCredentials: a non-unified credentials secret is a clear error.
func TestBadCredentials(t *testing.T) {
	s := newStack(t, 1, map[string]string{EnvCredentialsSecret: "glp-only"})
	if _, err := s.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String("glp-only"),
		SecretString: aws.String(`{"glp": {"client_id": "a", "client_secret": "canary-secret-value", "base_url": "` + s.sim.URL + `"}}`)}); err != nil {
		t.Fatal(err)
	}
	h := s.handler(t)
	_, err := s.invoke(t, h, []byte(`{}`), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "unified") || !strings.Contains(err.Error(), EnvCredentialsSecret) || strings.Contains(err.Error(), "canary-secret-value") {
		t.Fatalf("error %v", err)
	}
	t.Setenv(EnvCredentialsSecret, "missing")
	h = s.handler(t)
	if _, err := s.invoke(t, h, []byte(`{}`), time.Minute); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing secret: %v", err)
	}
}

// fillTokenCache runs the token refresher against moto, as its schedule does
// before each collection.
func fillTokenCache(t *testing.T, s *stack) {
	t.Helper()
	r, err := tokenrefresh.NewFromEnv(context.Background(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	r.Logger = slog.New(slog.NewJSONHandler(s.logs, nil))
	res, err := r.Handle(context.Background(), events.EventBridgeEvent{Source: "aws.events", DetailType: "Scheduled Event"})
	if err != nil || len(res.Written) == 0 {
		t.Fatalf("refresh: %+v %v", res, err)
	}
}

// TestScheduledTenantListFails: when the tenant list cannot be read, the
// scheduled invocation fails (nothing could be collected) and the run's
// manifest records why.
func TestScheduledTenantListFails(t *testing.T) {
	s := newStack(t, 2, nil)
	s.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{Endpoint: centralsim.EndpointMSPTenants, ServerErrorRate: 1, ServerErrorStatus: 503}}})
	h := s.handler(t)
	h.MSPOptions = append(h.MSPOptions, func(o *msp.Options) {
		o.ClientOptions = append(o.ClientOptions, func(co *central.Options) { co.Retry.Rand = func() float64 { return 0 } })
	})
	_, err := s.invoke(t, h, readEvent(t, "scheduler.json"), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "nothing could be collected") {
		t.Fatalf("error %v", err)
	}
	out, lerr := s.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(testPrefix + "runs/")})
	if lerr != nil || len(out.Contents) != 1 || !strings.HasSuffix(aws.ToString(out.Contents[0].Key), "/manifest.json") {
		t.Fatalf("runs/: %+v %v", out, lerr)
	}
	m := s.manifest(t, strings.TrimPrefix(aws.ToString(out.Contents[0].Key), testPrefix))
	if m.Error == nil || m.Complete {
		t.Fatalf("manifest %+v", m)
	}
}
