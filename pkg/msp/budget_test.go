package msp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// TestExchangesDrawOnTheSharedGLPBudget: token exchanges are GLP requests and
// wait on the MSP's shared budget like every call, so a refresher exchanging
// many tenants at once cannot exceed it. A budget that admits one exchange
// and refills never lets the second tenant's exchange out: the call ends with
// a *central.RateLimitError (the context's deadline is nearer than the refill)
// and the simulator sees a single exchange.
func TestExchangesDrawOnTheSharedGLPBudget(t *testing.T) {
	budgets := central.NewBudgets(central.BudgetSpec{
		Name: "glp-token", App: central.AppGLP, PathPrefix: "/authorization", Rate: 0, Burst: 1, Scope: central.ScopeAccount,
	})
	f := setup(t, []func(*centralsim.Options){func(o *centralsim.Options) { o.Tenants = 2 }},
		func(o *msp.Options) { o.Budgets = budgets })
	tenants := f.sim.Tenants()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := f.msp.ExchangeTenantToken(ctx, tenants[0].HexID); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err := f.msp.ExchangeTenantToken(ctx, tenants[1].HexID)
	var rle *central.RateLimitError
	if !errors.As(err, &rle) || rle.Budget != "glp-token" {
		t.Fatalf("second exchange: %v, want a *central.RateLimitError of the shared budget", err)
	}
	if n := f.sim.Stats().Exchanges; n != 1 {
		t.Fatalf("simulator saw %d exchanges, want 1", n)
	}
}
