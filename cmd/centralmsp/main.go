// Command centralmsp runs the centralmsp jobs from a shell: the local demo,
// the simulator, collection, tenant listing and single API calls.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/centralmsp/centralmsp/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, &cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, IsTerminal: isTerminal(os.Stderr)}, os.Args[1:])
	stop()
	os.Exit(code)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
