package costmodel

import (
	"fmt"
	"io"
	"os"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// FromManifest derives a tenant's share of a run from a run manifest
// (internal/collector.Manifest): API calls, bytes and objects per collected
// tenant, and the run's duration per tenant as the collector time. Tenants
// that were deferred or skipped do not count. The refresher's time is not in
// the manifest and keeps the typical value.
func FromManifest(m *collector.Manifest, source string) (Run, error) {
	t := m.Totals
	tenants := t.TenantsOK + t.TenantsFailed
	if tenants <= 0 {
		return Run{}, fmt.Errorf("costmodel: manifest %s: no collected tenants (ok or failed) to measure", source)
	}
	ms := t.DurationMS
	if ms <= 0 && !m.FinishedAt.IsZero() {
		ms = m.FinishedAt.Sub(m.StartedAt).Milliseconds()
	}
	if ms <= 0 {
		return Run{}, fmt.Errorf("costmodel: manifest %s: no run duration", source)
	}
	n := float64(tenants)
	r := TypicalRun()
	r.Source = fmt.Sprintf("manifest %s (run %s, %d tenants)", source, m.RunID, tenants)
	if len(m.Shards) > 1 {
		r.Source += fmt.Sprintf("; joined from %d shards: duration is wall time, billed time may be higher", len(m.Shards))
	}
	r.Tenants = tenants
	r.ObjectsPerTenant = float64(t.DatasetsOK) / n
	r.APICallsPerTenant = float64(t.APICalls) / n
	r.BytesPerTenant = float64(t.Bytes) / n
	r.CollectorSecondsPerTenant = float64(ms) / 1000 / n
	return r, nil
}

// ReadManifestFile reads a run manifest (runs/<run-id>/manifest.json).
func ReadManifestFile(path string) (*collector.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("costmodel: %w", err)
	}
	defer f.Close()
	return readManifest(f)
}

func readManifest(r io.Reader) (*collector.Manifest, error) {
	m, err := collector.ReadManifest(r)
	if err != nil {
		return nil, fmt.Errorf("costmodel: %w", err)
	}
	return m, nil
}
