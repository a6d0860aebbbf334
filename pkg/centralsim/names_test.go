package centralsim

import "testing"

// TestTenantNames: documentation-style names replace the generated ones for
// the first tenants only; ids, sizes and the other tenants stay as generated.
func TestTenantNames(t *testing.T) {
	plain := NewUnstartedServer(func(o *Options) { o.Seed = 5; o.Tenants = 4 })
	named := NewUnstartedServer(func(o *Options) {
		o.Seed = 5
		o.Tenants = 4
		o.TenantNames = []string{"", "The Wandwright Academy"}
	})
	a, b := plain.Tenants(), named.Tenants()
	if b[1].Name != "The Wandwright Academy" {
		t.Fatalf("tenant 1 is %q", b[1].Name)
	}
	for i := range a {
		if a[i].HexID != b[i].HexID || a[i].Devices != b[i].Devices {
			t.Errorf("tenant %d changed beyond its name: %+v vs %+v", i, a[i], b[i])
		}
		if i != 1 && a[i].Name != b[i].Name {
			t.Errorf("tenant %d renamed: %q vs %q", i, a[i].Name, b[i].Name)
		}
	}
}
