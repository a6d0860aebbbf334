package msp_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// hostileTenants fronts the simulator with a tenant list served by list
// (offset and limit as requested); everything else is the simulator's.
func hostileTenants(t *testing.T, list func(offset, limit int) any, fns ...func(*msp.Options)) (*fixture, *atomic.Int64) {
	t.Helper()
	sim := newSim(t)
	var calls atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == centralsim.EndpointMSPTenants && r.URL.Query().Get("filter") == "" {
			calls.Add(1)
			off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
			lim, _ := strconv.Atoi(r.URL.Query().Get("limit"))
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(list(off, lim))
			return
		}
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	creds := simCreds(t, sim, false)
	creds.Unified.GLPBaseURL = front.URL
	creds.Unified.BaseURL = front.URL + centralsim.CentralPrefix
	return setupWith(t, sim, creds, fns...), &calls
}

func hexID(i int) string { return fmt.Sprintf("%032x", i+1) }

func tenantPage(ids ...string) map[string]any {
	items := []map[string]any{}
	for _, id := range ids {
		items = append(items, map[string]any{"id": id, "workspaceName": "T " + id[len(id)-4:]})
	}
	return map[string]any{"items": items, "count": len(items)}
}

// A server that ignores offset and never sends a total: the list stops
// with a *central.PaginationError on the second page, not after the
// client's 10,000-page guard.
func TestTenantsOffsetIgnored(t *testing.T) {
	page := make([]string, 300)
	for i := range page {
		page[i] = hexID(i)
	}
	f, calls := hostileTenants(t, func(int, int) any { return tenantPage(page...) })
	n := 0
	var err error
	for _, e := range f.msp.Tenants(t.Context()) {
		if e != nil {
			err = e
			break
		}
		n++
	}
	var pe *central.PaginationError
	if !errors.As(err, &pe) || calls.Load() != 2 || n != 300 {
		t.Fatalf("err %v after %d tenants and %d calls; want a PaginationError after 300 and 2", err, n, calls.Load())
	}
}

// A page of only ids listed before is the same trap with different first
// items (e.g. a reordered repeat): stopped by the no-new-ids rule.
func TestTenantsPageWithNoNewIDs(t *testing.T) {
	f, calls := hostileTenants(t, func(off, _ int) any {
		ids := make([]string, 300)
		for i := range ids {
			ids[i] = hexID((i + off/300) % 300) // a rotation of the same 300
		}
		return tenantPage(ids...)
	})
	var err error
	n := 0
	for _, e := range f.msp.Tenants(t.Context()) {
		if e != nil {
			err = e
			break
		}
		n++
	}
	var pe *central.PaginationError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "no tenant not listed before") || n != 300 || calls.Load() != 2 {
		t.Fatalf("err %v after %d tenants, %d calls", err, n, calls.Load())
	}
}

// A list that keeps bringing new tenants stops at MaxTenantPages.
func TestTenantsPageCap(t *testing.T) {
	f, calls := hostileTenants(t, func(off, lim int) any {
		ids := make([]string, lim)
		for i := range ids {
			ids[i] = hexID(off + i)
		}
		return tenantPage(ids...)
	}, func(o *msp.Options) { o.MaxTenantPages = 5 })
	var err error
	for _, e := range f.msp.Tenants(t.Context()) {
		if e != nil {
			err = e
		}
	}
	var pe *central.PaginationError
	if !errors.As(err, &pe) || calls.Load() != 5 {
		t.Fatalf("err %v after %d calls; want a PaginationError after 5", err, calls.Load())
	}
	if msp.DefaultMaxTenantPages*300 < 20000 || msp.DefaultMaxTenantPages > 1000 {
		t.Errorf("DefaultMaxTenantPages = %d", msp.DefaultMaxTenantPages)
	}
}

// Repeated ids (any spelling) are yielded once, the first occurrence wins,
// the repeat is counted; long names are cut.
func TestTenantsDuplicatesAndLongNames(t *testing.T) {
	a, b := hexID(1), hexID(2)
	upper := strings.ToUpper(a)
	dashedB := b[:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:]
	long := strings.Repeat("ü", 1000)
	f, _ := hostileTenants(t, func(off, _ int) any {
		if off > 0 {
			return tenantPage()
		}
		p := tenantPage(a, b, upper, dashedB, a)
		items := p["items"].([]map[string]any)
		items[0]["workspaceName"] = long
		return p
	})
	var got []msp.Tenant
	for tn, err := range f.msp.Tenants(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tn)
	}
	if len(got) != 2 || got[0].ID != a || got[1].ID != b || f.msp.DuplicateTenants() != 3 {
		t.Fatalf("got %+v, %d duplicates", got, f.msp.DuplicateTenants())
	}
	if len(got[0].Name) > termsafe.MaxName || !strings.HasPrefix(long, got[0].Name) {
		t.Errorf("name of %d bytes", len(got[0].Name))
	}
	if !strings.Contains(f.logs.String(), "duplicate tenant") {
		t.Error("the duplicate was not logged")
	}
}
