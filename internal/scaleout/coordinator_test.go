package scaleout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// fakeRunner is an in-memory Runner: its sessions list tenants and "run"
// by writing a manifest with every selected tenant ok, except those in
// defer (deferred, once each) and when fail is set (nothing collected).
type fakeRunner struct {
	store   sink.Sink
	tenants []collector.ListedTenant
	listErr error
	fail    bool
	// failIf, if set, fails the runs it accepts as fail does.
	failIf func(collector.Config) bool
	// deferAll defers these tenants in every run.
	deferAll map[string]bool

	mu     sync.Mutex
	defer_ map[string]bool
	opened []int // the share of every Open
	runs   []collector.Config
}

func newFakeRunner(store sink.Sink, n int) *fakeRunner {
	r := &fakeRunner{store: store, defer_: map[string]bool{}}
	for i := range n {
		r.tenants = append(r.tenants, collector.ListedTenant{Tenant: msp.Tenant{ID: fmt.Sprintf("%032x", i+1), Name: fmt.Sprintf("tenant %d", i+1)}})
	}
	return r
}

func (r *fakeRunner) Open(ctx context.Context, share int) (Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opened = append(r.opened, share)
	return fakeSession{r}, nil
}

type fakeSession struct{ r *fakeRunner }

func (s fakeSession) List(ctx context.Context) ([]collector.ListedTenant, error) {
	return s.r.tenants, s.r.listErr
}

func (s fakeSession) Close(ctx context.Context) {}

func (s fakeSession) Run(ctx context.Context, cfg collector.Config) (*collector.Manifest, error) {
	r := s.r
	r.mu.Lock()
	r.runs = append(r.runs, cfg)
	fail := r.fail || r.failIf != nil && r.failIf(cfg)
	ids := cfg.Tenants
	if len(ids) == 0 && cfg.Shard != collector.MSPShard {
		for _, lt := range r.tenants {
			ids = append(ids, lt.Tenant.ID)
		}
	}
	m := &collector.Manifest{Version: collector.ManifestVersion, RunID: cfg.RunID, Shard: cfg.Shard, Date: cfg.Date,
		Datasets: []string{"devices"}, StartedAt: time.Unix(1000, 0), FinishedAt: time.Unix(1001, 0)}
	if cfg.Shard == collector.MSPShard { // the run's MSP-level part: no tenant
		st := collector.StatusOK
		if fail {
			st = collector.StatusFailed
		}
		m.Datasets = nil
		m.MSP = []collector.MSPDatasetResult{{DatasetResult: collector.DatasetResult{Dataset: "tenant-health", Status: st}, Mapped: len(cfg.Listed)}}
	}
	for _, id := range ids {
		st := collector.StatusOK
		switch {
		case fail:
			st = collector.StatusFailed
		case r.deferAll[id]:
			st = collector.StatusDeferred
		case r.defer_[id]:
			st = collector.StatusDeferred
			delete(r.defer_, id)
		}
		m.Tenants = append(m.Tenants, collector.TenantResult{ID: id, Status: st,
			Datasets: []collector.DatasetResult{{Dataset: "devices", Status: st, APICalls: 2}}})
	}
	r.mu.Unlock()
	if cfg.Observer != nil {
		for i := range m.Tenants {
			cfg.Observer.OnTenantDone(ctx, msp.Tenant{ID: m.Tenants[i].ID}, &m.Tenants[i])
		}
	}
	m.Summarize()
	if err := collector.WriteManifest(ctx, r.store, m); err != nil {
		return m, err
	}
	if fail {
		return m, collector.ErrNothingCollected
	}
	return m, nil
}

// faultyQueue is a LocalQueue that refuses the shards in refuse and
// reports a backlog of waiting messages.
type faultyQueue struct {
	LocalQueue
	refuse  map[string]bool
	waiting int
}

func (q *faultyQueue) Send(ctx context.Context, msgs ...ShardMessage) error {
	var unsent []ShardMessage
	for _, m := range msgs {
		if q.refuse[m.ID()] {
			unsent = append(unsent, m)
			continue
		}
		if err := q.LocalQueue.Send(ctx, m); err != nil {
			return err
		}
	}
	if len(unsent) > 0 {
		return &SendError{QueueURL: "local", Failed: []string{"refused"}, Unsent: unsent}
	}
	return nil
}

func (q *faultyQueue) Backlog(ctx context.Context) (int, int, error) {
	if q.waiting > 0 {
		return q.waiting, 0, nil
	}
	return q.LocalQueue.Backlog(ctx)
}

var testNow = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

func newTestCoordinator(store sink.Sink, r Runner, q Queue) *Coordinator {
	return &Coordinator{Store: store, Runner: r, Queue: q, Datasets: []string{"devices"}, Budgets: testBudgets,
		Concurrency: 4, ShardConcurrency: 2, Now: func() time.Time { return testNow }}
}

