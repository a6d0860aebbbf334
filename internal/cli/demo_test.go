package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/collector"
)

func TestDemoUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--tenants", "0"}, {"--concurrency", "0"}, {"--central-rate", "0"}, {"--latency", "-1s"}, {"--out", ""}, {"x"}, {"--nope"},
	} {
		env, _, _ := collectEnv(false)
		if got := exitStatus(runDemo(context.Background(), env, args)); got != 2 {
			t.Errorf("demo %v: exit %d, want 2", args, got)
		}
	}
}

// TestDemoSmall runs the whole demo on a small simulated MSP: refresh into
// the file cache, then a collection that exchanges nothing.
func TestDemoSmall(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	env, stdout, stderr := collectEnv(false)
	err := runDemo(context.Background(), env, []string{"--out", out, "--tenants", "6", "--seed", "2", "--latency", "1ms"})
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	s := stdout.String()
	for _, want := range []string{
		"simulated MSP with 6 tenants (seed 2)",
		"central 50 req/s per account",
		"the SDK default is 8 req/s",
		"token refresh:  6 tenants, 6 tokens exchanged, 0 failed",
		"(complete)",
		"tenants      6: 6 ok",
		"exchanges    0",
		"6 hits, 0 misses (hit ratio 100%)",
		"exchanges:      6 in the refresh, 0 in the collection",
		"files:          " + filepath.Join(out, "inventory"),
		"zcat " + out,
		"drift check:    ",
		"identical, record by record",
		filepath.Join(out, "audit") + "/run=",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if !strings.Contains(stderr.String(), "[6/6] ") {
		t.Errorf("progress:\n%s", stderr)
	}
	runs, _ := filepath.Glob(filepath.Join(out, "runs", "*", "manifest.json"))
	if len(runs) != 2 { // the audited scheduled run (the baseline) and the audited second one
		t.Fatalf("manifests: %v", runs)
	}
	f, err := os.Open(runs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := collector.ReadManifest(f)
	if err != nil || !m.Complete || m.Totals.Exchanges != 0 || m.Totals.TokenCacheHitRatio != 1 {
		t.Fatalf("manifest: %v %+v", err, m.Totals)
	}
	// The temporary credentials and token cache are gone.
	if strings.Contains(s, "credentials.yaml") || strings.Contains(s, "token-cache") {
		t.Errorf("temporary paths printed:\n%s", s)
	}
}

// TestDemoSharded runs the demo's scheduled path sharded through the
// in-process queue: the coordinator plans, sends, runs every shard and
// joins the run.
func TestDemoSharded(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	env, stdout, stderr := collectEnv(false)
	err := runDemo(context.Background(), env, []string{"--out", out, "--tenants", "5", "--seed", "3", "--latency", "1ms", "--shard-size", "2"})
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	s := stdout.String()
	for _, want := range []string{"sharded:        3 shards through the in-process queue", "tenants      5: 5 ok", "(complete)"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	shards, _ := filepath.Glob(filepath.Join(out, "runs", "*", "shards", "*.json"))
	// Three tenant shards and the MSP-level part the scheduling step read.
	if len(shards) != 4 || !slices.ContainsFunc(shards, func(s string) bool { return filepath.Base(s) == "msp.json" }) {
		t.Errorf("shard manifests = %v, want 3 and msp.json", shards)
	}
}
