// Package collectorfn is the collector Lambda's adapter: it decodes the
// event (scheduled rule or Scheduler, audit request, SQS shard batch,
// direct invocation), reads the configuration from the environment, hands
// the event to the scale-out coordinator (internal/scaleout), which runs
// the collection engine into S3 or shards the run over SQS, and shapes the
// outcome as the invocation's response.
package collectorfn

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/centralmsp/centralmsp/internal/apibudget"
	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/events"
	"github.com/centralmsp/centralmsp/internal/lambdafn/credsecret"
	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
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
	// EnvEventBus names the EventBridge bus the audit's events go to
	// (template parameter EventBusName).
	EnvEventBus = "CENTRALMSP_EVENT_BUS"
)

// PublishedSource is the source of the events the collector publishes
// (never one that invokes it).
const PublishedSource = events.Source

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
	// EventBus is the bus, a name or an ARN, the audit's events are
	// published to (CENTRALMSP_EVENT_BUS; empty means the account's default
	// bus).
	EventBus string
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
	r := envconf.New(getenv)
	c := Config{
		Bucket:           r.Required(EnvBucket, "give the output bucket name"),
		Prefix:           strings.TrimLeft(r.Get(EnvPrefix), "/"),
		TokenCachePrefix: r.Get(EnvTokenCachePrefix),
		ShardQueueURL:    r.Get(EnvShardQueueURL),
		EventBus:         r.Get(EnvEventBus),
		Concurrency:      collector.DefaultConcurrency,
		ShardConcurrency: DefaultShardConcurrency,
		ShardFraction:    scaleout.DefaultShardFraction,
		Audit:            true,
		AuditTrail:       true,
		AuditLookback:    audittrail.DefaultLookback,
	}
	checkLocations(r, &c)
	r.Int(EnvConcurrency, 1, MaxConcurrency, &c.Concurrency)
	checkMemory(r, c.Concurrency)
	r.Int(EnvShardConcurrency, 1, MaxShardConcurrency, &c.ShardConcurrency)
	r.Int(EnvShardSize, 1, 1_000_000, &c.ShardSize)
	r.Float(EnvShardFraction, 0, 1, &c.ShardFraction)
	r.Float(EnvCentralRate, 0, 100_000, &c.CentralRate)
	r.Float(EnvGLPDevicesRate, 0, 1_000_000, &c.GLPDevicesRate)
	r.Float(EnvGLPSubsRate, 0, 1_000_000, &c.GLPSubscriptionsRate)
	c.CentralScope = scope(r, EnvCentralScope)
	c.GLPScope = scope(r, EnvGLPScope)
	if v := r.Get(EnvDatasets); v != "" {
		c.Datasets = strings.Split(v, ",")
		_, err := collector.SelectDatasets(c.Datasets...)
		r.Check(EnvDatasets, err)
	}
	r.Bool(EnvForcePathStyle, &c.ForcePathStyle)
	r.Bool(EnvAudit, &c.Audit)
	r.Bool(EnvAuditTrail, &c.AuditTrail)
	r.Duration(EnvAuditLookback, "24h", &c.AuditLookback)
	c.AuditRules = auditRules(r)
	r.Duration(EnvRunWindow, "50m", &c.RunWindow)
	if err := r.Err("collector"); err != nil {
		return Config{}, err
	}
	return c, nil
}

// checkLocations checks the bucket name, reads the required credentials
// secret, and checks the token cache prefix and the queue URL.
func checkLocations(r *envconf.Reader, c *Config) {
	if strings.Contains(c.Bucket, "/") {
		r.Bad(EnvBucket, c.Bucket, "want a bucket name (put the key prefix in "+EnvPrefix+")")
	}
	c.CredentialsSecret = r.Required(EnvCredentialsSecret, credsecret.RequiredHint)
	if c.TokenCachePrefix != "" {
		r.Check(EnvTokenCachePrefix, tokencache.ValidatePrefix(c.TokenCachePrefix))
	}
	if c.ShardQueueURL != "" && !strings.HasPrefix(c.ShardQueueURL, "https://") && !strings.HasPrefix(c.ShardQueueURL, "http://") {
		r.Bad(EnvShardQueueURL, c.ShardQueueURL, "want the queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)")
	}
}

// checkMemory refuses a concurrency whose collector.MemoryNeeded exceeds
// the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, when Lambda
// sets it): such a run is stopped for memory when its CPU falls behind
// the answers, and loses the run's manifest with it. Better to say so at
// start-up, with the concurrency that fits.
func checkMemory(r *envconf.Reader, concurrency int) {
	mb := envconf.FunctionMemoryMB(r.Get)
	memory, need := int64(mb)<<20, collector.MemoryNeeded(concurrency)
	if mb == 0 || need <= memory {
		return
	}
	perTenant := collector.MemoryNeeded(1) - collector.BaseMemory
	r.Bad(EnvConcurrency, strconv.Itoa(concurrency), fmt.Sprintf(
		"at most %d in a %d MB function: each tenant in flight can hold %.1f MB of gzip streams and pages while the CPU falls behind, "+
			"besides %d MB for the rest; lower it, or give the function %d MB (CollectorMemorySize)",
		collector.ConcurrencyFor(memory), mb, float64(perTenant)/(1<<20), collector.BaseMemory>>20, (need+(1<<20)-1)>>20))
}

// scope reads a budget scope: account, workspace (any case), or unset.
func scope(r *envconf.Reader, name string) string {
	v := strings.ToLower(r.Get(name))
	if _, _, err := apibudget.ParseScope(v); err != nil {
		r.Bad(name, v, "want account or workspace")
		return ""
	}
	return v
}

// auditRules reads CENTRALMSP_AUDIT_RULES: the rules as a JSON object, or
// the path of a file holding them; nil when unset (the built-in rules).
func auditRules(r *envconf.Reader) *audit.Rules {
	v := r.Get(EnvAuditRules)
	if v == "" {
		return nil
	}
	rules, err := audit.LoadRules(v, EnvAuditRules)
	r.Check(EnvAuditRules, err)
	return rules
}
