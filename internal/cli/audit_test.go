package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// TestAuditCommand: the first audit makes baselines and no drift; after the
// simulator changes a tenant, the second reports its changes and writes the
// report.
func TestAuditCommand(t *testing.T) {
	sim, creds := collectSim(t, 3)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--credentials", creds, "--out", out, "--quiet"}
	env, stdout, stderr := collectEnv(false)
	if err := runAudit(context.Background(), env, args); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	if s := stdout.String(); !strings.Contains(s, "0 change(s) in 0 of 3 tenant(s)") || !strings.Contains(s, "seen for the first time") {
		t.Fatalf("first audit:\n%s", s)
	}
	tn := sim.Tenants()[2]
	want := sim.Mutate(centralsim.MutateOptions{Tenants: []string{tn.HexID}, Add: 1, Remove: 1, Refirmware: 1})
	env, stdout, stderr = collectEnv(false)
	if err := runAudit(context.Background(), env, args); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	s := stdout.String()
	if !strings.Contains(s, "change(s) in 1 of 3 tenant(s)") || !strings.Contains(s, "report ") {
		t.Fatalf("second audit (%d changes made):\n%s", len(want), s)
	}
	reports, _ := filepath.Glob(filepath.Join(out, "audit", "run=*", "report.html"))
	if len(reports) != 2 {
		t.Fatalf("reports: %v", reports)
	}
	noSecrets(t, sim, s, stderr.String())
}

func TestAuditRulesRefused(t *testing.T) {
	_, creds := collectSim(t, 1)
	env, _, _ := collectEnv(false)
	env.Getenv = func(k string) string {
		if k == "CENTRALMSP_AUDIT_RULES" {
			return `{"rules":{"no-such-rule":{"enabled":true}}}`
		}
		return ""
	}
	err := runAudit(context.Background(), env, []string{"--credentials", creds, "--out", t.TempDir()})
	if exitStatus(err) != 2 || !strings.Contains(err.Error(), `"no-such-rule"`) {
		t.Fatalf("got %v", err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(path, []byte("rules:\n  device-offline:\n    severity: urgent\n"), 0o600)
	env, _, _ = collectEnv(false)
	err = runAudit(context.Background(), env, []string{"--credentials", creds, "--out", t.TempDir(), "--rules", path})
	if exitStatus(err) != 2 || !strings.Contains(err.Error(), "device-offline") || !strings.Contains(err.Error(), "urgent") {
		t.Fatalf("got %v", err)
	}
}
