package scaleout

import (
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// A shard message that repeats a tenant id (in any spelling) is decoded
// with the id once, its first name kept, and the repeat counted: the shard
// runs instead of failing as a whole.
func TestDecodeShardMessageDuplicates(t *testing.T) {
	a, b := strings.Repeat("ab", 16), strings.Repeat("cd", 16)
	dashedA := strings.ToUpper(a[:8] + "-" + a[8:12] + "-" + a[12:16] + "-" + a[16:20] + "-" + a[20:])
	long := strings.Repeat("x", 5000)
	body := `{"run_id":"r1","shard":1,"shards":1,"tenants":["` + a + `","` + b + `","` + dashedA + `","` + b + `"],` +
		`"names":["` + long + `","B","impostor","B2"]}`
	m, err := DecodeShardMessage([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tenants) != 2 || m.Tenants[0] != a || m.Tenants[1] != b || m.Duplicates != 2 {
		t.Fatalf("tenants %v, %d duplicates", m.Tenants, m.Duplicates)
	}
	names := m.TenantNames()
	if len(names[a]) != 256 || names[b] != "B" {
		t.Fatalf("names: %d bytes, %q", len(names[a]), names[b])
	}
	next, _ := m.Next([]string{a})
	if len(next.Names[0]) > 256 {
		t.Errorf("continuation name of %d bytes", len(next.Names[0]))
	}
}

// Planning a list with a repeated id gives the tenant one cost, so it is in
// exactly one shard.
func TestCostsDuplicates(t *testing.T) {
	a, b := strings.Repeat("ab", 16), strings.Repeat("cd", 16)
	ds, _ := collector.SelectDatasets()
	costs := estimateCosts([]string{a, b, a, strings.ToUpper(b)}, ds, nil)
	if len(costs) != 2 || costs[0].ID != a || costs[1].ID != b {
		t.Fatalf("costs %+v", costs)
	}
	seen := map[string]int{}
	for _, s := range split(costs, planParams{MaxTenants: 1}) {
		for _, id := range s.Tenants {
			seen[id]++
		}
	}
	if seen[a] != 1 || seen[b] != 1 {
		t.Fatalf("shards hold %v", seen)
	}
}
