package scaleout

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// fakeAudit records the engine runs it observed and the ones it finished.
type fakeAudit struct {
	mu       sync.Mutex
	started  []collector.Config
	seen     map[string][]string // run/shard -> tenants done
	finished []string
	startErr error
}

type fakeObserver struct {
	a   *fakeAudit
	run string
}

func (o fakeObserver) OnDatasetStart(msp.Tenant, string)          {}
func (o fakeObserver) OnItem(msp.Tenant, string, json.RawMessage) {}
func (o fakeObserver) OnTenantDone(ctx context.Context, t msp.Tenant, tr *collector.TenantResult) error {
	o.a.mu.Lock()
	defer o.a.mu.Unlock()
	o.a.seen[o.run] = append(o.a.seen[o.run], t.ID)
	return nil
}

func (a *fakeAudit) hook(ctx context.Context, cfg collector.Config) (collector.ItemObserver, AuditFinish, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.startErr != nil {
		return nil, nil, a.startErr
	}
	a.started = append(a.started, cfg)
	run := cfg.RunID + "/" + cfg.Shard
	return fakeObserver{a: a, run: run}, func(ctx context.Context, man *collector.Manifest) (*AuditOutcome, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if man == nil || man.RunID != cfg.RunID || man.Shard != cfg.Shard {
			return nil, errors.New("finished with another run's manifest")
		}
		a.finished = append(a.finished, run)
		return &AuditOutcome{Summary: "audit/run=" + run + "/summary.json", Report: "audit/run=" + run + "/report.html", Changes: len(a.seen[run])}, nil
	}, nil
}

func TestAuditInProcess(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 3)
	a := &fakeAudit{seen: map[string][]string{}}
	c := newTestCoordinator(store, r, nil)
	c.Audit = a.hook
	out, err := c.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.started) != 1 || a.started[0].Date != "2026-11-24" || a.started[0].RunID != out.RunID {
		t.Fatalf("audits started = %+v, want one for run %s dated 2026-11-24", a.started, out.RunID)
	}
	if r.runs[0].Date != "2026-11-24" {
		t.Errorf("the engine ran with date %q, want the audit's", r.runs[0].Date)
	}
	if got := a.seen[out.RunID+"/"]; len(got) != 3 {
		t.Errorf("observed tenants = %v, want 3", got)
	}
	if out.Audit == nil || out.Audit.Report != "audit/run="+out.RunID+"//report.html" || out.Audit.Changes != 3 {
		t.Errorf("outcome audit = %+v", out.Audit)
	}
	if len(a.finished) != 1 {
		t.Errorf("finished = %v, want once", a.finished)
	}
}

func TestAuditEveryShard(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 5)
	q := &LocalQueue{}
	a := &fakeAudit{seen: map[string][]string{}}
	c := newTestCoordinator(store, r, q)
	c.ShardSize = 2
	c.Audit = a.hook
	out, err := c.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	drain(t, c, q)
	slices.Sort(a.finished)
	want := []string{out.RunID + "/1", out.RunID + "/2", out.RunID + "/3"}
	if !slices.Equal(a.finished, want) {
		t.Errorf("audits finished = %v, want %v", a.finished, want)
	}
	n := 0
	for _, ids := range a.seen {
		n += len(ids)
	}
	if n != 5 {
		t.Errorf("observed %d tenants over the shards, want 5", n)
	}
}

func TestAuditStartFailsRunsUnaudited(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 2)
	a := &fakeAudit{seen: map[string][]string{}, startErr: errors.New("no baseline store")}
	c := newTestCoordinator(store, r, nil)
	c.Audit = a.hook
	out, err := c.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.Manifest == nil || out.Manifest.Totals.TenantsOK != 2 || out.Audit != nil {
		t.Errorf("manifest %+v audit %+v, want the run collected and no audit", out.Manifest, out.Audit)
	}
	if len(out.Warnings) == 0 {
		t.Errorf("no warning for the audit that did not start")
	}
}

// waitingObserver has background work the coordinator waits for before the
// finish budget starts.
type waitingObserver struct {
	fakeObserver
	waited *bool
}

func (o waitingObserver) Wait() { *o.waited = true }

func TestAuditFinishAfterObserverWait(t *testing.T) {
	store := sink.NewMemory()
	r := newFakeRunner(store, 2)
	a := &fakeAudit{seen: map[string][]string{}}
	var waited, waitedFirst bool
	c := newTestCoordinator(store, r, nil)
	c.Audit = func(ctx context.Context, cfg collector.Config) (collector.ItemObserver, AuditFinish, error) {
		obs, finish, err := a.hook(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return waitingObserver{fakeObserver: obs.(fakeObserver), waited: &waited}, func(ctx context.Context, man *collector.Manifest) (*AuditOutcome, error) {
			waitedFirst = waited
			return finish(ctx, man)
		}, nil
	}
	out, err := c.Schedule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !waitedFirst || out.Audit == nil {
		t.Fatalf("finish called before the observer's Wait (waited %v), audit %+v", waitedFirst, out.Audit)
	}
}
