package scaleout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
)

var testBudgets = []Budget{
	{Name: central.BudgetCentral, Rate: 8, Shared: true},
	{Name: central.BudgetGLPDevices, Rate: 160.0 / 60},
	{Name: central.BudgetGLPSubscriptions, Rate: 1},
	{Name: central.BudgetGLP, Rate: math.Inf(1), Shared: true},
}

func uniform(n int, central_, dev, subs float64) []tenantCost {
	out := make([]tenantCost, n)
	for i := range out {
		out[i] = tenantCost{ID: fmt.Sprintf("%032x", i+1), Requests: map[string]float64{
			central.BudgetCentral: central_, central.BudgetGLPDevices: dev, central.BudgetGLPSubscriptions: subs}}
	}
	return out
}

func near(a, b time.Duration) bool { return (a - b).Abs() < time.Millisecond }

func TestEstimateArithmetic(t *testing.T) {
	p := planParams{Budgets: testBudgets, Latency: 100 * time.Millisecond, Concurrency: 4}
	// Per tenant: central 10 x 0.1 s = 1 s; glp-devices max(2 x 0.1, 2 / (160/60)) = 0.75 s;
	// subscriptions max(0.2, 2 / 1) = 2 s: 3.75 s.
	e := estimateRun(uniform(3, 10, 2, 2), p, 1)
	if !near(e.CriticalPath, 3750*time.Millisecond) || !near(e.Parallel, 2812500*time.Microsecond) ||
		!near(e.Budgets["central"], 3750*time.Millisecond) || !near(e.LowerBound, 3750*time.Millisecond) {
		t.Fatalf("3 tenants: %+v", e)
	}
	// 40 tenants: parallel 40 x 3.75 / 4 = 37.5 s; central 400 / 8 = 50 s.
	e = estimateRun(uniform(40, 10, 2, 2), p, 1)
	if !near(e.LowerBound, 50*time.Second) || e.Bound != "budget:central" || !near(e.Parallel, 37500*time.Millisecond) {
		t.Fatalf("40 tenants: %+v", e)
	}
	// A shard with half the central budget needs twice as long.
	if e2 := estimateRun(uniform(40, 10, 2, 2), p, 2); !near(e2.LowerBound, 100*time.Second) {
		t.Fatalf("share 2: %+v", e2)
	}
	// Workspace-scoped central: no shared bound; a tenant takes
	// max(1 s, 10 / 8 s) + 0.75 + 2 = 4 s, so 40 x 4 / 4 = 40 s.
	ws := slices.Clone(testBudgets)
	ws[0].Shared = false
	p.Budgets = ws
	if e3 := estimateRun(uniform(40, 10, 2, 2), p, 1); e3.Bound != "concurrency" || !near(e3.LowerBound, 40*time.Second) {
		t.Fatalf("workspace scope: %+v", e3)
	}
}

func TestDecide(t *testing.T) {
	p := planParams{Budgets: testBudgets, Latency: 100 * time.Millisecond, Concurrency: 4, Available: 60 * time.Second,
		ShardTime: 30 * time.Second, ShardConcurrency: 2, Safety: 1.25}
	// 50 s x 1.25 = 62.5 s > 60 s: split. Per shard with half the
	// central budget: 100 s x 1.25 / 30 s = 4.17 -> 5 shards of 8.
	d := decide(uniform(40, 10, 2, 2), p)
	if d.InProcess || len(d.Shards) != 5 {
		t.Fatalf("decision %+v", d)
	}
	for _, s := range d.Shards {
		if len(s.Tenants) != 8 || !near(s.Estimate, 20*time.Second) {
			t.Errorf("shard %s: %d tenants, estimate %s", s.ID, len(s.Tenants), s.Estimate)
		}
	}
	if got := []string{d.Shards[0].ID, d.Shards[4].ID}; got[0] != "1" || got[1] != "5" {
		t.Errorf("ids %v", got)
	}
	// 30 tenants: 37.5 s x 1.25 fits in 60 s.
	if d := decide(uniform(30, 10, 2, 2), p); !d.InProcess || !strings.Contains(d.Reason, "fits") {
		t.Fatalf("30 tenants: %+v", d)
	}
	// MaxTenants forces shards of at most that many.
	p.MaxTenants = 7
	d = decide(uniform(30, 10, 2, 2), p)
	if d.InProcess || len(d.Shards) != 5 {
		t.Fatalf("max tenants: %+v", d)
	}
	for _, s := range d.Shards {
		if len(s.Tenants) > 7 {
			t.Errorf("shard %s has %d tenants", s.ID, len(s.Tenants))
		}
	}
	if n := shardCount(uniform(1, 10000, 0, 0), p); n != 1 {
		t.Errorf("one huge tenant: %d shards", n)
	}
}

