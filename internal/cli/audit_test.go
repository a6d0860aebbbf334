package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/audittrail"
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

// trailIDs reads every audit-trail object under out and counts each
// event id.
func trailIDs(t *testing.T, out string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(out, "inventory", "dataset="+audittrail.Dataset, "dt=*", "run=*", "tenant=*.ndjson.gz"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := audittrail.ReadObject(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, r := range recs {
			var v struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(r, &v); err != nil || v.ID == "" {
				t.Fatalf("record %s: %v", r, err)
			}
			ids[v.ID]++
		}
	}
	return ids
}

// TestAuditTrailExactlyOnce: two audits with audit-log events arriving in
// between deliver every event exactly once (the trail's watermarks live in
// --out), with no --since.
func TestAuditTrailExactlyOnce(t *testing.T) {
	sim, creds := collectSim(t, 2)
	tn := sim.Tenants()
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--credentials", creds, "--out", out, "--quiet"}
	var appended []string
	add := func(i, n int) {
		es, err := sim.AppendAuditLogs(tn[i].HexID, make([]centralsim.AuditLogEntry, n)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			appended = append(appended, e.ID)
		}
	}
	audit := func(wantNew int) {
		t.Helper()
		env, stdout, stderr := collectEnv(false)
		if err := runAudit(context.Background(), env, args); err != nil {
			t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
		}
		if want := fmt.Sprintf("%d new event(s)", wantNew); wantNew >= 0 && !strings.Contains(stdout.String(), want) {
			t.Fatalf("want %q in:\n%s", want, stdout)
		}
		if want := "tenant-health: 2 records (2 mapped to tenants"; !strings.Contains(stdout.String(), want) {
			t.Fatalf("want %q in:\n%s", want, stdout)
		}
	}
	add(0, 3)
	add(1, 2)
	audit(-1) // the first audit also takes the look-back's older events
	first := trailIDs(t, out)
	add(0, 2)
	add(1, 1)
	audit(3)
	audit(0)
	ids := trailIDs(t, out)
	for id, n := range ids {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	for _, id := range appended {
		if ids[id] != 1 {
			t.Errorf("appended event %s delivered %d times", id, ids[id])
		}
	}
	if len(ids) != len(first)+3 {
		t.Errorf("%d events after three audits, %d after the first: want 3 more", len(ids), len(first))
	}
	for _, tnt := range tn {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(audittrail.WatermarkKey(tnt.HexID)))); err != nil {
			t.Errorf("watermark of %s not in --out: %v", tnt.HexID, err)
		}
	}
}
