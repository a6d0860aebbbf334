// Package apibudget is the one budget configuration of every entry point:
// the Lambda function fills it from its environment, the collect, demo and
// bench commands from their flags, and Budgets turns it into the shared
// limiter registry of pkg/central.
package apibudget

import (
	"fmt"
	"math"
	"strings"

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/pkg/central"
)

// Config adjusts pkg/central's default budgets. Zero values keep the
// defaults.
type Config struct {
	// CentralRate is New Central's requests/s.
	CentralRate float64
	// GLPDevicesRate and GLPSubscriptionsRate are GLP's requests/min.
	GLPDevicesRate, GLPSubscriptionsRate float64
	// CentralScope and GLPScope say who shares the New Central budget and
	// the GLP inventory budgets: "account" (the MSP and all its tenants)
	// or "workspace" (each tenant).
	CentralScope, GLPScope string
}

// ParseScope reads "account" or "workspace" ("" is the default scope).
func ParseScope(v string) (central.Scope, bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return 0, false, nil
	case "account":
		return central.ScopeAccount, true, nil
	case "workspace":
		return central.ScopeWorkspace, true, nil
	}
	return 0, false, fmt.Errorf("%q: want account or workspace", v)
}

// Validate checks the rates and scopes.
func (c Config) Validate() error {
	for _, r := range []float64{c.CentralRate, c.GLPDevicesRate, c.GLPSubscriptionsRate} {
		if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			return fmt.Errorf("rate %g: want a positive number", r)
		}
	}
	for _, s := range []string{c.CentralScope, c.GLPScope} {
		if _, _, err := ParseScope(s); err != nil {
			return err
		}
	}
	return nil
}

// Budgets returns the budgets of one invocation or command. A rate keeps
// its default burst: the servers count fixed windows, and a burst on top of
// the rate would overrun one of them. share > 1 divides every
// account-scoped rate (and burst) by share, for a shard invocation that runs
// alongside share-1 others of the same account.
func (c Config) Budgets(share int) *central.Budgets {
	b := central.DefaultBudgets()
	if s, ok, _ := ParseScope(c.CentralScope); ok {
		b.SetScope(central.BudgetCentral, s)
	}
	if s, ok, _ := ParseScope(c.GLPScope); ok {
		b.SetScope(central.BudgetGLPDevices, s)
		b.SetScope(central.BudgetGLPSubscriptions, s)
	}
	setRate := func(name string, perSecond float64) {
		if s, ok := b.Spec(name); ok && perSecond > 0 {
			b.SetRate(name, rate.Limit(perSecond), max(s.Burst, 1))
		}
	}
	setRate(central.BudgetCentral, c.CentralRate)
	setRate(central.BudgetGLPDevices, c.GLPDevicesRate/60)
	setRate(central.BudgetGLPSubscriptions, c.GLPSubscriptionsRate/60)
	if share > 1 {
		for _, n := range []string{central.BudgetCentral, central.BudgetGLPDevices, central.BudgetGLPSubscriptions, central.BudgetGLP} {
			s, ok := b.Spec(n)
			if !ok || s.Scope != central.ScopeAccount || s.Rate == rate.Inf {
				continue
			}
			b.SetRate(n, s.Rate/rate.Limit(share), max(s.Burst/share, 1))
		}
	}
	return b
}
