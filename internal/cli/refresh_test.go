package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

func TestRefreshUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--cache", "x"},
		{"--credentials", "c.yaml"},
		{"--credentials", "c.yaml", "--cache", "sm://bad//p"},
		{"--credentials", "c.yaml", "--cache", "s3://b/p"},
		{"--credentials", "c.yaml", "--cache", "x", "--concurrency", "0"},
		{"--credentials", "c.yaml", "--cache", "x", "more"},
	} {
		env, _, _ := collectEnv(false)
		if got := exitStatus(runRefresh(context.Background(), env, args)); got != 2 {
			t.Errorf("refresh %v: exit %d, want 2", args, got)
		}
	}
	env, _, _ := collectEnv(false)
	if got := exitStatus(runRefresh(context.Background(), env, []string{"--credentials", filepath.Join(t.TempDir(), "none.yaml"), "--cache", t.TempDir()})); got != 2 {
		t.Errorf("missing credentials file: exit %d, want 2", got)
	}
}

func TestRefreshDirPrintsSummaryNotTokens(t *testing.T) {
	sim, creds := collectSim(t, 4)
	bad := sim.Tenants()[2]
	sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{Endpoint: centralsim.EndpointToken, Tenant: bad.HexID, ServerErrorRate: 1}}})
	cache := t.TempDir()
	env, stdout, stderr := collectEnv(false)
	err := runRefresh(context.Background(), env, []string{"--credentials", creds, "--cache", cache})
	if exitStatus(err) != 1 {
		t.Fatalf("exit %d (%v), want 1 for a failed tenant", exitStatus(err), err)
	}
	s := stdout.String()
	for _, want := range []string{"tenants      4 (list complete; 4 new, 0 dropped)", "exchanged    3 ok, 1 failed", "failed tenants:", bad.HexID, bad.Name} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	// The cache holds tokens; none of them is printed.
	var files []string
	filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 2 {
		t.Fatalf("cache files: %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		sh, err := tokencache.DecodeCacheSecret(strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(strings.TrimPrefix(f, cache)), "/"), ".json"), b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range sh.Entries {
			if e.Token != "" && (strings.Contains(s, e.Token) || strings.Contains(stderr.String(), e.Token)) {
				t.Fatal("a cached token is printed")
			}
		}
	}
	noSecrets(t, sim, s, stderr.String())
}

// TestRefreshAndCollectSecretsManager runs the sm:// cache against
// moto_server's Secrets Manager.
func TestRefreshAndCollectSecretsManager(t *testing.T) {
	mt := testenv.StartMoto(t)
	mt.SetEnv(t)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	sim, creds := collectSim(t, 3)
	env, stdout, _ := collectEnv(false)
	if err := runRefresh(context.Background(), env, []string{"--credentials", creds, "--cache", "sm://centralmsp/e2e"}); err != nil {
		t.Fatalf("refresh: %v\n%s", err, stdout)
	}
	sm := secretsmanager.NewFromConfig(mt.AWSConfig(t))
	if _, err := sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("centralmsp/e2e/msp")}); err != nil {
		t.Fatalf("MSP secret: %v", err)
	}
	before := sim.Stats().Exchanges
	env, stdout, _ = collectEnv(false)
	if err := runCollect(context.Background(), env, []string{"--credentials", creds, "--out", t.TempDir(), "--token-cache", "sm://centralmsp/e2e", "--datasets", "aps", "--quiet"}); err != nil {
		t.Fatalf("collect: %v\n%s", err, stdout)
	}
	if n := sim.Stats().Exchanges - before; n != 0 || !strings.Contains(stdout.String(), "3 hits, 0 misses") {
		t.Errorf("%d exchanges; summary:\n%s", n, stdout)
	}
}