func TestSplitStableAndBalanced(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tenants := uniform(200, 0, 0, 0)
	for i := range tenants {
		tenants[i].Requests[central.BudgetCentral] = float64(1 + rng.IntN(60))
		tenants[i].Deferred = i%17 == 0
	}
	p := planParams{Budgets: testBudgets, Latency: 100 * time.Millisecond, Concurrency: 8, Available: time.Minute,
		ShardTime: 60 * time.Second, ShardConcurrency: 2}
	a := split(tenants, p)
	shuffled := slices.Clone(tenants)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b := split(shuffled, p)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatal("the split depends on the input order")
	}
	if len(a) < 2 {
		t.Fatalf("%d shards", len(a))
	}
	byID := map[string]tenantCost{}
	for _, tc := range tenants {
		byID[tc.ID] = tc
	}
	seen := map[string]bool{}
	var lo, hi, biggest float64 = math.Inf(1), 0, 0
	for _, s := range a {
		var load float64
		inDeferred := true
		for _, id := range s.Tenants {
			if seen[id] {
				t.Fatalf("tenant %s twice", id)
			}
			seen[id] = true
			c := costOf(byID[id], p.withDefaults())
			load += c
			biggest = max(biggest, c)
			if byID[id].Deferred && !inDeferred {
				t.Errorf("shard %s: deferred tenant %s after others", s.ID, id)
			}
			inDeferred = inDeferred && byID[id].Deferred
		}
		lo, hi = min(lo, load), max(hi, load)
	}
	if len(seen) != len(tenants) {
		t.Fatalf("%d of %d tenants assigned", len(seen), len(tenants))
	}
	if hi-lo > biggest {
		t.Errorf("unbalanced: loads %.2f..%.2f, largest tenant %.2f", lo, hi, biggest)
	}
}

func TestCostsFromManifest(t *testing.T) {
	ds, _ := collector.SelectDatasets("devices", "aps", "subscriptions")
	prev := &collector.Manifest{Tenants: []collector.TenantResult{
		{ID: "a", Status: collector.StatusOK, Datasets: []collector.DatasetResult{
			{Dataset: "devices", Status: collector.StatusOK, APICalls: 5},
			{Dataset: "aps", Status: collector.StatusOK, APICalls: 3},
			{Dataset: "subscriptions", Status: collector.StatusOK, APICalls: 1}}},
		{ID: "b", Status: collector.StatusDeferred, Datasets: []collector.DatasetResult{
			{Dataset: "devices", Status: collector.StatusDeferred},
			{Dataset: "aps", Status: collector.StatusDeferred},
			{Dataset: "subscriptions", Status: collector.StatusDeferred}}},
	}}
	c := estimateCosts([]string{"a", "b", "new"}, ds, prev)
	if c[0].Requests["central"] != 8 || c[0].Requests["glp-subscriptions"] != 1 || !c[0].Measured || c[0].Deferred {
		t.Errorf("a: %+v", c[0])
	}
	if !c[1].Deferred || c[1].Measured || c[1].Requests["central"] != 4 {
		t.Errorf("b: %+v", c[1])
	}
	// Unknown tenants get the mean of the measured ones.
	if c[2].Requests["central"] != 8 || c[2].Requests["glp-subscriptions"] != 1 || c[2].Deferred {
		t.Errorf("new: %+v", c[2])
	}
	if got := deferredFirst(c); !slices.Equal(got, []string{"b", "a", "new"}) {
		t.Errorf("order %v", got)
	}
	// No previous run: the stated default per dataset.
	d := estimateCosts([]string{"x"}, ds, nil)
	if d[0].Requests["central"] != 2*defaultRequestsPerDataset || d[0].Requests["glp-subscriptions"] != defaultRequestsPerDataset {
		t.Errorf("defaults: %+v", d[0])
	}
}