// drain runs every queued message through RunShard.
func drain(t *testing.T, c *Coordinator, q *LocalQueue) {
	t.Helper()
	for _, err := range q.Drain(context.Background(), 1, c.RunShard) {
		t.Errorf("shard failed: %v", err)
	}
}

func TestScheduleInProcess(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 3)
	out, err := newTestCoordinator(store, r, nil).Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Mode != ModeInProcess {
		t.Errorf("mode = %q, want %q", out.Mode, ModeInProcess)
	}
	if out.Manifest == nil || out.Manifest.Totals.TenantsOK != 3 {
		t.Errorf("manifest = %+v, want 3 tenants ok", out.Manifest)
	}
	if got := r.runs[0].Listed; len(got) != 3 {
		t.Errorf("the engine got %d listed tenants, want 3 (no second listing)", len(got))
	}
	prev, err := Previous(context.Background(), store)
	if err != nil || prev == nil || prev.RunID != out.RunID {
		t.Errorf("latest points at %v (%v), want run %s", prev, err, out.RunID)
	}
}

func TestScheduleDeferredFirst(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 3)
	r.defer_[r.tenants[2].Tenant.ID] = true
	c := newTestCoordinator(store, r, nil)
	if _, err := c.Schedule(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Schedule(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := r.runs[1].Tenants
	if len(got) == 0 || got[0] != r.tenants[2].Tenant.ID {
		t.Errorf("second run's tenants = %v, want the deferred %s first", got, r.tenants[2].Tenant.ID)
	}
}

func TestScheduleSkipsWhileQueued(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 3)
	out, err := newTestCoordinator(store, r, &faultyQueue{waiting: 3}).Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Mode != ModeSkipped {
		t.Errorf("mode = %q, want %q", out.Mode, ModeSkipped)
	}
	if len(r.opened) != 0 {
		t.Errorf("the MSP was opened %d times, want 0", len(r.opened))
	}
}

func TestScheduleListFailsRunsToRecord(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 0)
	r.listErr = errors.New("listing refused")
	r.fail = true
	_, err := newTestCoordinator(store, r, nil).Schedule(context.Background())
	if !errors.Is(err, collector.ErrNothingCollected) {
		t.Errorf("err = %v, want ErrNothingCollected", err)
	}
	if len(r.runs) != 1 || r.runs[0].Listed != nil {
		t.Errorf("runs = %d (listed %v), want one run that lists itself", len(r.runs), r.runs)
	}
}

func TestScheduleShards(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 5)
	q := &LocalQueue{}
	c := newTestCoordinator(store, r, q)
	c.ShardSize = 2
	out, err := c.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Mode != ModeSharded {
		t.Errorf("mode = %q, want %q", out.Mode, ModeSharded)
	}
	if out.Shards != 3 {
		t.Errorf("shards = %d, want 3", out.Shards)
	}
	if out.Plan != planKey(out.RunID) {
		t.Errorf("plan = %q, want %q", out.Plan, planKey(out.RunID))
	}
	if out.Tenants != 5 {
		t.Errorf("tenants = %d, want 5", out.Tenants)
	}
	if n, _, _ := q.Backlog(context.Background()); n != 3 {
		t.Errorf("queued = %d, want 3", n)
	}
	if _, err := readPlan(context.Background(), store, out.RunID); err != nil {
		t.Errorf("plan: %v", err)
	}
}

func TestRunShardJoins(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 5)
	q := &LocalQueue{}
	c := newTestCoordinator(store, r, q)
	c.ShardSize = 2
	var joined []*collector.Manifest
	c.Joined = func(ctx context.Context, m *collector.Manifest) { joined = append(joined, m) }
	out, err := c.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	drain(t, c, q)
	if len(joined) != 1 {
		t.Fatalf("joined %d times, want once", len(joined))
	}
	if got := joined[0].Totals.TenantsOK; got != 5 {
		t.Errorf("joined tenants ok = %d, want 5", got)
	}
	if !slices.Equal(r.opened[1:], []int{2, 2, 2}) {
		t.Errorf("shard shares = %v, want 2 for each of 3 shards", r.opened[1:])
	}
	for _, cfg := range r.runs {
		if len(cfg.Listed) != len(cfg.Tenants) {
			t.Errorf("shard %s: %d listed for %d tenants, want the names carried", cfg.Shard, len(cfg.Listed), len(cfg.Tenants))
		}
	}
	if _, err := store.Get(context.Background(), collector.ManifestKey(out.RunID)); err != nil {
		t.Errorf("joined manifest: %v", err)
	}
}

func TestRunShardContinues(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 4)
	r.defer_[r.tenants[0].Tenant.ID] = true
	q := &LocalQueue{}
	c := newTestCoordinator(store, r, q)
	c.ShardSize = 2
	var joined *collector.Manifest
	c.Joined = func(ctx context.Context, m *collector.Manifest) { joined = m }
	out, err := c.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	drain(t, c, q)
	if joined == nil {
		t.Fatal("the run was not joined")
	}
	if got := joined.Totals.TenantsOK; got != 4 {
		t.Errorf("joined tenants ok = %d, want 4", got)
	}
	keys, _ := store.List(context.Background(), "runs/"+out.RunID+"/continuations/")
	if len(keys) != 1 {
		t.Errorf("continuations = %v, want one", keys)
	}
}

