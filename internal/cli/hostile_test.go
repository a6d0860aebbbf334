package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// hostileNames are tenant names an API might return: terminal escapes
// (colour, clear screen, window title), a bidi override, C1 and DEL, a line
// break, and a name of 600 bytes.
var hostileNames = []string{
	"\x1b[31mRed\x1b[0m \x1b[2J",
	"invoice\u202etxt.exe",
	"c1\u009b31m del\x7f \x1b]0;pwned\x07",
	"two\nlines\ttab",
	strings.Repeat("Ω", 300),
}

func hostileSim(t *testing.T) (*centralsim.Server, string) {
	t.Helper()
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = len(hostileNames)
		o.TenantNames = hostileNames
		o.RateLimits = centralsim.RateLimits{}
		o.DevicesPerTenant = func(i int) int { return 1 }
	})
	t.Cleanup(sim.Close)
	path := filepath.Join(t.TempDir(), "msp.yaml")
	if err := os.WriteFile(path, sim.CredentialsYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, path
}

// terminalSafe fails when text holds a rune a terminal would act on (other
// than line feeds) or a line longer than max runes.
func terminalSafe(t *testing.T, what, text string, max int) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		for _, r := range l {
			if r != '\r' && termsafe.Unsafe(r) {
				t.Fatalf("%s: %U in line %q", what, r, l)
			}
		}
		if n := utf8.RuneCountInString(l); max > 0 && n > max {
			t.Errorf("%s: line of %d runes: %q", what, n, l)
		}
	}
}

// The tenants table escapes names and caps the NAME column; --json keeps
// the (capped) names exactly, with bidi and C1 controls as \u escapes.
func TestTenantsHostileNames(t *testing.T) {
	sim, creds := hostileSim(t)
	env, out, errb := mspCLIEnv()
	if err := runTenants(context.Background(), env, []string{"--credentials", creds}); err != nil {
		t.Fatal(err)
	}
	terminalSafe(t, "table", out.String(), 40+2+nameColumn+2+32)
	if n := strings.Count(strings.TrimRight(out.String(), "\n"), "\n"); n != len(hostileNames) {
		t.Errorf("%d table rows for %d tenants:\n%s", n, len(hostileNames), out)
	}
	terminalSafe(t, "stderr", errb.String(), 0)

	env, out, _ = mspCLIEnv()
	if err := runTenants(context.Background(), env, []string{"--json", "--credentials", creds}); err != nil {
		t.Fatal(err)
	}
	terminalSafe(t, "json", out.String(), 0)
	var got []msp.Tenant
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for i, tn := range sim.Tenants() {
		if got[i].Name != termsafe.Name(tn.Name) || len(got[i].Name) > termsafe.MaxName {
			t.Errorf("tenant %d: name %q", i, got[i].Name)
		}
	}
}

// Progress lines and the summary of a collection are escaped too (a
// terminal gets the bar and the lines).
func TestCollectHostileNames(t *testing.T) {
	sim, creds := hostileSim(t)
	bad := sim.Tenants()[0]
	sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{Endpoint: centralsim.EndpointToken, Tenant: bad.HexID, ServerErrorRate: 1}}})
	for _, tty := range []bool{false, true} {
		env, stdout, stderr := collectEnv(tty)
		err := runCollect(context.Background(), env, []string{"--credentials", creds, "--out", t.TempDir(), "--datasets", "aps"})
		if exitStatus(err) != 1 {
			t.Fatalf("exit %d (%v)", exitStatus(err), err)
		}
		terminalSafe(t, "summary", stdout.String(), 0)
		terminalSafe(t, "progress", stderr.String(), 0)
		if !strings.Contains(stdout.String(), `\x1b[31mRed`) {
			t.Errorf("failed tenant's name not shown escaped:\n%s", stdout)
		}
	}
}