func TestShardMessage(t *testing.T) {
	id := strings.Repeat("ab", 16)
	body := `{"run_id":"r1","shard":2,"shards":3,"tenants":["` + id + `"],"datasets":["devices"],"deadline_unix":1795532100}`
	m, err := DecodeShardMessage([]byte(body))
	if err != nil || m.ID() != "2" || m.Deadline().Unix() != 1795532100 {
		t.Fatalf("%+v %v", m, err)
	}
	next, ok := m.Next([]string{id})
	if !ok || next.ID() != "2c1" {
		t.Fatalf("next %+v", next)
	}
	nn, _ := next.Next(nil)
	if nn.ID() != "2c2" {
		t.Errorf("second continuation %s", nn.ID())
	}
	if n, c, ok := parseShardID("12c3"); !ok || n != 12 || c != 3 {
		t.Errorf("parse: %d %d %v", n, c, ok)
	}
	last := ShardMessage{RunID: "r", Shard: 1, Continuation: maxContinuations, Tenants: []string{id}}
	if _, ok := last.Next([]string{id}); ok {
		t.Error("continuation past maxContinuations")
	}
	for name, bad := range map[string]string{
		"unknown field": `{"run_id":"r","shard":1,"shards":1,"tenants":["` + id + `"],"extra":1}`,
		"no tenants":    `{"run_id":"r","shard":1,"shards":1,"tenants":[]}`,
		"bad tenant":    `{"run_id":"r","shard":1,"shards":1,"tenants":["x"]}`,
		"shard range":   `{"run_id":"r","shard":4,"shards":3,"tenants":["` + id + `"]}`,
		"no run":        `{"shard":1,"tenants":["` + id + `"]}`,
		"bad dataset":   `{"run_id":"r","shard":1,"tenants":["` + id + `"],"datasets":["nope"]}`,
		"not json":      `hello`,
	} {
		var me *MessageError
		if _, err := DecodeShardMessage([]byte(bad)); !errors.As(err, &me) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

type fakeSQS struct {
	calls    [][]types.SendMessageBatchRequestEntry
	failOnce map[string]bool // message body substring -> fail first time
	fault    string          // body substring -> sender fault
	callErr  map[int]error   // call number (from 1) -> the call fails
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.calls = append(f.calls, in.Entries)
	if err := f.callErr[len(f.calls)]; err != nil {
		return nil, err
	}
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		body := aws.ToString(e.MessageBody)
		switch {
		case f.fault != "" && strings.Contains(body, f.fault):
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InvalidMessageContents"), SenderFault: true})
		case f.failOnce[body]:
			delete(f.failOnce, body)
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError")})
		default:
			out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id})
		}
	}
	return out, nil
}

func TestSenderBatches(t *testing.T) {
	var msgs []ShardMessage
	for i := 1; i <= 23; i++ {
		msgs = append(msgs, ShardMessage{RunID: "r", Shard: i, Shards: 23, Tenants: []string{"t"}})
	}
	b5, _ := json.Marshal(msgs[4])
	f := &fakeSQS{failOnce: map[string]bool{string(b5): true}}
	s := &Sender{Client: f, QueueURL: "q"}
	if err := s.Send(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	sizes := []int{}
	for _, c := range f.calls {
		sizes = append(sizes, len(c))
	}
	if !slices.Equal(sizes, []int{10, 1, 10, 3}) {
		t.Errorf("batch sizes %v", sizes)
	}
	f = &fakeSQS{fault: `"shard":7,`}
	err := (&Sender{Client: f, QueueURL: "q"}).Send(context.Background(), msgs...)
	var se *SendError
	if !errors.As(err, &se) || len(se.Failed) != 1 || !strings.Contains(se.Failed[0], "shard 7") {
		t.Fatalf("%v", err)
	}
	if len(se.Unsent) != 1 || se.Unsent[0].Shard != 7 {
		t.Fatalf("unsent %+v", se.Unsent)
	}
	// A call failing as a whole: its messages and all later ones are unsent.
	f = &fakeSQS{callErr: map[int]error{2: errors.New("connection reset")}}
	err = (&Sender{Client: f, QueueURL: "q"}).Send(context.Background(), msgs...)
	if !errors.As(err, &se) || se.Err == nil {
		t.Fatalf("%v", err)
	}
	var unsent []int
	for _, m := range se.Unsent {
		unsent = append(unsent, m.Shard)
	}
	if want := []int{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}; !slices.Equal(unsent, want) {
		t.Fatalf("unsent %v, want %v", unsent, want)
	}
}

func TestRetryDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Minute, 1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute,
		4: 8 * time.Minute, 5: 15 * time.Minute, 1000: 15 * time.Minute} {
		if got := retryDelay(n); got != want {
			t.Errorf("retryDelay(%d) = %s, want %s", n, got, want)
		}
	}
}

