package apibudget

import (
	"testing"

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/pkg/central"
)

func TestBudgetsDefaults(t *testing.T) {
	got, _ := Config{}.Budgets(1).Spec(central.BudgetCentral)
	want, _ := central.DefaultBudgets().Spec(central.BudgetCentral)
	if got.Rate != want.Rate {
		t.Errorf("central rate = %v, want %v", got.Rate, want.Rate)
	}
	if got.Burst != want.Burst {
		t.Errorf("central burst = %d, want %d", got.Burst, want.Burst)
	}
	if got.Scope != want.Scope {
		t.Errorf("central scope = %v, want %v", got.Scope, want.Scope)
	}
}

func TestBudgetsRatesAndScopes(t *testing.T) {
	b := Config{CentralRate: 50, GLPDevicesRate: 120, CentralScope: "workspace", GLPScope: "account"}.Budgets(1)
	c, _ := b.Spec(central.BudgetCentral)
	if c.Rate != 50 {
		t.Errorf("central rate = %v, want 50", c.Rate)
	}
	if c.Burst != 1 {
		t.Errorf("central burst = %d, want 1", c.Burst)
	}
	if c.Scope != central.ScopeWorkspace {
		t.Errorf("central scope = %v, want workspace", c.Scope)
	}
	d, _ := b.Spec(central.BudgetGLPDevices)
	if d.Rate != rate.Limit(2) {
		t.Errorf("glp devices rate = %v, want 2/s", d.Rate)
	}
	if d.Scope != central.ScopeAccount {
		t.Errorf("glp devices scope = %v, want account", d.Scope)
	}
}

func TestBudgetsShare(t *testing.T) {
	b := Config{CentralRate: 8}.Budgets(4)
	c, _ := b.Spec(central.BudgetCentral)
	if c.Rate != 2 {
		t.Errorf("central rate with share 4 = %v, want 2", c.Rate)
	}
	d, _ := b.Spec(central.BudgetGLPDevices)
	if want := rate.Limit(160.0 / 60); d.Rate != want {
		t.Errorf("per-workspace glp devices rate = %v, want %v (not shared)", d.Rate, want)
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{CentralScope: "tenant"}).Validate(); err == nil {
		t.Error("scope tenant accepted")
	}
	if err := (Config{CentralRate: -1}).Validate(); err == nil {
		t.Error("negative rate accepted")
	}
}
