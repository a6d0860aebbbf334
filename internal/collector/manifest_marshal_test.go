package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// BenchmarkManifestMarshal encodes the manifest of a 1,000-tenant run with
// eight datasets each, as the collector does once at the end of every run.
func BenchmarkManifestMarshal(b *testing.B) {
	m := &Manifest{Version: ManifestVersion, RunID: "run", Datasets: []string{"a"}}
	for t := range 1000 {
		tr := TenantResult{ID: fmt.Sprintf("%032x", t), Name: fmt.Sprintf("Tenant %d", t), Status: StatusOK}
		for d := range 8 {
			tr.Datasets = append(tr.Datasets, DatasetResult{
				Dataset: fmt.Sprintf("dataset-%d", d), Status: StatusOK,
				Key:     fmt.Sprintf("inventory/dataset=dataset-%d/dt=2026-12-03/tenant=%032x/run=20261203T000000Z.ndjson.gz", d, t),
				Records: 300, Pages: 3, Bytes: 30000, SHA256: fmt.Sprintf("%064x", t*8+d), DurationMS: 120, APICalls: 3,
			})
		}
		m.Tenants = append(m.Tenants, tr)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := m.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

// TestManifestMarshalIndented: the manifest stays the indented JSON, with
// a final newline and HTML characters unescaped, that an encoder with
// SetIndent writes; people read it and tools diff it.
func TestManifestMarshalIndented(t *testing.T) {
	m := &Manifest{Version: ManifestVersion, RunID: "run <&>", Datasets: []string{"devices"},
		Tenants: []TenantResult{{ID: "t1", Name: "Café <A&B>", Status: StatusOK,
			Datasets: []DatasetResult{{Dataset: "devices", Status: StatusOK, Key: "k", Records: 2}}}}}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("Marshal:\n%s\nwant:\n%s", got, want.Bytes())
	}
}
