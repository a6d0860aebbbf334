// Package costmodel estimates the monthly AWS cost of the centralmsp SAM
// application from a collection run's own figures (its manifest, or flags),
// scaled to a number of tenants at a collection interval.
//
// The model counts what the application does per run: Lambda GB-seconds
// and requests of the collector (split into shards when one invocation
// cannot finish) and the token refresher; Secrets Manager secrets (token
// cache secrets, the MSP entry, the credentials) and API calls; KMS requests
// of the customer-managed key; S3 PUT/GET/LIST requests and storage kept for
// the retention period; SQS requests of the shard queue (including the event
// source mapping's idle long polling). Free tiers, CloudWatch Logs ingestion
// and data transfer are not included.
package costmodel

import (
	"errors"
	"fmt"
	"math"
)

// Prices in US dollars: AWS us-east-1 public list prices as known on
// 2026-11-24 (aws.amazon.com/lambda/pricing, /secrets-manager/pricing,
// /s3/pricing (S3 Standard, first 50 TB), /sqs/pricing (standard queue),
// /kms/pricing). Free tiers are ignored.
const (
	PriceDate = "2026-11-24"
	PriceNote = "us-east-1 list prices as known on " + PriceDate + " (aws.amazon.com/<service>/pricing); free tiers, CloudWatch Logs and data transfer not included"

	LambdaArmPerGBSecond     = 0.0000133334 // arm64 duration, per GB-second
	LambdaPerMillionRequests = 0.20
	SecretPerMonth           = 0.40 // per secret per month
	SecretsAPIPer10k         = 0.05 // per 10,000 API calls
	KMSKeyPerMonth           = 1.00 // customer-managed key
	KMSPer10kRequests        = 0.03
	S3PutPer1k               = 0.005 // PUT, COPY, POST, LIST
	S3GetPer1k               = 0.0004
	S3StoragePerGBMonth      = 0.023 // S3 Standard, first 50 TB; GB = 2^30 bytes
	SQSPerMillionRequests    = 0.40  // standard queue, 64 KB chunks

	HoursPerMonth = 730.0 // AWS's billing month
	gib           = 1 << 30
)

// Run is one tenant's share of a collection run: the figures a manifest
// gives (or the defaults of a typical run).
type Run struct {
	// Source says where the figures come from (a manifest path or "defaults").
	Source string
	// Tenants is the number of tenants the figures were measured on.
	Tenants int
	// ObjectsPerTenant is the dataset objects written per tenant per run.
	ObjectsPerTenant float64
	// APICallsPerTenant is the Central/GLP requests per tenant per run.
	APICallsPerTenant float64
	// BytesPerTenant is the compressed bytes written per tenant per run.
	BytesPerTenant float64
	// CollectorSecondsPerTenant is collector invocation time per tenant
	// (the run's duration divided by its tenants).
	CollectorSecondsPerTenant float64
	// RefreshSecondsPerTenant is token refresher time per tenant.
	RefreshSecondsPerTenant float64
}

// Config holds the deployment settings the cost depends on.
type Config struct {
	RunsPerMonth          float64 // collection runs per month (hourly: 730)
	RetentionDays         float64 // S3 lifecycle expiry of inventory/ and runs/
	CollectorMemoryMB     float64 // template: CollectorMemorySize
	RefresherMemoryMB     float64 // template: TokenRefreshFunction MemorySize
	InvocationSeconds     float64 // usable seconds of one collector invocation before it shards
	TenantsPerCacheSecret int     // tenants per token cache secret
	// CacheSecrets, when set, returns the number of token cache
	// secrets for a tenant count (e.g. from internal/tokencache's layout);
	// nil means ceil(tenants / TenantsPerCacheSecret).
	CacheSecrets       func(tenants int) int
	IdleSQSPollers     float64 // event source mapping pollers long-polling the empty queue
	SQSLongPollSeconds float64 // long-poll wait of those pollers
}

// DefaultConfig matches template.yaml's defaults at hourly collection.
func DefaultConfig() Config {
	return Config{
		RunsPerMonth:      HoursPerMonth,
		RetentionDays:     90,
		CollectorMemoryMB: 512,
		RefresherMemoryMB: 256,
		// Timeout 900 s minus a minute of margin for the manifest and shards.
		InvocationSeconds: 840,
		// internal/tokencache default layout: 56 KiB target per secret, each
		// entry budgeted at ~1.6 KB of token plus ~0.2 KB of fields.
		TenantsPerCacheSecret: 30,
		IdleSQSPollers:        5,
		SQSLongPollSeconds:    20,
	}
}

