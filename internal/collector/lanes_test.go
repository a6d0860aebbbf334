package collector

import (
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

// glpFirstRT holds a tenant's first New Central request until one of its
// GLP requests has been sent: an engine that collects a tenant's datasets
// strictly one after another (New Central's first) never gets there, and
// after a generous safety delay every New Central request fails at once.
type glpFirstRT struct {
	next    http.RoundTripper
	once    sync.Once
	glpSeen chan struct{}
	gaveUp  atomic.Bool
}

func (g *glpFirstRT) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/devices/") || strings.HasPrefix(p, "/subscriptions/"):
		g.once.Do(func() { close(g.glpSeen) })
	case strings.HasPrefix(p, centralsim.CentralPrefix+"/"):
		if g.gaveUp.Load() {
			return nil, errors.New("no GLP request while New Central's was held")
		}
		select {
		case <-g.glpSeen:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(10 * time.Second):
			g.gaveUp.Store(true)
			return nil, errors.New("no GLP request while New Central's was held")
		}
	}
	return g.next.RoundTrip(r)
}

// TestTenantAPIsRunSideBySide: a tenant's GLP datasets do not wait for its
// New Central datasets (each API's budget paces its own lane), so a tenant
// takes as long as its slowest API, not the sum of them.
func TestTenantAPIsRunSideBySide(t *testing.T) {
	rt := &glpFirstRT{glpSeen: make(chan struct{})}
	env := newSimEnvRT(t, []int{20}, func(_ *centralsim.Server, next http.RoundTripper) http.RoundTripper {
		rt.next = next
		return rt
	})
	m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: sink.NewMemory(), RunID: "lanes"})
	if err != nil {
		t.Fatal(err)
	}
	tr := m.Tenants[0]
	for _, d := range tr.Datasets {
		if d.Status != StatusOK {
			t.Errorf("dataset %s: %s %+v", d.Dataset, d.Status, d.Error)
		}
	}
	if len(tr.Datasets) != len(selectedDefaults(t)) {
		t.Errorf("%d dataset results, want %d", len(tr.Datasets), len(selectedDefaults(t)))
	}
	for i, d := range selectedDefaults(t) {
		if i < len(tr.Datasets) && tr.Datasets[i].Dataset != d {
			t.Errorf("result %d is %s, want %s: results keep the datasets' order", i, tr.Datasets[i].Dataset, d)
		}
	}
}

func selectedDefaults(t *testing.T) []string {
	t.Helper()
	ds, err := SelectDatasets()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	return names
}
