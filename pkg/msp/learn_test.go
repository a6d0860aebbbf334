package msp_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// limits are the simulator's documented limits with New Central at n per
// second for scope.
func limits(n int, scope centralsim.Scope) func(*centralsim.Options) {
	return func(o *centralsim.Options) {
		o.RateLimits = centralsim.DefaultRateLimits()
		o.RateLimits.Central = centralsim.Limit{Requests: n, Window: time.Second, Scope: scope}
	}
}

// TestListingDoesNotSlowExchanges: the tenant listing answers with its own
// family's window (300/min, 299 left); that window neither paces the other
// GLP families nor the token exchanges, which draw on the token endpoint's
// budget.
func TestListingDoesNotSlowExchanges(t *testing.T) {
	f := setup(t, []func(*centralsim.Options){func(o *centralsim.Options) { o.Tenants = 40 }, limits(8, centralsim.ScopeAccount)},
		func(o *msp.Options) { o.Budgets = central.DefaultBudgets() })
	ctx := t.Context()
	var ids []string
	for tn, err := range f.msp.Tenants(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	if len(ids) != 40 {
		t.Fatalf("%d tenants listed", len(ids))
	}
	b, ws := f.msp.Client().Budgets(), f.msp.WorkspaceID()
	for _, p := range []struct{ method, path string }{
		{http.MethodGet, "/workspaces/v1/msp-tenants"},
		{http.MethodPost, "/authorization/v2/oauth2/" + ids[0] + "/token"},
		{http.MethodGet, "/audit-log/v1/logs"},
	} {
		if r := b.Rate(central.AppGLP, p.method, p.path, ws, ws); r != rate.Inf {
			t.Errorf("after the listing, %s %s runs at %v/s, want unlimited", p.method, p.path, r)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		wg.Go(func() {
			if _, err := f.msp.ExchangeTenantToken(ctx, id); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := f.sim.Stats()
	if st.Exchanges != 40 || st.RateLimited != 0 {
		t.Errorf("exchanges %d, 429s %d; want 40 and 0", st.Exchanges, st.RateLimited)
	}
}

// centralLoad makes n New Central calls spread over the first k tenants,
// concurrently.
func centralLoad(t *testing.T, f *fixture, k, n int) {
	t.Helper()
	ctx := t.Context()
	var conns []*msp.TenantConn
	for _, tn := range f.sim.Tenants()[:k] {
		c, err := f.msp.Tenant(ctx, msp.ByID(tn.HexID))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			for j := i; j < n; j += len(conns) {
				resp, err := c.Client().Command(ctx, central.Request{Path: "network-monitoring/v1/devices", Params: map[string]any{"limit": 1}})
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("call: %v %v", resp, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCentralLearnsHigherLimit: a client that assumes 8/s against a server
// that says X-RateLimit-Limit: 10 moves to just under 10 (9.5/s with burst
// 1), logs it once, meets no 429, and sees that the windows are shared.
func TestCentralLearnsHigherLimit(t *testing.T) {
	f := setup(t, []func(*centralsim.Options){limits(10, centralsim.ScopeAccount)},
		func(o *msp.Options) { o.Budgets = central.DefaultBudgets() })
	centralLoad(t, f, 4, 40)
	b := f.msp.Client().Budgets()
	if s, _ := b.Spec(central.BudgetCentral); s.Rate != 9.5 || s.Scope != central.ScopeAccount {
		t.Errorf("central budget %v/s per %s, want 9.5/s per account", s.Rate, s.Scope)
	}
	if n := f.sim.Stats().RateLimited; n != 0 {
		t.Errorf("%d answers 429, want 0", n)
	}
	if n := strings.Count(f.logs.String(), "rate limit learned from the server"); n != 1 {
		t.Errorf("learned limit logged %d times, want once", n)
	}
	rep := report(t, b)
	if rep.DetectedScope != "account" || rep.Limit != 10 || len(rep.FirstAnswers) == 0 {
		t.Errorf("report %+v, want the account scope detected with limit 10 and first answers", rep)
	}
}

// TestCentralObeysLowerLimit: a server that says 5 is obeyed from its first
// window: the budget drops to 4.5/s and no request is answered 429.
func TestCentralObeysLowerLimit(t *testing.T) {
	f := setup(t, []func(*centralsim.Options){limits(5, centralsim.ScopeAccount)},
		func(o *msp.Options) { o.Budgets = central.DefaultBudgets() })
	centralLoad(t, f, 3, 20)
	if s, _ := f.msp.Client().Budgets().Spec(central.BudgetCentral); s.Rate != 4.5 {
		t.Errorf("central budget %v/s, want 4.5", s.Rate)
	}
	if n := f.sim.Stats().RateLimited; n != 0 {
		t.Errorf("%d answers 429, want 0", n)
	}
}

// TestCentralScopeDetected: windows that count per workspace are recognised
// (the budget becomes per workspace and says so), unless the user pinned the
// scope, which wins; the manifest evidence is reported either way.
func TestCentralScopeDetected(t *testing.T) {
	for _, pinned := range []bool{false, true} {
		budgets := central.DefaultBudgets()
		if pinned {
			budgets.SetScope(central.BudgetCentral, central.ScopeAccount)
		}
		f := setup(t, []func(*centralsim.Options){limits(10, centralsim.ScopeWorkspace)},
			func(o *msp.Options) { o.Budgets = budgets })
		centralLoad(t, f, 4, 40)
		rep := report(t, budgets)
		want := central.ScopeWorkspace
		if pinned {
			want = central.ScopeAccount
		}
		if s, _ := budgets.Spec(central.BudgetCentral); s.Scope != want || rep.DetectedScope != "workspace" {
			t.Errorf("pinned %v: scope %s, detected %q; want %s and workspace", pinned, s.Scope, rep.DetectedScope, want)
		}
		if !pinned && (rep.ScopeSource != "detected" || !strings.Contains(f.logs.String(), "rate-limit scope detected")) {
			t.Errorf("detection not reported: %+v", rep)
		}
		if pinned && rep.ScopeSource != "configured" {
			t.Errorf("pinned scope reported as %q", rep.ScopeSource)
		}
		if n := f.sim.Stats().RateLimited; n != 0 {
			t.Errorf("pinned %v: %d answers 429, want 0", pinned, n)
		}
	}
}

func report(t *testing.T, b *central.Budgets) central.BudgetReport {
	t.Helper()
	for _, r := range b.Report() {
		if r.Name == central.BudgetCentral {
			return r
		}
	}
	t.Fatal("no report for the central budget")
	return central.BudgetReport{}
}
