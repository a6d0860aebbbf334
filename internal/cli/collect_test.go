package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/apibudget"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// collectSim starts a simulator with n small tenants and no rate limits and
// writes its credentials to a file.
func collectSim(t *testing.T, n int) (*centralsim.Server, string) {
	t.Helper()
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = n
		o.Seed = 3
		o.RateLimits = centralsim.RateLimits{}
		o.DevicesPerTenant = func(i int) int { return 3 + 4*i }
		o.Logger = slog.New(slog.DiscardHandler)
	})
	t.Cleanup(sim.Close)
	path := filepath.Join(t.TempDir(), "msp.yaml")
	if err := os.WriteFile(path, sim.CredentialsYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, path
}

func collectEnv(tty bool) (*Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, IsTerminal: tty,
		Logger: slog.New(slog.DiscardHandler)}, &out, &errb
}

// exitStatus is the status cli.Main would return for err.
func exitStatus(err error) int {
	var ue *UsageError
	var ee *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	case errors.As(err, &ee):
		return ee.Code
	}
	return 1
}

// noSecrets fails when the MSP's client secret or anything token-like shows.
func noSecrets(t *testing.T, sim *centralsim.Server, texts ...string) {
	t.Helper()
	jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}`)
	for _, s := range texts {
		if strings.Contains(s, sim.MSP().ClientSecret) || jwt.MatchString(s) || strings.Contains(strings.ToLower(s), "bearer ") {
			t.Fatalf("a secret or token is printed:\n%s", s)
		}
	}
}

func TestCollectUsageAndConfigErrors(t *testing.T) {
	_, creds := collectSim(t, 1)
	out := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"--out", out}, 2},
		{[]string{"--credentials", creds}, 2},
		{[]string{"--credentials", creds, "--out", out, "extra"}, 2},
		{[]string{"--credentials", creds, "--out", out, "--datasets", "aps,nope"}, 2},
		{[]string{"--credentials", creds, "--out", out, "--central-scope", "tenant"}, 2},
		{[]string{"--credentials", creds, "--out", out, "--glp-scope", "x"}, 2},
		{[]string{"--credentials", creds, "--out", out, "--central-rate", "-1"}, 2},
		{[]string{"--credentials", creds, "--out", out, "--run-id", "../x"}, 2},
		{[]string{"--credentials", creds, "--out", out, "--concurrency", "0"}, 2},
		{[]string{"--credentials", creds, "--out", "ftp://x"}, 2},
		{[]string{"--credentials", creds, "--out", out, "--token-cache", "sm://bad//prefix"}, 2},
		{[]string{"--credentials", filepath.Join(out, "missing.yaml"), "--out", out}, 2},
		{[]string{"--bogus"}, 2},
	} {
		env, _, _ := collectEnv(false)
		if got := exitStatus(runCollect(context.Background(), env, c.args)); got != c.code {
			t.Errorf("collect %v: exit %d, want %d", c.args, got, c.code)
		}
	}
	env, stdout, _ := collectEnv(false)
	if err := runCollect(context.Background(), env, []string{"-h"}); err != nil || !strings.Contains(stdout.String(), "--token-cache") {
		t.Errorf("-h: %v\n%s", err, stdout)
	}
}

func TestCollectCompleteToDir(t *testing.T) {
	sim, creds := collectSim(t, 4)
	out := t.TempDir()
	env, stdout, stderr := collectEnv(false)
	err := runCollect(context.Background(), env, []string{"--credentials", creds, "--out", out, "--run-id", "r1",
		"--datasets", "devices,subscriptions", "--concurrency", "2", "--central-rate", "100", "--central-scope", "workspace"})
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	for _, want := range []string{"run          r1 (complete)", "tenants      4: 4 ok", "datasets     8: 8 ok", "exchanges    4", "token cache  not used",
		"manifest     " + filepath.Join(out, "runs", "r1", "manifest.json")} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr.String(), "budgets: central 100 req/s per workspace, glp-devices 2.67 req/s per workspace") ||
		!strings.Contains(stderr.String(), "[4/4] ") || strings.Contains(stderr.String(), "\r") {
		t.Errorf("progress lines:\n%s", stderr)
	}
	f, err := os.Open(filepath.Join(out, "runs", "r1", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := collector.ReadManifest(f)
	if err != nil || !m.Complete || m.Totals.DatasetsOK != 8 {
		t.Fatalf("manifest: %v %+v", err, m)
	}
	for _, tr := range m.Tenants {
		d := tr.Dataset("devices")
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(d.Key))); err != nil || d.Records != int64(len(sim.Records(tr.ID, "devices"))) {
			t.Errorf("tenant %s devices: %v, %d records", tr.ID, err, d.Records)
		}
	}
	noSecrets(t, sim, stdout.String(), stderr.String())
}

func TestCollectPartialFailureExits1(t *testing.T) {
	sim, creds := collectSim(t, 3)
	bad := sim.Tenants()[1]
	sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{Endpoint: centralsim.EndpointToken, Tenant: bad.HexID, ServerErrorRate: 1}}})
	env, stdout, stderr := collectEnv(true)
	err := runCollect(context.Background(), env, []string{"--credentials", creds, "--out", t.TempDir(), "--datasets", "aps", "--tenants", bad.Name + "," + sim.Tenants()[2].HexID})
	if exitStatus(err) != 1 {
		t.Fatalf("exit %d (%v), want 1", exitStatus(err), err)
	}
	s := stdout.String()
	if !strings.Contains(s, "tenants      2: 1 ok, 1 failed") || !strings.Contains(s, "failures (1):") || !strings.Contains(s, bad.HexID) || !strings.Contains(s, "login:") {
		t.Errorf("summary:\n%s", s)
	}
	// A terminal gets a redrawn bar, and the failure above it.
	if e := stderr.String(); !strings.Contains(e, "\r[") || !strings.Contains(e, "] 2/2 tenants") || !strings.Contains(e, bad.Name+": failed") {
		t.Errorf("progress bar:\n%q", e)
	}
	noSecrets(t, sim, stdout.String(), stderr.String())
}

func TestCollectUsesTokenCache(t *testing.T) {
	sim, creds := collectSim(t, 3)
	cache := t.TempDir()
	env, stdout, _ := collectEnv(false)
	if err := runRefresh(context.Background(), env, []string{"--credentials", creds, "--cache", cache}); err != nil {
		t.Fatalf("refresh: %v\n%s", err, stdout)
	}
	before := sim.Stats().Exchanges
	env, stdout, stderr := collectEnv(false)
	if err := runCollect(context.Background(), env, []string{"--credentials", creds, "--out", t.TempDir(), "--token-cache", cache, "--datasets", "gateways", "--quiet"}); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if n := sim.Stats().Exchanges - before; n != 0 {
		t.Errorf("%d exchanges with a warm cache", n)
	}
	if s := stdout.String(); !strings.Contains(s, "exchanges    0") || !strings.Contains(s, "3 hits, 0 misses (hit ratio 100%)") {
		t.Errorf("summary:\n%s", s)
	}
	if stderr.Len() != 0 {
		t.Errorf("--quiet printed:\n%s", stderr)
	}
}

func TestCollectBudgets(t *testing.T) {
	b, err := collectBudgets(apibudget.Config{CentralScope: "account", GLPScope: "workspace"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := collectDescribeBudgets(b), "central 8 req/s per account, glp-devices 2.67 req/s per workspace, glp-subscriptions 1 req/s per workspace"; got != want {
		t.Errorf("defaults: %q, want %q", got, want)
	}
	b, _ = collectBudgets(apibudget.Config{CentralRate: 200, CentralScope: "workspace", GLPScope: "account"})
	if s, _ := b.Spec(central.BudgetCentral); s.Rate != 200 || s.Burst != 1 || s.Scope != central.ScopeWorkspace {
		t.Errorf("central: %+v", s)
	}
	if s, _ := b.Spec(central.BudgetGLPSubscriptions); s.Scope != central.ScopeAccount || s.Rate != 1 {
		t.Errorf("glp-subscriptions: %+v", s)
	}
	if got := collectGroup(1234567); got != "1,234,567" {
		t.Errorf("collectGroup: %s", got)
	}
	if !collectValidRunID("2026-a_b.c") || collectValidRunID("-x") || collectValidRunID("a/b") {
		t.Error("collectValidRunID")
	}
}
