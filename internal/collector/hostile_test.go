package collector

import (
	"context"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// dupMSP lists every tenant of the wrapped MSP and then repeats some, the
// way a broken or hostile tenant list might (same id, other spellings).
type dupMSP struct {
	MSP
	again func([]msp.Tenant) []msp.Tenant
}

func (d dupMSP) Tenants(ctx context.Context) iter.Seq2[msp.Tenant, error] {
	return func(yield func(msp.Tenant, error) bool) {
		var all []msp.Tenant
		for t, err := range d.MSP.Tenants(ctx) {
			if err != nil {
				yield(t, err)
				return
			}
			all = append(all, t)
		}
		for _, t := range append(all, d.again(all)...) {
			if !yield(t, nil) {
				return
			}
		}
	}
}

// dashed is a 32-hex id in upper-case UUID form.
func dashed(id string) string {
	u := strings.ToUpper(id)
	return u[:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:]
}

// TestRunDuplicateTenants: a tenant listed twice is collected once, its
// object matches its manifest entry, and the duplicate is counted.
func TestRunDuplicateTenants(t *testing.T) {
	env := newSimEnv(t, []int{3, 5, 2})
	tenants := tenantsOf(t, env.msp)
	src := dupMSP{MSP: FromMSP(env.msp), again: func(all []msp.Tenant) []msp.Tenant {
		a := all[1]
		b := all[1]
		b.ID, b.WorkspaceID, b.Name = "", dashed(all[1].ID), "impostor"
		n, _ := msp.NormalizeTenantID(b.WorkspaceID)
		b.ID = n
		return []msp.Tenant{a, b}
	}}
	root := t.TempDir()
	m, err := Run(t.Context(), Config{MSP: src, Sink: sink.NewDir(root), Concurrency: 3, RunID: "run-dup", Datasets: []string{"devices"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tenants) != len(tenants) || m.Totals.Tenants != len(tenants) || m.Totals.DuplicateTenants != 2 {
		t.Fatalf("%d tenant results, totals %+v; want %d and 2 duplicates", len(m.Tenants), m.Totals, len(tenants))
	}
	if !m.Complete {
		t.Fatalf("not complete: %+v", m.Totals)
	}
	for _, tn := range tenants {
		tr := m.Tenant(tn.ID)
		if tr == nil || tr.Name != tn.Name {
			t.Fatalf("tenant %s: %+v (the first occurrence's name must win)", tn.ID, tr)
		}
		d := tr.Dataset("devices")
		raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(d.Key)))
		if err != nil {
			t.Fatal(err)
		}
		checkObject(t, raw, env.sim.Records(tn.ID, "devices"), tn, "run-dup", d)
	}
}
