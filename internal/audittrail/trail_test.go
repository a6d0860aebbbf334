package audittrail

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// TestExactlyOnceAcrossRuns: events that arrive between runs, several at
// one instant straddling page boundaries and some at the watermark's own
// instant, are each written once; a run with nothing new writes nothing.
func TestExactlyOnceAcrossRuns(t *testing.T) {
	e := newEnv(t, 3)
	snk, store := sink.NewMemory(), newMemStore()
	tn := e.tenants[1]
	// Seven events at one instant in the middle of the log: pages of 3
	// split them.
	mid := time.Date(2026, 9, 30, 20, 0, 0, 500_000_000, time.UTC)
	for range 7 {
		e.sim.AppendAuditLogs(tn.HexID, centralsim.AuditLogEntry{CreatedAt: mid})
	}
	res := run(t, e.config("r1", snk, store))
	for _, tr := range res.Tenants {
		if tr.Status != StatusWritten || tr.Err != "" {
			t.Fatalf("run 1: %+v", tr)
		}
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, memObjects(snk)))

	// New events: five at one new instant, and two at the instant of the
	// tenant's watermark (which already holds the events seen there).
	wm := mustWatermark(t, store, tn.HexID)
	e.clk.Advance(time.Hour)
	for range 5 {
		e.sim.AppendAuditLogs(tn.HexID, centralsim.AuditLogEntry{})
	}
	e.sim.AppendAuditLogs(e.tenants[0].HexID, centralsim.AuditLogEntry{CreatedAt: mustWatermark(t, store, e.tenants[0].HexID).At},
		centralsim.AuditLogEntry{CreatedAt: mustWatermark(t, store, e.tenants[0].HexID).At})
	res = run(t, e.config("r2", snk, store))
	st := statuses(res)
	if st[tn.HexID] != StatusWritten || st[e.tenants[0].HexID] != StatusWritten || st[e.tenants[2].HexID] != StatusUpToDate {
		t.Fatalf("run 2: %v", st)
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, memObjects(snk)))
	if got := mustWatermark(t, store, tn.HexID); !got.At.After(wm.At) || len(got.IDs) != 5 || got.Pending != nil {
		t.Fatalf("watermark after run 2: %+v", got)
	}
	w0 := mustWatermark(t, store, e.tenants[0].HexID)
	if len(w0.IDs) < 3 {
		t.Fatalf("tenant 0's watermark at the same instant should hold the old and new ids: %v", w0.IDs)
	}

	res = run(t, e.config("r3", snk, store))
	for _, tr := range res.Tenants {
		if tr.Status != StatusUpToDate || tr.Records != 0 {
			t.Fatalf("run 3: %+v", tr)
		}
	}
	if n := len(snk.Aborted()); n == 0 {
		t.Fatal("up-to-date runs should abort their empty objects")
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, memObjects(snk)))
}

