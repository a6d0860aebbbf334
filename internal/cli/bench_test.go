package cli

import (
	"context"
	"testing"

	"github.com/centralmsp/centralmsp/internal/bench"
)

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--scenarios", "account-hot"}, {"--scenarios", "shared-cold"}, {"--scenarios", ","}, {"--tenants", "0"},
		{"--account-rate", "0"}, {"--latency", "-1ms"}, {"--sink-latency", "-1ms"}, {"extra"}, {"--nope"},
		{"--function-memory", "64"}, {"--function-memory", "10241"},
	} {
		env, _, _ := collectEnv(false)
		if got := exitStatus(runBench(context.Background(), env, args)); got != 2 {
			t.Errorf("bench %v: exit %d, want 2", args, got)
		}
	}
}

// TestBenchChildHook: with the child variable set, the command is a bench
// child process and reports a bad configuration.
func TestBenchChildHook(t *testing.T) {
	env, _, _ := collectEnv(false)
	env.Getenv = func(k string) string {
		if k == bench.EnvChild {
			return "sim"
		}
		return "{"
	}
	if err := runBench(context.Background(), env, []string{"--tenants", "0"}); err == nil || exitStatus(err) != 1 {
		t.Fatalf("child with a bad configuration: %v", err)
	}
}
