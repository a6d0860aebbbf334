package centralsim

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestMutateDeterministicAndApplied: the same seed gives the same changes,
// and Records reflect them.
func TestMutateDeterministicAndApplied(t *testing.T) {
	mk := func() (*Server, []Change) {
		s := NewUnstartedServer(func(o *Options) { o.Seed = 5; o.Tenants = 3; o.DevicesPerTenant = func(i int) int { return 50 } })
		return s, s.Mutate(MutateOptions{Add: 2, Remove: 2, Move: 1, Refirmware: 1, Renew: 1, End: 1, Expire: 1})
	}
	s1, c1 := mk()
	_, c2 := mk()
	if !slices.Equal(c1, c2) || len(c1) == 0 {
		t.Fatalf("not deterministic or empty: %d vs %d", len(c1), len(c2))
	}
	var creates, deletes int
	for _, c := range c1 {
		recs := s1.Records(c.TenantHexID, c.Dataset)
		found := false
		for _, r := range recs {
			var m map[string]any
			_ = json.Unmarshal(r, &m)
			if m[naturalKey(c.Dataset)] == c.Key {
				found = true
				if c.Type == "UPDATE" && renderVal(m[c.Field]) != c.New {
					t.Errorf("%+v: record has %v", c, m[c.Field])
				}
			}
		}
		switch c.Type {
		case "CREATE":
			creates++
			if !found {
				t.Errorf("created record missing: %+v", c)
			}
		case "DELETE":
			deletes++
			if found {
				t.Errorf("deleted record present: %+v", c)
			}
		}
	}
	if creates != 3*2*4 || deletes < 3*2*3 {
		t.Errorf("%d creates, %d deletes", creates, deletes)
	}
}
