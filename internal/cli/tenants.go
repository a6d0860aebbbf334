package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const tenantsUsage = `usage: centralmsp tenants --credentials FILE [--json]

Lists every tenant workspace of the MSP (GLP /workspaces/v1/msp-tenants, all
pages): normalised workspace id, name and inventory ownership.

flags:
`

// runTenants implements `centralmsp tenants`.
func runTenants(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("tenants", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	credsPath := fs.String("credentials", "", "unified MSP credentials file (YAML or JSON)")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	if ok, err := parseFlags(env, fs, tenantsUsage, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *credsPath == "" {
		return &UsageError{Msg: "--credentials FILE is required"}
	}
	m, err := tenantsOpenMSP(env, *credsPath)
	if err != nil {
		return err
	}
	defer m.Close()

	var tenants []msp.Tenant
	for t, err := range m.Tenants(ctx) {
		if err != nil {
			var bad *msp.InvalidTenantIDError
			if errors.As(err, &bad) {
				fmt.Fprintln(env.Stderr, termsafe.String(fmt.Sprintf("warning: tenant %q: %v", t.Name, err)))
				tenants = append(tenants, t)
				continue
			}
			return err
		}
		tenants = append(tenants, t)
	}
	if *asJSON {
		if tenants == nil {
			tenants = []msp.Tenant{}
		}
		b, err := json.MarshalIndent(tenants, "", "  ")
		if err != nil {
			return err
		}
		// Names are untrusted: no bidi or C1 control reaches the terminal.
		_, err = env.Stdout.Write(append(termsafe.JSON(b), '\n'))
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tOWNERSHIP")
	for _, t := range tenants {
		id := t.ID
		if id == "" {
			id = t.WorkspaceID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", termsafe.Cell(id, 40), termsafe.Cell(t.Name, nameColumn), termsafe.Cell(t.Ownership, 32))
	}
	return tw.Flush()
}

// nameColumn is the widest tenant name printed in a table; longer names end
// in "…" (the full name is in --json and in the manifest).
const nameColumn = 60

// tenantsOpenMSP loads unified credentials and builds an MSP client logging to the
// command's logger. Credential problems are configuration errors (exit 2).
func tenantsOpenMSP(env *Env, path string) (*msp.MSP, error) {
	m, err := msp.NewFromFile(path, func(o *msp.Options) { o.Logger = env.Logger })
	if err != nil {
		return nil, &ExitError{Code: 2, Err: err}
	}
	return m, nil
}
