package e2e

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/cli"
)

// cliRunner runs the real command line in-process.
func cliRunner(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env := &cli.Env{Stdout: stdout, Stderr: stderr, Logger: slog.New(slog.DiscardHandler)}
	return cli.Main(ctx, env, args)
}

// TestProof is the end-to-end proof: 200 tenants (40 with -short) with
// injected faults, collected into moto_server's S3 through the command line.
func TestProof(t *testing.T) {
	var probe strings.Builder
	if cli.Main(t.Context(), &cli.Env{Stdout: io.Discard, Stderr: &probe, Logger: slog.New(slog.DiscardHandler)}, []string{"collect", "-h"}) != 0 {
		first, _, _ := strings.Cut(probe.String(), "\n")
		t.Skipf("the collect command is not registered in cli.commands yet (%s)", first)
	}
	n := 200
	if testing.Short() {
		n = 40
	}
	Proof(t, Options{Tenants: n, Seed: 7}, cliRunner)
}
