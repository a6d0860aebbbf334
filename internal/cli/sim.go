package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// runSim serves the GLP + New Central simulator until ctx is cancelled:
//
//	centralmsp sim --addr 127.0.0.1:8400 --tenants 50 --seed 1 [--token-ttl 899s] [--creds-out FILE]
//
// It prints the base URLs and a ready credentials file (unified block).
func runSim(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := fs.String("addr", "127.0.0.1:8400", "listen address")
	tenants := fs.Int("tenants", 50, "number of MSP tenants")
	seed := fs.Int64("seed", 1, "data generator seed")
	ttl := fs.Duration("token-ttl", 899*time.Second, "lifetime of unified (MSP and tenant) tokens")
	credsOut := fs.String("creds-out", "", "also write the credentials YAML to `FILE` (mode 0600)")
	latency := fs.Duration("latency", 0, "fixed latency added to every request")
	jitter := fs.Duration("jitter", 0, "random latency (seeded) added on top of --latency")
	noLimits := fs.Bool("no-rate-limits", false, "disable the simulated rate limits")
	centralLimit := fs.Int("central-limit", 0, "New Central requests per second the simulator admits (0: the documented default, 8)")
	centralScope := fs.String("central-scope", "account", "who shares the simulated New Central quota: account or workspace")
	devices := fs.Int("devices-per-tenant", -1, "fixed number of devices per tenant (default: skewed sizes)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: centralmsp sim [flags]\n\nServe a simulated GreenLake + New Central MSP until interrupted.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &UsageError{Msg: err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case *tenants < 0:
		return &UsageError{Msg: "--tenants must not be negative"}
	case *ttl <= 0:
		return &UsageError{Msg: "--token-ttl must be positive"}
	case *latency < 0 || *jitter < 0:
		return &UsageError{Msg: "--latency and --jitter must not be negative"}
	case *centralLimit < 0:
		return &UsageError{Msg: "--central-limit must not be negative"}
	case *centralScope != "account" && *centralScope != "workspace":
		return &UsageError{Msg: fmt.Sprintf("--central-scope %q: want account or workspace", *centralScope)}
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	sim := centralsim.NewUnstartedServer(func(o *centralsim.Options) {
		o.Tenants = *tenants
		o.Seed = *seed
		o.TokenTTL = *ttl
		o.Latency, o.Jitter = *latency, *jitter
		o.Listener = l
		o.Logger = env.Logger
		if *centralLimit > 0 {
			o.RateLimits.Central.Requests = *centralLimit
		}
		if *centralScope == "workspace" {
			o.RateLimits.Central.Scope = centralsim.ScopeWorkspace
		}
		if *noLimits {
			o.RateLimits = centralsim.RateLimits{}
		}
		if *devices >= 0 {
			n := *devices
			o.DevicesPerTenant = func(int) int { return n }
		}
	})
	sim.Start()
	defer sim.Close()

	if err := announceSim(env, sim, *tenants, *seed, *credsOut); err != nil {
		return err
	}
	env.Logger.Info("simulator serving", "addr", l.Addr().String(), "tenants", *tenants, "seed", *seed)
	<-ctx.Done()
	return nil
}

// announceSim writes the credentials file, when asked, and prints the
// simulator's URLs and credentials.
func announceSim(env *Env, sim *centralsim.Server, tenants int, seed int64, credsOut string) error {
	creds := sim.CredentialsYAML()
	if credsOut != "" {
		if err := os.WriteFile(credsOut, creds, 0o600); err != nil {
			return fmt.Errorf("write credentials: %w", err)
		}
	}
	fmt.Fprintf(env.Stdout, "centralmsp sim: %d tenants, seed %d\n", tenants, seed)
	fmt.Fprintf(env.Stdout, "GLP base URL:     %s\n", sim.URL)
	fmt.Fprintf(env.Stdout, "Central base URL: %s\n", sim.CentralURL())
	fmt.Fprintf(env.Stdout, "Stats:            %s/_sim/stats\n", sim.URL)
	if credsOut != "" {
		fmt.Fprintf(env.Stdout, "Credentials written to %s\n", credsOut)
	}
	fmt.Fprintf(env.Stdout, "--- credentials (YAML) ---\n%s---\n", creds)
	return nil
}