// deferUnsent writes a deferred manifest for unsent shards only, never over
// a shard's own manifest, and the run then joins.
func TestDeferUnsentJoins(t *testing.T) {
	st := sink.NewMemory()
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	plan := &RunPlan{Version: planVersion, RunID: "run", Datasets: []string{"devices"},
		Shards: []PlannedShard{{ID: "1", Tenants: []string{"a"}}, {ID: "2", Tenants: []string{"b", "c"}}}}
	if err := writePlan(ctx, st, plan); err != nil {
		t.Fatal(err)
	}
	msgs := plan.Messages()
	done := shardManifest("run", "1", now, map[string]collector.Status{"a": collector.StatusOK})
	b, _ := done.Marshal()
	if err := st.Put(ctx, collector.ShardKey("run", "1"), b, "application/json"); err != nil {
		t.Fatal(err)
	}
	// Shard 1 was in a call that failed as a whole but ran after all.
	if err := deferUnsent(ctx, st, msgs, plan.Datasets, now); err != nil {
		t.Fatal(err)
	}
	res, err := tryJoin(ctx, st, "run")
	if err != nil || res.Joined == nil {
		t.Fatalf("join %+v %v", res, err)
	}
	if tt := res.Joined.Totals; tt.Tenants != 3 || tt.TenantsOK != 1 || tt.TenantsDeferred != 2 || res.Joined.Complete {
		t.Fatalf("joined %+v", tt)
	}
}

func shardManifest(run, shard string, finished time.Time, tenants map[string]collector.Status) *collector.Manifest {
	m := &collector.Manifest{Version: collector.ManifestVersion, RunID: run, Shard: shard, Date: "2026-11-24",
		Datasets: []string{"devices"}, StartedAt: finished.Add(-time.Minute), FinishedAt: finished}
	for id, st := range tenants {
		m.Tenants = append(m.Tenants, collector.TenantResult{ID: id, Status: st,
			Datasets: []collector.DatasetResult{{Dataset: "devices", Status: st, APICalls: 2}}})
	}
	m.Summarize()
	return m
}

func TestTryJoinWithContinuation(t *testing.T) {
	ctx := context.Background()
	st := sink.NewMemory()
	run := "20261124T140000Z-abcd0123"
	t0 := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	plan := &RunPlan{Version: planVersion, RunID: run, Datasets: []string{"devices"},
		Shards: []PlannedShard{{ID: "1", Tenants: []string{"a", "b"}}, {ID: "2", Tenants: []string{"c", "d"}}}}
	if err := writePlan(ctx, st, plan); err != nil {
		t.Fatal(err)
	}
	if msgs := plan.Messages(); len(msgs) != 2 || msgs[1].Shard != 2 || msgs[1].Shards != 2 || msgs[1].Tenants[0] != "c" {
		t.Fatalf("messages %+v", msgs)
	}
	put := func(m *collector.Manifest) {
		b, _ := m.Marshal()
		if err := st.Put(ctx, collector.ShardKey(m.RunID, m.Shard), b, ""); err != nil {
			t.Fatal(err)
		}
	}
	put(shardManifest(run, "1", t0.Add(time.Minute), map[string]collector.Status{"a": "ok", "b": "ok"}))
	if res, err := tryJoin(ctx, st, run); err != nil || res.Joined != nil || res.Missing != "2" {
		t.Fatalf("%+v %v", res, err)
	}
	// Shard 2 ran out of time for d and recorded its continuation.
	put(shardManifest(run, "2", t0.Add(2*time.Minute), map[string]collector.Status{"c": "ok", "d": "deferred"}))
	m2 := plan.Messages()[1]
	next, _ := m2.Next([]string{"d"})
	if err := recordContinuation(ctx, st, "2", next); err != nil {
		t.Fatal(err)
	}
	if res, err := tryJoin(ctx, st, run); err != nil || res.Joined != nil || res.Missing != "2c1" {
		t.Fatalf("%+v %v", res, err)
	}
	put(shardManifest(run, "2c1", t0.Add(3*time.Minute), map[string]collector.Status{"d": "ok"}))
	res, err := tryJoin(ctx, st, run)
	if err != nil || res.Joined == nil {
		t.Fatalf("%+v %v", res, err)
	}
	j := res.Joined
	if !j.Complete || j.Totals.Tenants != 4 || j.Totals.TenantsOK != 4 || !slices.Equal(j.Shards, []string{"1", "2", "2c1"}) {
		t.Fatalf("joined %+v", j)
	}
	first, _ := st.Get(ctx, collector.ManifestKey(run))
	if _, err := tryJoin(ctx, st, run); err != nil {
		t.Fatal(err)
	}
	second, _ := st.Get(ctx, collector.ManifestKey(run))
	if !bytes.Equal(first, second) {
		t.Error("joining twice gave different manifests")
	}
	prev, err := Previous(ctx, st)
	if err != nil || prev == nil || prev.RunID != run {
		t.Fatalf("previous %+v %v", prev, err)
	}
	// An older run does not move the pointer back.
	older := shardManifest("20261124T130000Z-00000000", "", t0, map[string]collector.Status{"a": "ok"})
	if err := updateLatest(ctx, st, older); err != nil {
		t.Fatal(err)
	}
	if prev, _ := Previous(ctx, st); prev.RunID != run {
		t.Errorf("pointer moved back to %s", prev.RunID)
	}
	if _, err := tryJoin(ctx, st, "no-such-run"); !errors.Is(err, sink.ErrNotFound) {
		t.Errorf("no plan: %v", err)
	}
}

