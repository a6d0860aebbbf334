package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
)

func runCostForTest(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	err := runCost(context.Background(), env, args)
	return out.String(), err
}

func TestCostDefaults(t *testing.T) {
	out, err := runCostForTest(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"100", "1,000", "10,000", "total/month", "Secrets Manager", "typical run"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCostFromManifest(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	m := &collector.Manifest{Version: collector.ManifestVersion, RunID: "run-7", StartedAt: start, FinishedAt: start.Add(time.Minute),
		Totals: collector.Totals{Tenants: 50, TenantsOK: 50, DatasetsOK: 400, APICalls: 600, Bytes: 5_000_000, DurationMS: 30_000}}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCostForTest(t, "--manifest", path, "--tenants", "100")
	if err != nil {
		t.Fatal(err)
	}
	// 600 calls / 50 tenants = 12 per tenant; 30 s / 50 = 0.6 s.
	for _, want := range []string{"run run-7, 50 tenants", "12.0 API calls", "0.600 s collector"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCostForTest(t, "--manifest", path, "--tenants", "100", "--seconds-per-tenant", "2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "2.000 s collector") || !strings.Contains(out, "flag overrides") {
		t.Errorf("override not applied:\n%s", out)
	}
}

func TestCostUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--tenants", "0"},
		{"--tenants", "abc"},
		{"--interval", "10s"},
		{"--manifest", filepath.Join(t.TempDir(), "missing.json")},
		{"--bytes-per-tenant", "-5"},
		{"extra"},
	} {
		_, err := runCostForTest(t, args...)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
	out, err := runCostForTest(t, "-h")
	if err != nil || !strings.Contains(out, "usage: centralmsp cost") {
		t.Errorf("-h: err %v, output %q", err, out)
	}
}
