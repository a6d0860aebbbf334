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

// holdRT holds every request whose path has the prefix held until one
// whose path has the prefix until has been sent: an engine that collects a
// tenant's datasets one after another (held's first) never gets there, and
// after a generous safety delay every held request fails at once.
type holdRT struct {
	next        http.RoundTripper
	held, until string
	once        sync.Once
	seen        chan struct{}
	gaveUp      atomic.Bool
}

func (g *holdRT) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, g.until):
		g.once.Do(func() { close(g.seen) })
	case strings.HasPrefix(p, g.held):
		if g.gaveUp.Load() {
			return nil, errors.New("held request: the other dataset's request never came")
		}
		select {
		case <-g.seen:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(10 * time.Second):
			g.gaveUp.Store(true)
			return nil, errors.New("held request: the other dataset's request never came")
		}
	}
	return g.next.RoundTrip(r)
}

// TestTenantDatasetsRunSideBySide: a tenant's datasets do not wait for one
// another, across APIs (GLP's for New Central's) and within one (the budget
// paces the requests, not the previous dataset's answer), so a tenant takes
// as long as its budget-paced requests, not the sum of its answers' times.
func TestTenantDatasetsRunSideBySide(t *testing.T) {
	for _, tc := range []struct{ held, until string }{
		{centralsim.CentralPrefix + "/network-monitoring/", "/devices/"},
		{centralsim.CentralPrefix + "/network-monitoring/v1/devices", centralsim.CentralPrefix + "/network-monitoring/v1/sites-health"},
	} {
		t.Run(tc.until, func(t *testing.T) { testSideBySide(t, tc.held, tc.until) })
	}
}

func testSideBySide(t *testing.T, held, until string) {
	rt := &holdRT{held: held, until: until, seen: make(chan struct{})}
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

// TestSpreadAPIs: a tenant's datasets start with each API spread over the
// order, so the first ones started draw on different budgets.
func TestSpreadAPIs(t *testing.T) {
	ds, err := SelectDatasets()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range spreadAPIs(ds) {
		got = append(got, string(ds[i].App)[:1]+":"+ds[i].Name)
	}
	want := "n:devices n:device-inventory g:glp-devices n:aps n:switches n:gateways g:subscriptions n:sites-health"
	if strings.Join(got, " ") != want {
		t.Errorf("order %v,\nwant %s", got, want)
	}
}
