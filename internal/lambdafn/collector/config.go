// Package collector is the collector Lambda: it classifies the event
// (scheduled rule or Scheduler, audit request, SQS shard batch, direct
// invocation), runs the collection engine (internal/collector) into S3 and,
// when a scheduled run does not fit one invocation, shards it over SQS
// (internal/scaleout).
package collector

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/central"
)

// Environment variables the function reads.
const (
	EnvBucket            = "CENTRALMSP_BUCKET"
	EnvPrefix            = "CENTRALMSP_PREFIX"
	EnvCredentialsSecret = "CENTRALMSP_CREDENTIALS_SECRET"
	EnvTokenCachePrefix  = "CENTRALMSP_TOKEN_CACHE_PREFIX"
	EnvConcurrency       = "CENTRALMSP_CONCURRENCY"
	EnvDatasets          = "CENTRALMSP_DATASETS"
	EnvForcePathStyle    = "CENTRALMSP_S3_FORCE_PATH_STYLE"
	EnvShardQueueURL     = "CENTRALMSP_SHARD_QUEUE_URL"
	EnvShardConcurrency  = "CENTRALMSP_SHARD_CONCURRENCY"
	EnvShardSize         = "CENTRALMSP_SHARD_SIZE"
	EnvShardFraction     = "CENTRALMSP_SHARD_FRACTION"
	EnvRunWindow         = "CENTRALMSP_RUN_WINDOW"
	EnvCentralScope      = "CENTRALMSP_CENTRAL_SCOPE"
	EnvGLPScope          = "CENTRALMSP_GLP_SCOPE"
	EnvCentralRate       = "CENTRALMSP_CENTRAL_RATE"
	EnvGLPDevicesRate    = "CENTRALMSP_GLP_DEVICES_RATE"
	EnvGLPSubsRate       = "CENTRALMSP_GLP_SUBSCRIPTIONS_RATE"
)

// Limits of the numeric settings.
const (
	MaxConcurrency      = 256
	MaxShardConcurrency = 1000
	// DefaultShardConcurrency matches template.yaml's ShardConcurrency
	// default (the event source mapping's MaximumConcurrency; AWS minimum 2).
	DefaultShardConcurrency = 2
)

// Config is the function's configuration, read once at start-up.
type Config struct {
	// Bucket and Prefix locate the output (CENTRALMSP_BUCKET, required;
	// CENTRALMSP_PREFIX, optional, e.g. "msp/").
	Bucket, Prefix string
	// CredentialsSecret names the secret with the unified credentials, as
	// JSON or YAML text (CENTRALMSP_CREDENTIALS_SECRET, required).
	CredentialsSecret string
	// TokenCachePrefix is the token cache's secret name prefix
	// (CENTRALMSP_TOKEN_CACHE_PREFIX); empty means every tenant token is
	// exchanged.
	TokenCachePrefix string
	// Concurrency is the tenants collected in parallel per invocation
	// (CENTRALMSP_CONCURRENCY, default collector.DefaultConcurrency).
	Concurrency int
	// Datasets are the scheduled datasets (CENTRALMSP_DATASETS, comma
	// separated; default all but the opt-in audit-logs).
	Datasets []string
	// ForcePathStyle selects S3 path-style addressing
	// (CENTRALMSP_S3_FORCE_PATH_STYLE, a boolean).
	ForcePathStyle bool
	// ShardQueueURL is the SQS queue of shards (CENTRALMSP_SHARD_QUEUE_URL);
	// empty means a scheduled run always runs in-process.
	ShardQueueURL string
	// ShardConcurrency is the event source mapping's MaximumConcurrency
	// (CENTRALMSP_SHARD_CONCURRENCY, default 2): a shard invocation uses
	// 1/ShardConcurrency of every account-scoped budget.
	ShardConcurrency int
	// ShardSize, when > 0, is the most tenants one invocation collects: a
	// scheduled run with more always shards (CENTRALMSP_SHARD_SIZE).
	ShardSize int
	// ShardFraction is the fraction of the function timeout a shard is
	// sized to (CENTRALMSP_SHARD_FRACTION, default 0.5).
	ShardFraction float64
	// RunWindow, when > 0, sets each shard message's deadline_unix to the
	// run's start plus RunWindow (CENTRALMSP_RUN_WINDOW, a Go duration such
	// as 50m): later shards defer their tenants to the next scheduled run.
	RunWindow time.Duration
	// CentralScope and GLPScope set the scope of the New Central budget and
	// of the GLP budgets ("account" or "workspace"; default pkg/central's:
	// Central per account, GLP per workspace).
	CentralScope, GLPScope string
	// CentralRate (requests/s), GLPDevicesRate and GLPSubscriptionsRate
	// (requests/min) override pkg/central's default rates.
	CentralRate, GLPDevicesRate, GLPSubscriptionsRate float64
}

