// Package collectorfn is the collector Lambda: it classifies the event
// (scheduled rule or Scheduler, audit request, SQS shard batch, direct
// invocation), runs the collection engine (internal/collector) into S3 and,
// when a scheduled run does not fit one invocation, shards it over SQS
// (internal/scaleout).
package collectorfn

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/centralmsp/centralmsp/internal/apibudget"
	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/internal/tokencache"
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
	EnvAudit             = "CENTRALMSP_AUDIT"
	EnvAuditRules        = audit.RulesEnv
	EnvAuditTrail        = "CENTRALMSP_AUDIT_TRAIL"
	EnvAuditLookback     = "CENTRALMSP_AUDIT_LOOKBACK"
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
	// Audit makes every scheduled engine run (in-process and each shard)
	// an audit: drift against the tenants' baselines, findings, events and
	// the report (CENTRALMSP_AUDIT, a boolean, default true).
	Audit bool
	// AuditRules are the finding rules (CENTRALMSP_AUDIT_RULES: the rules
	// as JSON, or a file path in the deployment package; default the
	// built-in rules).
	AuditRules *audit.Rules
	// AuditTrail makes the scheduled run (in-process, and each shard) and
	// an AuditRequest copy the collected tenants' GreenLake audit logs
	// incrementally (internal/audittrail, watermarks under
	// watermarks/audit-logs/) (CENTRALMSP_AUDIT_TRAIL, a boolean, default
	// true).
	AuditTrail bool
	// AuditLookback is how far back a tenant's first audit trail run
	// starts (CENTRALMSP_AUDIT_LOOKBACK, a Go duration, default 24h).
	AuditLookback time.Duration
	// Budget adjusts pkg/central's default budgets
	// (CENTRALMSP_CENTRAL_SCOPE, CENTRALMSP_GLP_SCOPE,
	// CENTRALMSP_CENTRAL_RATE in requests/s, CENTRALMSP_GLP_DEVICES_RATE and
	// CENTRALMSP_GLP_SUBSCRIPTIONS_RATE in requests/min). Config.Budgets(share)
	// is its Budgets.
	apibudget.Config
}

// ConfigFromEnv reads the configuration; every error names its variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	e := &envReader{getenv: getenv}
	c := Config{
		Bucket:            e.get(EnvBucket),
		Prefix:            strings.TrimLeft(e.get(EnvPrefix), "/"),
		CredentialsSecret: e.get(EnvCredentialsSecret),
		TokenCachePrefix:  e.get(EnvTokenCachePrefix),
		ShardQueueURL:     e.get(EnvShardQueueURL),
		Concurrency:       collector.DefaultConcurrency,
		ShardConcurrency:  DefaultShardConcurrency,
		ShardFraction:     scaleout.DefaultShardFraction,
		Audit:             true,
		AuditTrail:        true,
		AuditLookback:     audittrail.DefaultLookback,
	}
	e.checkLocations(&c)
	e.intVar(EnvConcurrency, 1, MaxConcurrency, &c.Concurrency)
	e.intVar(EnvShardConcurrency, 1, MaxShardConcurrency, &c.ShardConcurrency)
	e.intVar(EnvShardSize, 1, 1_000_000, &c.ShardSize)
	e.floatVar(EnvShardFraction, 0, 1, &c.ShardFraction)
	e.floatVar(EnvCentralRate, 0, 100_000, &c.CentralRate)
	e.floatVar(EnvGLPDevicesRate, 0, 1_000_000, &c.GLPDevicesRate)
	e.floatVar(EnvGLPSubsRate, 0, 1_000_000, &c.GLPSubscriptionsRate)
	e.scopeVar(EnvCentralScope, &c.CentralScope)
	e.scopeVar(EnvGLPScope, &c.GLPScope)
	if v := e.get(EnvDatasets); v != "" {
		c.Datasets = strings.Split(v, ",")
		if _, err := collector.SelectDatasets(c.Datasets...); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: %w", EnvDatasets, err))
		}
	}
	e.boolVar(EnvForcePathStyle, &c.ForcePathStyle)
	e.boolVar(EnvAudit, &c.Audit)
	e.boolVar(EnvAuditTrail, &c.AuditTrail)
	e.durationVar(EnvAuditLookback, "24h", &c.AuditLookback)
	if v := e.get(EnvAuditRules); v != "" {
		data, source := []byte(v), EnvAuditRules
		if !strings.HasPrefix(v, "{") {
			b, err := os.ReadFile(v)
			if err != nil {
				e.errs = append(e.errs, fmt.Errorf("%s: %w", EnvAuditRules, err))
			}
			data, source = b, v
		}
		if len(data) > 0 {
			r, err := audit.ParseRules(data, source)
			if err != nil {
				e.errs = append(e.errs, fmt.Errorf("%s: %w", EnvAuditRules, err))
			}
			c.AuditRules = r
		}
	}
	e.durationVar(EnvRunWindow, "50m", &c.RunWindow)
	if err := errors.Join(e.errs...); err != nil {
		return Config{}, fmt.Errorf("collector: configuration: %w", err)
	}
	return c, nil
}