func TestDeferredManifestAndRunDate(t *testing.T) {
	now := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	msg := &ShardMessage{RunID: "20261124T230000Z-abcd0123", Shard: 3, Continuation: 1, Tenants: []string{"a", "b"}}
	m := deferredManifest(msg, []string{"devices", "aps"}, nil, now)
	if m.Shard != "3c1" || m.Date != "2026-11-24" || m.Totals.TenantsDeferred != 2 || m.Totals.DatasetsDeferred != 4 || m.Complete {
		t.Fatalf("%+v", m)
	}
	if d := runDate("manual-run", now); d != "2026-11-25" {
		t.Errorf("custom id date %s", d)
	}
}

// Shard messages carry tenant names through the plan and continuations;
// names that do not match the tenants are refused.
func TestShardMessageNames(t *testing.T) {
	a, b, c := strings.Repeat("a", 32), strings.Repeat("b", 32), strings.Repeat("c", 32)
	plan := &RunPlan{RunID: "r", Shards: []PlannedShard{{ID: "1", Tenants: []string{a, b, c}}},
		TenantNames: map[string]string{a: "Alpha", b: "Beta", c: "Gamma"}}
	msg := plan.Messages()[0]
	if !slices.Equal(msg.Names, []string{"Alpha", "Beta", "Gamma"}) {
		t.Fatalf("names %v", msg.Names)
	}
	next, ok := msg.Next([]string{c, a})
	if !ok || !slices.Equal(next.Names, []string{"Gamma", "Alpha"}) {
		t.Fatalf("continuation names %v", next.Names)
	}
	body, _ := json.Marshal(next)
	back, err := DecodeShardMessage(body)
	if err != nil || back.TenantNames()[c] != "Gamma" {
		t.Fatalf("round trip: %v %v", back, err)
	}
	bad := msg
	bad.Names = []string{"Alpha"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "1 names for 3 tenants") {
		t.Fatalf("mismatched names: %v", err)
	}
	// Without names in the plan, none in the messages (shards list tenants).
	plan.TenantNames = nil
	if m := plan.Messages()[0]; m.Names != nil || m.TenantNames() != nil {
		t.Fatalf("names %v", m.Names)
	}
}

// TestSenderSizes: a message too big for SQS with its names is sent
// without them; batches stay within SQS's 256 KiB per call.
func TestSenderSizes(t *testing.T) {
	long := strings.Repeat("N", 200)
	var msgs []ShardMessage
	for i := 1; i <= 12; i++ {
		m := ShardMessage{RunID: "r", Shard: i, Shards: 12}
		n := 500 // ~17 KB of ids: 10 of them exceed one call's 256 KiB
		if i == 1 {
			n = maxShardTenants // with 200-byte names: over maxMessageBytes
		}
		for j := range n {
			m.Tenants = append(m.Tenants, fmt.Sprintf("%032x", i*10000+j))
			m.Names = append(m.Names, long)
		}
		msgs = append(msgs, m)
	}
	f := &fakeSQS{}
	if err := (&Sender{Client: f, QueueURL: "q"}).Send(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, call := range f.calls {
		size := 0
		for _, e := range call {
			body := aws.ToString(e.MessageBody)
			size += len(body)
			var m ShardMessage
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatal(err)
			}
			if (m.Shard == 1) != (m.Names == nil) {
				t.Errorf("shard %d: %d names", m.Shard, len(m.Names))
			}
			sent++
		}
		if size > maxBatchBytes || len(call) > batchSize {
			t.Errorf("a call of %d messages, %d bytes", len(call), size)
		}
	}
	if sent != 12 || msgs[0].Names == nil {
		t.Fatalf("sent %d; caller's names dropped: %v", sent, msgs[0].Names == nil)
	}
}
