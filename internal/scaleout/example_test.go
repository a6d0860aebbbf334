package scaleout

import (
	"fmt"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/central"
)

// The figures of docs/scaleout.md: template.yaml's defaults (900 s timeout,
// CENTRALMSP_CONCURRENCY 16, ShardConcurrency 2), no previous run (the
// default of 2 requests per dataset and tenant, 8 datasets) and
// pkg/central's default budgets, with New Central per account (default) or
// per workspace.
func Example_decide() {
	datasets, _ := collector.SelectDatasets()
	fmt.Println("tenants  central    K  decision     shards  run")
	for _, scope := range []central.Scope{central.ScopeAccount, central.ScopeWorkspace} {
		for _, k := range []int{2, 8} {
			for _, n := range []int{100, 1000, 10000} {
				ids := make([]string, n)
				for i := range ids {
					ids[i] = fmt.Sprintf("%032x", i)
				}
				b := central.DefaultBudgets()
				b.SetScope(central.BudgetCentral, scope)
				d := decide(estimateCosts(ids, datasets, nil), planParams{
					Budgets: BudgetsFrom(b), Concurrency: 16, ShardConcurrency: k,
					Available: 900*time.Second - collector.DefaultReserve - collector.DefaultFinishTime,
					ShardTime: 450 * time.Second,
				})
				mode := "in-process"
				if !d.InProcess {
					mode = "sharded"
				}
				fmt.Printf("%7d  %-9s  %d  %-10s  %6d  %s\n", n, scope, k, mode, len(d.Shards), d.Run.Round(time.Minute))
			}
		}
	}
	// Output:
	// tenants  central    K  decision     shards  run
	//     100  account    2  in-process       0  3m0s
	//    1000  account    2  sharded          9  25m0s
	//   10000  account    2  sharded         84  4h10m0s
	//     100  account    8  in-process       0  3m0s
	//    1000  account    8  sharded         34  25m0s
	//   10000  account    8  sharded        334  4h10m0s
	//     100  workspace  2  in-process       0  1m0s
	//    1000  workspace  2  in-process       0  6m0s
	//   10000  workspace  2  sharded         10  30m0s
	//     100  workspace  8  in-process       0  1m0s
	//    1000  workspace  8  in-process       0  6m0s
	//   10000  workspace  8  sharded         10  7m0s
}