func mustWatermark(t *testing.T, s Store, tenant string) *Watermark {
	t.Helper()
	b, _, err := s.Get(context.Background(), WatermarkKey(tenant))
	if err != nil {
		t.Fatal(err)
	}
	w, err := DecodeWatermark(b, "test", tenant)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestArrivalsDuringRun: events arriving while a tenant's pages are read
// (newest first, so they shift the offsets) — including several at one
// instant and some at the instant of the newest event already read — are
// written once, by this run or the next.
func TestArrivalsDuringRun(t *testing.T) {
	e := newEnv(t, 2)
	snk, store := sink.NewMemory(), newMemStore()
	tn := e.tenants[0]
	newest := e.sim.Records(tn.HexID, centralsim.DatasetAuditLogs)[0]
	var top event
	_ = jsonUnmarshal(newest, &top)
	topAt, _ := time.Parse(time.RFC3339Nano, top.CreatedAt)
	var pages atomic.Int32
	e.setRT(func(r *http.Request, tenant string, next http.RoundTripper) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if tenant == tn.HexID && pages.Add(1) == 2 {
			// After page 2: three events at one new instant and two at the
			// instant of the newest event (read on page 1). Five, not a
			// multiple of the page size: a shift by whole pages serves an
			// earlier page again, which paging refuses as a server that
			// ignores offset (safe: the run writes nothing and retries).
			for range 3 {
				e.sim.AppendAuditLogs(tn.HexID, centralsim.AuditLogEntry{})
			}
			e.sim.AppendAuditLogs(tn.HexID, centralsim.AuditLogEntry{CreatedAt: topAt}, centralsim.AuditLogEntry{CreatedAt: topAt})
		}
		return resp, err
	})
	res := run(t, e.config("r1", snk, store))
	if st := statuses(res); st[tn.HexID] != StatusWritten {
		t.Fatalf("run 1: %+v", res.Tenants)
	}
	e.setRT(nil)
	e.clk.Advance(time.Minute)
	res = run(t, e.config("r2", snk, store))
	if st := statuses(res); st[tn.HexID] != StatusWritten {
		t.Fatalf("run 2 should write the arrivals: %+v", res.Tenants)
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, memObjects(snk)))
}

// TestFaultMidPages: a tenant whose third page fails writes nothing and
// keeps its watermark; the next run writes everything once.
func TestFaultMidPages(t *testing.T) {
	e := newEnv(t, 3)
	snk, store := sink.NewMemory(), newMemStore()
	victim := e.tenants[2].HexID
	e.setRT(func(r *http.Request, tenant string, next http.RoundTripper) (*http.Response, error) {
		if tenant == victim && r.URL.Query().Get("offset") == "6" {
			return failResponse(r), nil
		}
		return next.RoundTrip(r)
	})
	res := run(t, e.config("r1", snk, store))
	st := statuses(res)
	if st[victim] != StatusFailed || st[e.tenants[0].HexID] != StatusWritten {
		t.Fatalf("run 1: %v", st)
	}
	if _, _, err := store.Get(context.Background(), WatermarkKey(victim)); !errors.Is(err, ErrNotExist) {
		t.Fatalf("the failed tenant's watermark moved: %v", err)
	}
	got := written(t, memObjects(snk))
	if len(got[victim]) != 0 {
		t.Fatalf("the failed tenant has %d events written", len(got[victim]))
	}
	e.setRT(nil)
	run(t, e.config("r2", snk, store))
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, memObjects(snk)))
}

// failStore fails the n-th Put that matches (a crash at that point).
type failStore struct {
	Store
	mu    sync.Mutex
	match func(body []byte, version string) bool
	left  int
}

func (f *failStore) Put(ctx context.Context, key string, body []byte, match string) (string, error) {
	f.mu.Lock()
	hit := f.left > 0 && f.match(body, match)
	if hit {
		f.left--
	}
	f.mu.Unlock()
	if hit {
		return "", errors.New("injected crash before the watermark write")
	}
	return f.Store.Put(ctx, key, body, match)
}

func isCommit(body []byte, _ string) bool { return !strings.Contains(string(body), `"pending"`) }

// failSink fails the first Commit (a crash after the claim).
type failSink struct {
	sink.Sink
	left atomic.Int32
}

type failObject struct {
	sink.Object
	s *failSink
}

func (f *failSink) Create(ctx context.Context, key, ct string) (sink.Object, error) {
	o, err := f.Sink.Create(ctx, key, ct)
	return failObject{o, f}, err
}

func (o failObject) Commit(ctx context.Context) (sink.Info, error) {
	if o.s.left.Add(-1) >= 0 {
		_ = o.Object.Abort(ctx)
		return sink.Info{}, errors.New("injected crash before the object commit")
	}
	return o.Object.Commit(ctx)
}

