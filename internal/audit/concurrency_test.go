package audit

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// barrierStore blocks every Get until n of them wait at once, as slow
// storage would keep that many tenants' audits waiting together.
type barrierStore struct {
	mu      sync.Mutex
	n, seen int
	all     chan struct{}
	// timeout ends a wait that never ends (the audit's context is not
	// cancelled by the caller's).
	timeout context.Context
}

func (b *barrierStore) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	b.mu.Lock()
	if b.seen++; b.seen == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return nil, ErrNotFound
	case <-b.timeout.Done():
		return nil, b.timeout.Err()
	}
}

// TestAuditsWaitForStorageTogether: more tenants than cores wait for
// storage at the same time, so slow storage does not serialise the audit.
func TestAuditsWaitForStorageTogether(t *testing.T) {
	n := runtime.GOMAXPROCS(0) + 2
	// Failure detection only: the barrier opens at once when it works.
	timeout, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st := &barrierStore{n: n, all: make(chan struct{}), timeout: timeout}
	a, err := New(Options{Sink: sink.NewMemory(), Store: st, RunID: "r", Date: "2026-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range n {
		tn := msp.Tenant{ID: string(rune('a' + i)), Name: "t"}
		a.OnDatasetStart(tn, "devices")
		a.OnItem(tn, "devices", []byte(`{"serialNumber":"SN1","status":"ONLINE"}`))
		tr := &collector.TenantResult{ID: tn.ID, Datasets: []collector.DatasetResult{{Dataset: "devices", Status: collector.StatusOK}}}
		if err := a.OnTenantDone(ctx, tn, tr); err != nil {
			t.Fatal(err)
		}
	}
	a.Wait()
	if st.seen < n {
		t.Fatalf("%d Gets", st.seen)
	}
	for _, ta := range a.Summary().Tenants {
		if len(ta.Errors) != 0 {
			t.Fatalf("tenant %s: %v (the audits did not wait together)", ta.TenantID, ta.Errors)
		}
	}
}
