package collector

import (
	"context"
	"iter"

	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// MSP is what the engine needs from the MSP: the tenant list and a client
// per tenant. FromMSP adapts a *msp.MSP; tests may supply their own.
type MSP interface {
	// Tenants lists every tenant of the MSP.
	Tenants(ctx context.Context) iter.Seq2[msp.Tenant, error]
	// TenantClient returns a client scoped to the tenant (32-hex id),
	// obtaining its token (from the token cache or by exchange) first.
	TenantClient(ctx context.Context, tenantID string) (*central.Client, error)
	// CloseTenant releases the tenant's client once the engine is done.
	CloseTenant(tenantID string) error
}

// TokenStats are cumulative token figures; an MSP that also implements
// TokenStatser has the run's difference recorded in the manifest.
type TokenStats struct {
	Exchanges   int64 // token exchange requests
	CacheHits   int64 // tenant tokens served by the token cache
	CacheMisses int64 // tenant tokens that needed an exchange
}

// TokenStatser is implemented by MSPs that count their token work.
type TokenStatser interface {
	TokenStats() TokenStats
}

// BudgetReporter is implemented by MSPs whose rate-limit budgets report
// what they learned from the server (limits, scope and its evidence); the
// report goes into the manifest.
type BudgetReporter interface {
	BudgetReport() []central.BudgetReport
}

// MSPClienter is implemented by MSPs that give the MSP's own client (MSP
// token): the MSP-level datasets need it. Without it they are skipped.
type MSPClienter interface {
	MSPClient() *central.Client
}

// MSPClient implements MSPClienter.
func (a mspAdapter) MSPClient() *central.Client { return a.m.Client() }

func (a mspAdapter) BudgetReport() []central.BudgetReport {
	return a.m.Client().Budgets().Report()
}

// FromMSP adapts a *msp.MSP to the engine. Its TokenStats reports msp's
// Exchanges and StoreHits; as msp does not count store misses, CacheMisses
// is the number of exchange requests (so retried exchanges count twice).
func FromMSP(m *msp.MSP) MSP { return mspAdapter{m} }

type mspAdapter struct{ m *msp.MSP }

func (a mspAdapter) Tenants(ctx context.Context) iter.Seq2[msp.Tenant, error] {
	return a.m.Tenants(ctx)
}

func (a mspAdapter) TenantClient(ctx context.Context, tenantID string) (*central.Client, error) {
	conn, err := a.m.Tenant(ctx, msp.ByID(tenantID))
	if err != nil {
		return nil, err
	}
	return conn.Client(), nil
}

func (a mspAdapter) DuplicateTenants() int { return a.m.DuplicateTenants() }

func (a mspAdapter) CloseTenant(tenantID string) error { return a.m.CloseTenant(tenantID) }

func (a mspAdapter) TokenStats() TokenStats {
	s := a.m.Stats()
	return TokenStats{Exchanges: s.Exchanges, CacheHits: s.StoreHits, CacheMisses: s.Exchanges}
}
