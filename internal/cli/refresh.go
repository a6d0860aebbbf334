package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/centralmsp/centralmsp/internal/lambdafn/tokenrefresh"
	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const refreshUsage = `usage: centralmsp refresh --credentials FILE --cache DIR|sm://PREFIX [--concurrency N]

Runs one token-cache refresh, as the token refresher Lambda does on its
schedule: gets the MSP token, lists every tenant, exchanges the tokens the
coming collection window needs and writes the cache secrets. DIR is a local
file cache (objects under DIR/` + refreshDirPrefix + `/); sm://PREFIX is AWS
Secrets Manager with the standard AWS configuration (AWS_REGION,
AWS_ENDPOINT_URL_SECRETS_MANAGER, ...; CENTRALMSP_KMS_KEY_ID optional).
Prints the result summary and every tenant whose exchange failed; tokens are
never printed. Exit status 1 when some tenant failed.

flags:
`

// refreshDirPrefix is the object name prefix of a local (directory) token
// cache; the collector's --token-cache DIR reads the same prefix.
const refreshDirPrefix = "centralmsp/tokens"

// runRefresh implements `centralmsp refresh`.
func runRefresh(ctx context.Context, env *Env, args []string) error {
	fs := flag.NewFlagSet("refresh", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	credsPath := fs.String("credentials", "", "unified MSP credentials file (YAML or JSON)")
	cache := fs.String("cache", "", "token cache: a directory, or sm://PREFIX for Secrets Manager")
	concurrency := fs.Int("concurrency", tokencache.DefaultConcurrency, "concurrent token exchanges")
	if ok, err := parseFlags(env, fs, refreshUsage, args); !ok {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return &UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	case *credsPath == "":
		return &UsageError{Msg: "--credentials FILE is required"}
	case *cache == "":
		return &UsageError{Msg: "--cache DIR|sm://PREFIX is required"}
	case *concurrency < 1:
		return &UsageError{Msg: "--concurrency must be at least 1"}
	}
	backend, prefix, err := refreshOpenCache(ctx, env, *cache)
	if err != nil {
		return err
	}
	m, err := msp.NewFromFile(*credsPath, func(o *msp.Options) { o.Logger = env.Logger })
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	defer m.Close()
	res, err := refreshRun(ctx, env, m, backend, prefix, *concurrency)
	if res != nil {
		refreshPrintResult(env.Stdout, res, backend.String(), prefix)
	}
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	if n := len(res.Failures) + len(res.Errors); n > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d tenant exchange(s) or write(s) failed", n)}
	}
	return nil
}

// refreshOpenCache opens a token cache target: "sm://PREFIX" (Secrets
// Manager through the default AWS configuration) or a directory (file
// backend under refreshDirPrefix). A bad target is a usage error.
func refreshOpenCache(ctx context.Context, env *Env, target string) (tokencache.Backend, string, error) {
	if rest, ok := strings.CutPrefix(target, "sm://"); ok {
		if err := tokencache.ValidatePrefix(rest); err != nil {
			return nil, "", &UsageError{Msg: fmt.Sprintf("token cache %q: %v", target, err)}
		}
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, "", &ExitError{Code: 2, Err: fmt.Errorf("loading the AWS configuration: %w", err)}
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
		kms := strings.TrimSpace(env.Getenv("CENTRALMSP_KMS_KEY_ID"))
		return tokencache.NewSecretsManager(secretsmanager.NewFromConfig(cfg), kms), rest, nil
	}
	if strings.Contains(target, "://") {
		return nil, "", &UsageError{Msg: fmt.Sprintf("token cache %q: want a directory or sm://PREFIX", target)}
	}
	return tokencache.NewDir(target), refreshDirPrefix, nil
}

// refreshRun runs one refresh of the cache from the MSP m.
func refreshRun(ctx context.Context, env *Env, m *msp.MSP, backend tokencache.Backend, prefix string, concurrency int) (*tokencache.Result, error) {
	r, err := tokencache.NewRefresher(tokencache.RefresherOptions{
		Prefix:      prefix,
		Backend:     backend,
		Source:      &tokenrefresh.MSPSource{MSP: m, Logger: env.Logger},
		Concurrency: concurrency,
		Logger:      env.Logger,
		Classify:    tokenrefresh.ClassifyError,
	})
	if err != nil {
		return nil, &ExitError{Code: 2, Err: err}
	}
	return r.Refresh(ctx)
}

// refreshPrintResult prints the figures of a refresh and its failures.
func refreshPrintResult(w io.Writer, res *tokencache.Result, cache, prefix string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "token cache\t%s (prefix %s)\n", cache, prefix)
	fmt.Fprintf(tw, "window\t%s – %s UTC\n", res.WindowStart.UTC().Format("2006-01-02 15:04"), res.WindowEnd.UTC().Format("15:04"))
	list := "complete"
	if !res.ListComplete {
		list = "INCOMPLETE: " + res.ListError
	}
	fmt.Fprintf(tw, "tenants\t%d (list %s; %d new, %d dropped)\n", res.Tenants, list, res.NewTenants, res.Dropped)
	fmt.Fprintf(tw, "exchanged\t%d ok, %d failed\n", res.Exchanged, len(res.Failures))
	fmt.Fprintf(tw, "objects\t%d cache secrets (%d new); %d written, %d skipped (fresh %d, recent %d, conflict %d), %d write errors\n",
		res.TenantSecrets, res.NewTenantSecrets, len(res.Written), len(res.Skipped),
		res.Counts[tokencache.SkipFresh], res.Counts[tokencache.SkipRecent], res.Counts[tokencache.SkipConflict], len(res.Errors))
	fmt.Fprintf(tw, "time\t%s\n", res.Duration.Round(time.Millisecond))
	tw.Flush()
	if len(res.Failures) > 0 {
		fmt.Fprintln(w, "\nfailed tenants:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tNAME\tCLASS\tKEPT PREVIOUS\tMESSAGE")
		for _, f := range res.Failures {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", termsafe.Cell(f.TenantID, 40), termsafe.Cell(f.Name, nameColumn), termsafe.Cell(f.Class, 24), f.KeptPrevious, refreshOneLine(f.Message, 240))
		}
		tw.Flush()
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "write error: %s: %s\n", e.Name, refreshOneLine(e.Message, 200))
	}
}

// refreshOneLine returns s on one line, cut to at most n runes.
func refreshOneLine(s string, n int) string {
	return termsafe.Cell(strings.Join(strings.Fields(s), " "), n)
}
