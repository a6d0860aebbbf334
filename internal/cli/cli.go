// Package cli implements the centralmsp command line. Each subcommand lives in
// its own file as a run function; this file only dispatches and maps errors to
// exit codes (0 ok, 1 partial failure, 2 usage or configuration error).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/centralmsp/centralmsp/internal/termsafe"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// Env is what a subcommand may touch of the outside world, so tests can run
// commands in-process with their own writers and environment.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// IsTerminal reports whether Stderr is an interactive terminal (progress bars).
	IsTerminal bool
	Logger     *slog.Logger
}

// UsageError is a mistake in how the command was called (exit status 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ExitError carries a specific exit status with an already-printed outcome,
// such as 1 for a collection that finished with failed tenants.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// commands is the fixed table of subcommands.
func commands() []command {
	return []command{
		{"demo", "run the main job locally: simulator, token refresh, collection", runDemo},
		{"collect", "collect every tenant's inventory into a directory or S3", runCollect},
		{"audit", "collect now and report drift since the last audit, findings, and an HTML report", runAudit},
		{"refresh", "refresh the token cache (directory or Secrets Manager)", runRefresh},
		{"bench", "benchmark the collector at MSP scale", runBench},
		{"sim", "serve the GLP + New Central simulator and print its URLs and credentials", runSim},
		{"tenants", "list the MSP's tenants (id, name, ownership)", runTenants},
		{"call", "make one API call (MSP-level or --tenant) and print the JSON body", runCall},
		{"cost", "estimate the monthly AWS cost from a run's figures", runCost},
		{"plan", "show the token cache's Secrets Manager footprint for 100 to 10,000 tenants", runPlan},
	}
}

// Main runs the command line with args (without the program name) and returns
// the process exit status.
func Main(ctx context.Context, env *Env, args []string) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		return exitCode(env.Stderr, c.name, err)
	}
	fmt.Fprintf(env.Stderr, "centralmsp: unknown command %q\n\n", args[0])
	usage(env.Stderr, cmds)
	return 2
}

func exitCode(w io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	var ue *UsageError
	var ee *ExitError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(w, "centralmsp %s: %s\n", name, termsafe.Text(err.Error()))
		return 2
	case errors.As(err, &ee):
		if ee.Err != nil {
			fmt.Fprintf(w, "centralmsp %s: %s\n", name, termsafe.Text(ee.Err.Error()))
		}
		return ee.Code
	default:
		fmt.Fprintf(w, "centralmsp %s: %s\n", name, termsafe.Text(err.Error()))
		return 1
	}
}

func usage(w io.Writer, cmds []command) {
	var b strings.Builder
	b.WriteString("usage: centralmsp <command> [flags]\n\ncommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'centralmsp <command> -h' for a command's flags.\n")
	io.WriteString(w, b.String())
}

// parseFlags parses a subcommand's args into fs. It reports false when the
// command should return at once: after -h, with the usage text and the flags
// printed to stdout and a nil error, or with a *UsageError for bad flags.
func parseFlags(env *Env, fs *flag.FlagSet, usage string, args []string) (bool, error) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, flag.ErrHelp):
		io.WriteString(env.Stdout, usage)
		fs.SetOutput(env.Stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return false, nil
	default:
		return false, &UsageError{Msg: err.Error()}
	}
}

// parseTenantCounts reads a --tenants list such as "100,1_000,10000".
func parseTenantCounts(list string) ([]int, error) {
	var counts []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(f, "_", "")))
		if err != nil || n < 1 || n > 1_000_000 {
			return nil, &UsageError{Msg: fmt.Sprintf("--tenants: %q is not a tenant count between 1 and 1,000,000", f)}
		}
		counts = append(counts, n)
	}
	return counts, nil
}
