package collector

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// countObserver counts the items it sees per tenant and dataset.
type countObserver struct {
	mu     sync.Mutex
	items  map[string]int64
	starts map[string]int
	done   map[string]Status
	panic  bool
}

func (o *countObserver) OnDatasetStart(t msp.Tenant, ds string) {
	o.mu.Lock()
	o.starts[t.ID+"/"+ds]++
	o.mu.Unlock()
}

func (o *countObserver) OnItem(t msp.Tenant, ds string, item json.RawMessage) {
	if !json.Valid(item) {
		panic("invalid item")
	}
	o.mu.Lock()
	o.items[t.ID+"/"+ds]++
	o.mu.Unlock()
}

func (o *countObserver) OnTenantDone(ctx context.Context, t msp.Tenant, tr *TenantResult) error {
	o.mu.Lock()
	o.done[t.ID] = tr.Status
	o.mu.Unlock()
	if o.panic {
		panic("observer panic")
	}
	return nil
}

// TestObserverSeesEveryItem: the observer sees each item written, once,
// and each tenant's end; a panicking observer does not fail the tenant.
func TestObserverSeesEveryItem(t *testing.T) {
	env := newSimEnv(t, []int{0, 30, 1200})
	for _, panics := range []bool{false, true} {
		obs := &countObserver{items: map[string]int64{}, starts: map[string]int{}, done: map[string]Status{}, panic: panics}
		man, err := Run(context.Background(), Config{MSP: FromMSP(env.msp), Sink: sink.NewMemory(), Observer: obs, Concurrency: 2})
		if err != nil || !man.Complete {
			t.Fatalf("run: %v complete=%v", err, man.Complete)
		}
		for _, tr := range man.Tenants {
			if obs.done[tr.ID] != StatusOK {
				t.Errorf("tenant %s: observer saw end %q", tr.ID, obs.done[tr.ID])
			}
			for _, d := range tr.Datasets {
				k := tr.ID + "/" + d.Dataset
				if obs.items[k] != d.Records || obs.starts[k] != 1 {
					t.Errorf("%s: observer saw %d items, %d starts; %d records", k, obs.items[k], obs.starts[k], d.Records)
				}
			}
		}
	}
}
