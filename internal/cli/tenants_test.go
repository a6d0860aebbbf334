package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// mspCLISim starts a simulator and writes its unified credentials to a file.
func mspCLISim(t *testing.T) (*centralsim.Server, string) {
	t.Helper()
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = 5
		o.RateLimits = centralsim.RateLimits{}
		o.DevicesPerTenant = func(i int) int { return 2 + i }
	})
	t.Cleanup(sim.Close)
	path := filepath.Join(t.TempDir(), "msp.yaml")
	if err := os.WriteFile(path, sim.CredentialsYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, path
}

func mspCLIEnv() (*Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Logger: slog.New(slog.DiscardHandler)}, &out, &errb
}

func TestRunTenantsTable(t *testing.T) {
	sim, creds := mspCLISim(t)
	env, out, _ := mspCLIEnv()
	if err := runTenants(context.Background(), env, []string{"--credentials", creds}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 1+len(sim.Tenants()) {
		t.Fatalf("got %d lines:\n%s", len(lines), out)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "ID NAME OWNERSHIP" {
		t.Errorf("header %q", lines[0])
	}
	for i, tn := range sim.Tenants() {
		l := lines[1+i]
		if !strings.HasPrefix(l, tn.HexID+" ") || !strings.Contains(l, tn.Name) || !strings.HasSuffix(l, tn.Ownership) {
			t.Errorf("line %q; want %s %s %s", l, tn.HexID, tn.Name, tn.Ownership)
		}
	}
}

func TestRunTenantsJSON(t *testing.T) {
	sim, creds := mspCLISim(t)
	env, out, _ := mspCLIEnv()
	if err := runTenants(context.Background(), env, []string{"--json", "--credentials", creds}); err != nil {
		t.Fatal(err)
	}
	var got []msp.Tenant
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	want := sim.Tenants()
	if len(got) != len(want) {
		t.Fatalf("got %d tenants, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].HexID || got[i].WorkspaceID != want[i].ID || got[i].Name != want[i].Name || got[i].Ownership != want[i].Ownership {
			t.Errorf("tenant %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if !strings.Contains(out.String(), `"workspaceId"`) {
		t.Errorf("JSON keys: %s", out)
	}
}

func TestRunTenantsErrors(t *testing.T) {
	env, _, _ := mspCLIEnv()
	var ue *UsageError
	if err := runTenants(context.Background(), env, nil); !errors.As(err, &ue) {
		t.Errorf("no --credentials: %v", err)
	}
	if err := runTenants(context.Background(), env, []string{"--bogus"}); !errors.As(err, &ue) {
		t.Errorf("bad flag: %v", err)
	}
	if err := runTenants(context.Background(), env, []string{"--credentials", "x", "extra"}); !errors.As(err, &ue) {
		t.Errorf("extra argument: %v", err)
	}
	// Standalone glp credentials are refused with a clear message (exit 2).
	path := filepath.Join(t.TempDir(), "glp.yaml")
	os.WriteFile(path, []byte("glp:\n  client_id: a\n  client_secret: b\n"), 0o600)
	err := runTenants(context.Background(), env, []string{"--credentials", path})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 2 || !errors.Is(err, msp.ErrUnifiedRequired) {
		t.Errorf("glp credentials: %v", err)
	}
	if err := runTenants(context.Background(), env, []string{"--credentials", filepath.Join(t.TempDir(), "missing.yaml")}); !errors.As(err, &ee) || ee.Code != 2 {
		t.Errorf("missing file: %v", err)
	}
	// -h prints usage and succeeds.
	env, out, _ := mspCLIEnv()
	if err := runTenants(context.Background(), env, []string{"-h"}); err != nil || !strings.Contains(out.String(), "--credentials") {
		t.Errorf("-h: %v, %q", err, out)
	}
}