// TestCrashAfterRecordsBeforeWatermark: the objects are written but the
// watermark commit fails (left Pending); events keep arriving; the next
// run rewrites exactly the pending range to the same key, commits, then
// reads on. Nothing is lost or written twice.
func TestCrashAfterRecordsBeforeWatermark(t *testing.T) {
	e := newEnv(t, 2)
	snk, mem := sink.NewMemory(), newMemStore()
	store := &failStore{Store: mem, match: isCommit, left: 2}
	res := run(t, e.config("r1", snk, store))
	for _, tr := range res.Tenants {
		if tr.Status != StatusFailed || len(tr.Keys) != 1 {
			t.Fatalf("run 1: %+v", tr)
		}
	}
	keys1 := len(snk.Keys())
	for _, tn := range e.tenants {
		if w := mustWatermark(t, mem, tn.HexID); w.Pending == nil {
			t.Fatalf("tenant %s: no pending range after the crash", tn.HexID)
		}
	}
	e.clk.Advance(time.Hour)
	e.sim.AppendAuditLogs(e.tenants[0].HexID, centralsim.AuditLogEntry{}, centralsim.AuditLogEntry{})
	res = run(t, e.config("r2", snk, store))
	for _, tr := range res.Tenants {
		if !tr.Replayed || tr.Status == StatusFailed {
			t.Fatalf("run 2: %+v", tr)
		}
	}
	if st := statuses(res); st[e.tenants[0].HexID] != StatusWritten || st[e.tenants[1].HexID] != StatusUpToDate {
		t.Fatalf("run 2: %v", st)
	}
	if n := len(snk.Keys()); n != keys1+1 {
		t.Fatalf("run 2 should rewrite the %d pending objects and add one: %d objects", keys1, n)
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, memObjects(snk)))
}

// TestCrashAfterClaimBeforeObject: the claim is stored but the object
// commit fails; the next run writes the claimed range.
func TestCrashAfterClaimBeforeObject(t *testing.T) {
	e := newEnv(t, 1)
	snk, store := sink.NewMemory(), newMemStore()
	fs := &failSink{Sink: snk}
	fs.left.Store(1)
	res := run(t, e.config("r1", fs, store))
	if res.Tenants[0].Status != StatusFailed || len(snk.Keys()) != 0 {
		t.Fatalf("run 1: %+v, %d objects", res.Tenants[0], len(snk.Keys()))
	}
	res = run(t, e.config("r2", fs, store))
	if tr := res.Tenants[0]; !tr.Replayed || tr.Status != StatusUpToDate {
		t.Fatalf("run 2: %+v", tr)
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, memObjects(snk)))
}

// barrierStore holds every claim until n runs have reached theirs, so
// that overlapping runs read the same watermark version.
type barrierStore struct {
	Store
	wg sync.WaitGroup
}

func (b *barrierStore) Put(ctx context.Context, key string, body []byte, match string) (string, error) {
	if strings.Contains(string(body), `"pending"`) {
		b.wg.Done()
		b.wg.Wait()
	}
	return b.Store.Put(ctx, key, body, match)
}