// Typical run, stated: a tenant of about 300 devices. Per run it makes one
// page request for each of the six New Central datasets and two GLP
// datasets (8 objects, 8 calls) plus about 2 more pages for the larger
// lists, writes about 120 KB of gzip NDJSON, and is bound by the shared New
// Central budget (8 requests/s per MSP account, docs/DESIGN.md): 6 Central
// calls / 8 per s = 0.75 s of collector time per tenant. A token exchange
// takes about 0.4 s at refresh concurrency 8: 0.05 s per tenant.
func TypicalRun() Run {
	return Run{
		Source:                    "defaults (typical run: ~300 devices per tenant, Central budget 8 req/s)",
		Tenants:                   1,
		ObjectsPerTenant:          8,
		APICallsPerTenant:         10,
		BytesPerTenant:            120_000,
		CollectorSecondsPerTenant: 0.75,
		RefreshSecondsPerTenant:   0.05,
	}
}

// Validate rejects figures that cannot describe a run.
func (r Run) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"objects per tenant", r.ObjectsPerTenant}, {"API calls per tenant", r.APICallsPerTenant},
		{"bytes per tenant", r.BytesPerTenant}, {"collector seconds per tenant", r.CollectorSecondsPerTenant},
		{"refresh seconds per tenant", r.RefreshSecondsPerTenant},
	} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Errorf("costmodel: %s must be a finite number >= 0, got %v", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// Validate rejects settings the model cannot use.
func (c Config) Validate() error {
	var errs []error
	if !(c.RunsPerMonth > 0) {
		errs = append(errs, errors.New("costmodel: runs per month must be > 0"))
	}
	if c.RetentionDays < 0 {
		errs = append(errs, errors.New("costmodel: retention days must be >= 0"))
	}
	if !(c.CollectorMemoryMB > 0) || !(c.RefresherMemoryMB > 0) {
		errs = append(errs, errors.New("costmodel: memory sizes must be > 0"))
	}
	if !(c.InvocationSeconds > 0) {
		errs = append(errs, errors.New("costmodel: invocation seconds must be > 0"))
	}
	if c.TenantsPerCacheSecret < 1 {
		errs = append(errs, errors.New("costmodel: tenants per cache secret must be >= 1"))
	}
	if c.IdleSQSPollers < 0 || c.SQSLongPollSeconds <= 0 {
		errs = append(errs, errors.New("costmodel: SQS pollers must be >= 0 and the long-poll wait > 0"))
	}
	return errors.Join(errs...)
}

// Estimate is the monthly volume and cost at one tenant count.
type Estimate struct {
	Tenants int

	// Per run.
	CollectorSecondsPerRun float64 // total collector invocation time
	Invocations            int     // collector invocations (1, or one per shard)
	Shards                 int     // SQS shard messages (0 when one invocation suffices)
	APICallsPerRun         float64
	BytesPerRun            float64

	// Monthly volumes.
	LambdaGBSeconds   float64
	LambdaRequests    float64
	Secrets           int // secrets billed for the month
	SecretsAPICalls   float64
	KMSRequests       float64
	S3Puts            float64 // PUT/LIST class
	S3Gets            float64
	S3StoredGB        float64 // steady state with the retention period
	SQSRequests       float64
	RunLongerThanSlot bool // a run takes longer than the collection interval

	// Monthly cost in US dollars.
	Lambda, SecretsManager, KMS, S3Requests, S3Storage, SQS, Total float64
}

// Compute estimates the monthly cost for tenants tenants.
func Compute(run Run, cfg Config, tenants int) (Estimate, error) {
	if err := errors.Join(run.Validate(), cfg.Validate()); err != nil {
		return Estimate{}, err
	}
	if tenants < 1 {
		return Estimate{}, fmt.Errorf("costmodel: tenants must be >= 1, got %d", tenants)
	}
	n := float64(tenants)
	runs := cfg.RunsPerMonth
	e := Estimate{Tenants: tenants}

	// Collector: one invocation, or shards of at most InvocationSeconds each.
	e.CollectorSecondsPerRun = n * run.CollectorSecondsPerTenant
	e.Invocations = max(1, int(math.Ceil(e.CollectorSecondsPerRun/cfg.InvocationSeconds)))
	if e.Invocations > 1 {
		e.Shards = e.Invocations
		e.Invocations++ // the scheduled invocation that splits the run
	}
	e.APICallsPerRun = n * run.APICallsPerTenant
	e.BytesPerRun = n * run.BytesPerTenant
	e.RunLongerThanSlot = e.CollectorSecondsPerRun > HoursPerMonth*3600/runs

	refreshSeconds := n * run.RefreshSecondsPerTenant
	e.LambdaGBSeconds = runs * (e.CollectorSecondsPerRun*cfg.CollectorMemoryMB/1024 + refreshSeconds*cfg.RefresherMemoryMB/1024)
	e.LambdaRequests = runs * float64(e.Invocations+1) // + the refresher

	// Secrets Manager: cache secrets + the MSP entry + the credentials secret.
	cacheSecrets := int(math.Ceil(n / float64(cfg.TenantsPerCacheSecret)))
	if cfg.CacheSecrets != nil {
		cacheSecrets = max(1, cfg.CacheSecrets(tenants))
	}
	e.Secrets = cacheSecrets + 2
	listPages := math.Ceil(float64(cacheSecrets+1) / 100) // ListSecrets, 100 per page
	// Refresher per run: credentials, list, then DescribeSecret + GetSecretValue
	// + PutSecretValue for every cache secret and the MSP entry (tokens expire
	// within the hour, so each is rewritten once per window).
	refresherCalls := 1 + listPages + 3*float64(cacheSecrets+1)
	// Collector per invocation: credentials, list, and each cache secret read once.
	collectorCalls := float64(e.Invocations) * (1 + listPages + float64(cacheSecrets+1))
	e.SecretsAPICalls = runs * (refresherCalls + collectorCalls)
	// Every GetSecretValue and PutSecretValue of a CMK-encrypted cache
	// secret makes one KMS request (Decrypt or GenerateDataKey).
	kmsPerRun := 2*float64(cacheSecrets+1) + float64(e.Invocations)*float64(cacheSecrets+1)
	e.KMSRequests = runs * kmsPerRun

	// S3: one PutObject per dataset object (below the 16 MiB multipart
	// threshold), the manifest, a partial manifest per shard, and joining
	// (LIST the shard manifests, GET each, GET the previous manifest for
	// deferred tenants).
	puts := n*run.ObjectsPerTenant + 1 + float64(e.Shards)
	gets := 1.0
	if e.Shards > 0 {
		puts++ // ListObjectsV2 of runs/<id>/shards/ (billed as PUT class)
		gets += float64(e.Shards)
	}
	e.S3Puts = runs * puts
	e.S3Gets = runs * gets
	runsKept := runs / (HoursPerMonth / 24) * cfg.RetentionDays // runs per day x days
	e.S3StoredGB = e.BytesPerRun * runsKept / gib

	// SQS: per shard SendMessage, ReceiveMessage, DeleteMessage; plus the
	// event source mapping's long polls of the empty queue all month.
	e.SQSRequests = runs*3*float64(e.Shards) + cfg.IdleSQSPollers*HoursPerMonth*3600/cfg.SQSLongPollSeconds

	e.Lambda = e.LambdaGBSeconds*LambdaArmPerGBSecond + e.LambdaRequests/1e6*LambdaPerMillionRequests
	e.SecretsManager = float64(e.Secrets)*SecretPerMonth + e.SecretsAPICalls/1e4*SecretsAPIPer10k
	e.KMS = KMSKeyPerMonth + e.KMSRequests/1e4*KMSPer10kRequests
	e.S3Requests = e.S3Puts/1e3*S3PutPer1k + e.S3Gets/1e3*S3GetPer1k
	e.S3Storage = e.S3StoredGB * S3StoragePerGBMonth
	e.SQS = e.SQSRequests / 1e6 * SQSPerMillionRequests
	e.Total = e.Lambda + e.SecretsManager + e.KMS + e.S3Requests + e.S3Storage + e.SQS
	return e, nil
}