// boolVar sets *dst from name when it is set: true or false.
func (e *envReader) boolVar(name string, dst *bool) {
	v := e.get(name)
	if v == "" {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.bad(name, v, "want true or false")
	}
	*dst = b
}

// durationVar sets *dst from name when it is set: a positive duration.
func (e *envReader) durationVar(name, example string, dst *time.Duration) {
	v := e.get(name)
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.bad(name, v, "want a positive duration such as "+example)
	}
	*dst = d
}

// envReader reads variables and collects every error, each naming its
// variable.
type envReader struct {
	getenv func(string) string
	errs   []error
}

func (e *envReader) get(k string) string { return strings.TrimSpace(e.getenv(k)) }

func (e *envReader) bad(k, v, want string) {
	e.errs = append(e.errs, fmt.Errorf("%s=%q: %s", k, v, want))
}

// checkLocations checks the required bucket and secret, the token cache
// prefix and the queue URL.
func (e *envReader) checkLocations(c *Config) {
	if c.Bucket == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is not set: give the output bucket name", EnvBucket))
	} else if strings.Contains(c.Bucket, "/") {
		e.bad(EnvBucket, c.Bucket, "want a bucket name (put the key prefix in "+EnvPrefix+")")
	}
	if c.CredentialsSecret == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is not set: give the name or ARN of the secret with the unified MSP credentials", EnvCredentialsSecret))
	}
	if c.TokenCachePrefix != "" {
		if err := tokencache.ValidatePrefix(c.TokenCachePrefix); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s: %w", EnvTokenCachePrefix, err))
		}
	}
	if c.ShardQueueURL != "" && !strings.HasPrefix(c.ShardQueueURL, "https://") && !strings.HasPrefix(c.ShardQueueURL, "http://") {
		e.bad(EnvShardQueueURL, c.ShardQueueURL, "want the queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)")
	}
}

func (e *envReader) intVar(k string, lo, hi int, dst *int) {
	v := e.get(k)
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.bad(k, v, fmt.Sprintf("want a whole number from %d to %d", lo, hi))
		return
	}
	*dst = n
}

func (e *envReader) floatVar(k string, lo, hi float64, dst *float64) {
	v := e.get(k)
	if v == "" {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f <= lo || f > hi {
		e.bad(k, v, fmt.Sprintf("want a number above %g and at most %g", lo, hi))
		return
	}
	*dst = f
}

func (e *envReader) scopeVar(k string, dst *string) {
	v := strings.ToLower(e.get(k))
	if _, _, err := apibudget.ParseScope(v); err != nil {
		e.bad(k, v, "want account or workspace")
		return
	}
	*dst = v
}