// TestOverlappingRuns: two runs read the same watermark and the same new
// events at once; one claims the range, the other loses the conditional
// write, aborts its object and writes nothing.
func TestOverlappingRuns(t *testing.T) {
	e := newEnv(t, 1)
	snk, mem := sink.NewMemory(), newMemStore()
	run(t, e.config("r0", snk, mem))
	e.clk.Advance(time.Hour)
	e.sim.AppendAuditLogs(e.tenants[0].HexID, centralsim.AuditLogEntry{}, centralsim.AuditLogEntry{}, centralsim.AuditLogEntry{})
	bs := &barrierStore{Store: mem}
	bs.wg.Add(2)
	var wg sync.WaitGroup
	results := make([]*Result, 2)
	for i := range 2 {
		wg.Go(func() {
			res, err := Run(context.Background(), e.config([]string{"ra", "rb"}[i], snk, bs))
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	got := []Status{results[0].Tenants[0].Status, results[1].Tenants[0].Status}
	if !(got[0] == StatusWritten && got[1] == StatusLostRace || got[1] == StatusWritten && got[0] == StatusLostRace) {
		t.Fatalf("statuses %v", got)
	}
	if len(snk.Aborted()) == 0 {
		t.Fatal("the loser's object was not aborted")
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, memObjects(snk)))
}

// TestAPIv2beta1 reads the v2beta1 endpoint when asked.
func TestAPIv2beta1(t *testing.T) {
	e := newEnv(t, 2)
	snk, store := sink.NewMemory(), newMemStore()
	cfg := e.config("r1", snk, store)
	cfg.API = APIv2beta1
	res := run(t, cfg)
	for _, tr := range res.Tenants {
		if tr.Status != StatusWritten {
			t.Fatalf("%+v", tr)
		}
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogsV2), written(t, memObjects(snk)))
	if w := mustWatermark(t, store, e.tenants[0].HexID); w.API != APIv2beta1 {
		t.Fatalf("api %q", w.API)
	}
}

// TestLookback: a first run starts Lookback before now.
func TestLookback(t *testing.T) {
	e := newEnv(t, 1)
	snk, store := sink.NewMemory(), newMemStore()
	cfg := e.config("r1", snk, store)
	cfg.Lookback = 2 * time.Hour // the newest generated events are 12h old
	if tr := run(t, cfg).Tenants[0]; tr.Status != StatusUpToDate {
		t.Fatalf("%+v", tr)
	}
	e.sim.AppendAuditLogs(e.tenants[0].HexID, centralsim.AuditLogEntry{CreatedAt: e.clk.Now().Add(-time.Hour)})
	if tr := run(t, cfg).Tenants[0]; tr.Status != StatusWritten || tr.Records != 1 || !tr.From.At.Equal(e.clk.Now().Add(-2*time.Hour)) {
		t.Fatalf("%+v", tr)
	}
}

// gateSink holds the first Commit until released (a run stalled after its
// claim).
type gateSink struct {
	sink.Sink
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

type gateObject struct {
	sink.Object
	g *gateSink
}

func (g *gateSink) Create(ctx context.Context, key, ct string) (sink.Object, error) {
	o, err := g.Sink.Create(ctx, key, ct)
	return gateObject{o, g}, err
}

func (o gateObject) Commit(ctx context.Context) (sink.Info, error) {
	o.g.once.Do(func() {
		close(o.g.reached)
		<-o.g.release
	})
	return o.Object.Commit(ctx)
}

// TestPendingClaimOfLiveRun: run A claims a range and stalls before its
// object commit; run B finds the claim, writes the range to the same key
// and commits; A then commits the same object and loses the watermark
// write harmlessly. Every event is written once.
func TestPendingClaimOfLiveRun(t *testing.T) {
	e := newEnv(t, 1)
	snk, store := sink.NewMemory(), newMemStore()
	g := &gateSink{Sink: snk, reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan *Result)
	go func() {
		res, err := Run(context.Background(), e.config("ra", g, store))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-g.reached
	resB := run(t, e.config("rb", snk, store))
	if tr := resB.Tenants[0]; !tr.Replayed || tr.Status != StatusUpToDate {
		t.Fatalf("run B: %+v", tr)
	}
	close(g.release)
	resA := <-done
	if tr := resA.Tenants[0]; tr.Status != StatusWritten || len(tr.Keys) != 1 || tr.Keys[0] != resB.Tenants[0].Keys[0] {
		t.Fatalf("run A: %+v, run B keys %v", tr, resB.Tenants[0].Keys)
	}
	if w := mustWatermark(t, store, e.tenants[0].HexID); w.Pending != nil || w.RunID != "rb" {
		t.Fatalf("watermark %+v", w)
	}
	exact(t, e.truth(t, centralsim.DatasetAuditLogs), written(t, memObjects(snk)))
}