func TestRunShardAfterDeadline(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 1)
	c := newTestCoordinator(store, r, &LocalQueue{})
	msg := ShardMessage{RunID: "r1", Shard: 1, Shards: 1, Tenants: []string{r.tenants[0].Tenant.ID}, DeadlineUnix: testNow.Add(-time.Minute).Unix()}
	body, _ := json.Marshal(msg)
	if err := c.RunShard(context.Background(), body); err != nil {
		t.Fatal(err)
	}
	if len(r.opened) != 0 {
		t.Errorf("the MSP was opened %d times, want 0", len(r.opened))
	}
	m, err := readManifest(context.Background(), store, collector.ShardKey("r1", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Totals.TenantsDeferred != 1 {
		t.Errorf("deferred = %d, want 1", m.Totals.TenantsDeferred)
	}
}

func TestRunShardFailedAsWhole(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 1)
	r.fail = true
	c := newTestCoordinator(store, r, &LocalQueue{})
	msg := ShardMessage{RunID: "r1", Shard: 1, Shards: 1, Tenants: []string{r.tenants[0].Tenant.ID}}
	body, _ := json.Marshal(msg)
	if err := c.RunShard(context.Background(), body); !errors.Is(err, collector.ErrNothingCollected) {
		t.Errorf("err = %v, want ErrNothingCollected (the message is retried)", err)
	}
}

func TestScheduleUnsentShardIsDeferred(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 5)
	q := &faultyQueue{refuse: map[string]bool{"2": true}}
	c := newTestCoordinator(store, r, q)
	c.ShardSize = 2
	out, err := c.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Shards != 2 {
		t.Errorf("shards sent = %d, want 2", out.Shards)
	}
	if len(out.Warnings) != 1 {
		t.Errorf("warnings = %q, want one", out.Warnings)
	}
	m, err := readManifest(context.Background(), store, collector.ShardKey(out.RunID, "2"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Totals.TenantsDeferred == 0 {
		t.Errorf("unsent shard's manifest defers no tenant")
	}
}

// TestShardedRunReadsMSPLevelOnce: a sharded run's MSP-level datasets
// (tenant-health) are read once, by the scheduling invocation with the whole
// tenant list, never by a shard; the join expects that part, keeps its
// result, and a failed read leaves the tenants' data and makes the run
// incomplete.
func TestShardedRunReadsMSPLevelOnce(t *testing.T) {
	for _, fail := range []bool{false, true} {
		store := sink.NewMemory()
		r := newFakeRunner(store, 5)
		r.failIf = func(cfg collector.Config) bool { return fail && cfg.Shard == collector.MSPShard }
		q := &LocalQueue{}
		c := newTestCoordinator(store, r, q)
		c.Datasets = []string{"devices", "tenant-health"}
		c.ShardSize = 2
		var joined *collector.Manifest
		c.Joined = func(ctx context.Context, m *collector.Manifest) { joined = m }
		out, err := c.Schedule(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		drain(t, c, q)
		var mspRuns int
		for _, cfg := range r.runs {
			switch {
			case cfg.Shard == collector.MSPShard:
				mspRuns++
				if !slices.Equal(cfg.Datasets, []string{"tenant-health"}) || len(cfg.Listed) != 5 {
					t.Errorf("fail %v: MSP part datasets %v with %d listed, want tenant-health with all 5", fail, cfg.Datasets, len(cfg.Listed))
				}
			case slices.Contains(cfg.Datasets, "tenant-health"):
				t.Errorf("fail %v: shard %s was given tenant-health", fail, cfg.Shard)
			}
		}
		if mspRuns != 1 {
			t.Errorf("fail %v: MSP part ran %d times, want once", fail, mspRuns)
		}
		if joined == nil {
			t.Fatalf("fail %v: not joined", fail)
		}
		if len(joined.MSP) != 1 || joined.MSP[0].Dataset != "tenant-health" {
			t.Fatalf("fail %v: joined MSP results %+v, want tenant-health", fail, joined.MSP)
		}
		if got, want := joined.MSP[0].Status, map[bool]collector.Status{false: collector.StatusOK, true: collector.StatusFailed}[fail]; got != want {
			t.Errorf("fail %v: tenant-health %s, want %s", fail, got, want)
		}
		if joined.Totals.TenantsOK != 5 || joined.Complete == fail {
			t.Errorf("fail %v: tenants ok %d, complete %v; want 5 and %v", fail, joined.Totals.TenantsOK, joined.Complete, !fail)
		}
		if fail && len(out.Warnings) == 0 {
			t.Errorf("the failed MSP part is not in the schedule's warnings")
		}
	}
}