// ConfigFromEnv reads the configuration; every error names its variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := Config{
		Bucket:            get(EnvBucket),
		Prefix:            strings.TrimLeft(get(EnvPrefix), "/"),
		CredentialsSecret: get(EnvCredentialsSecret),
		TokenCachePrefix:  get(EnvTokenCachePrefix),
		ShardQueueURL:     get(EnvShardQueueURL),
		Concurrency:       collector.DefaultConcurrency,
		ShardConcurrency:  DefaultShardConcurrency,
		ShardFraction:     0.5,
	}
	var errs []error
	bad := func(k, v, want string) { errs = append(errs, fmt.Errorf("%s=%q: %s", k, v, want)) }
	if c.Bucket == "" {
		errs = append(errs, fmt.Errorf("%s is not set: give the output bucket name", EnvBucket))
	} else if strings.Contains(c.Bucket, "/") {
		bad(EnvBucket, c.Bucket, "want a bucket name (put the key prefix in "+EnvPrefix+")")
	}
	if c.CredentialsSecret == "" {
		errs = append(errs, fmt.Errorf("%s is not set: give the name or ARN of the secret with the unified MSP credentials", EnvCredentialsSecret))
	}
	if c.TokenCachePrefix != "" {
		if err := tokencache.ValidatePrefix(c.TokenCachePrefix); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvTokenCachePrefix, err))
		}
	}
	intVar := func(k string, lo, hi int, dst *int) {
		v := get(k)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			bad(k, v, fmt.Sprintf("want a whole number from %d to %d", lo, hi))
			return
		}
		*dst = n
	}
	intVar(EnvConcurrency, 1, MaxConcurrency, &c.Concurrency)
	intVar(EnvShardConcurrency, 1, MaxShardConcurrency, &c.ShardConcurrency)
	intVar(EnvShardSize, 1, 1_000_000, &c.ShardSize)
	floatVar := func(k string, lo, hi float64, dst *float64) {
		v := get(k)
		if v == "" {
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f <= lo || f > hi {
			bad(k, v, fmt.Sprintf("want a number above %g and at most %g", lo, hi))
			return
		}
		*dst = f
	}
	floatVar(EnvShardFraction, 0, 1, &c.ShardFraction)
	floatVar(EnvCentralRate, 0, 100_000, &c.CentralRate)
	floatVar(EnvGLPDevicesRate, 0, 1_000_000, &c.GLPDevicesRate)
	floatVar(EnvGLPSubsRate, 0, 1_000_000, &c.GLPSubscriptionsRate)
	if v := get(EnvDatasets); v != "" {
		c.Datasets = strings.Split(v, ",")
		if _, err := collector.SelectDatasets(c.Datasets...); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvDatasets, err))
		}
	}
	if v := get(EnvForcePathStyle); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(EnvForcePathStyle, v, "want true or false")
		}
		c.ForcePathStyle = b
	}
	if v := get(EnvRunWindow); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(EnvRunWindow, v, "want a positive duration such as 50m")
		}
		c.RunWindow = d
	}
	for _, s := range []struct {
		k   string
		dst *string
	}{{EnvCentralScope, &c.CentralScope}, {EnvGLPScope, &c.GLPScope}} {
		v := strings.ToLower(get(s.k))
		switch v {
		case "", "account", "workspace":
			*s.dst = v
		default:
			bad(s.k, v, "want account or workspace")
		}
	}
	if c.ShardQueueURL != "" && !strings.HasPrefix(c.ShardQueueURL, "https://") && !strings.HasPrefix(c.ShardQueueURL, "http://") {
		bad(EnvShardQueueURL, c.ShardQueueURL, "want the queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)")
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("collector: configuration: %w", err)
	}
	return c, nil
}

// Budgets returns the API budgets of one invocation: pkg/central's defaults
// with the configured scopes and rates. share > 1 divides every
// account-scoped rate (and burst) by share, for a shard invocation that
// runs alongside share-1 others of the same account.
func (c Config) Budgets(share int) *central.Budgets {
	b := central.DefaultBudgets()
	scope := func(s string) central.Scope {
		if s == "workspace" {
			return central.ScopeWorkspace
		}
		return central.ScopeAccount
	}
	if c.CentralScope != "" {
		b.SetScope(central.BudgetCentral, scope(c.CentralScope))
	}
	if c.GLPScope != "" {
		for _, n := range []string{central.BudgetGLPDevices, central.BudgetGLPSubscriptions} {
			b.SetScope(n, scope(c.GLPScope))
		}
	}
	setRate := func(name string, perSecond float64) {
		if s, ok := b.Spec(name); ok && perSecond > 0 {
			b.SetRate(name, rate.Limit(perSecond), max(s.Burst, 1))
		}
	}
	setRate(central.BudgetCentral, c.CentralRate)
	setRate(central.BudgetGLPDevices, c.GLPDevicesRate/60)
	setRate(central.BudgetGLPSubscriptions, c.GLPSubscriptionsRate/60)
	if share > 1 {
		for _, n := range []string{central.BudgetCentral, central.BudgetGLPDevices, central.BudgetGLPSubscriptions, central.BudgetGLP} {
			s, ok := b.Spec(n)
			if !ok || s.Scope != central.ScopeAccount || s.Rate == rate.Inf {
				continue
			}
			b.SetRate(n, s.Rate/rate.Limit(share), max(s.Burst/share, 1))
		}
	}
	return b
}
