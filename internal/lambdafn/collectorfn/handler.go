package collectorfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/events"
	"github.com/centralmsp/centralmsp/internal/lambdafn/credsecret"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// EMF dimensions: template.yaml's CollectorTenantsFailedAlarm watches
// namespace CentralMSP, metric TenantsFailed, dimension Function=collector.
// Every engine run (in-process, shard, audit, direct) is published with
// EMFDimensions(); a joined sharded run also with JoinedEMFDimensions()
// (another metric in CloudWatch, so the alarm does not count a run's tenants
// twice). They are functions so no caller can change them for everyone.
func EMFDimensions() map[string]string { return map[string]string{"Function": "collector"} }

// JoinedEMFDimensions are the dimensions of a joined sharded run's figures.
func JoinedEMFDimensions() map[string]string {
	return map[string]string{"Function": "collector", "Run": "joined"}
}

// Handler serves every trigger of the collector function.
type Handler struct {
	Config Config
	// Store holds the dataset objects, the manifests and the run objects.
	Store sink.Sink
	// SecretsManager reads the credentials secret and the token cache.
	SecretsManager tokencache.SecretsManagerAPI
	// SQS sends shard messages and reads the queue's backlog; nil when no
	// queue is configured.
	SQS scaleout.QueueAPI
	// Stdout receives the EMF lines (default os.Stdout).
	Stdout io.Writer
	// Logger defaults to a JSON handler on stderr.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MSPOptions are applied to every MSP client (tests: HTTP client).
	MSPOptions []func(*msp.Options)
	// Latency is the planner's assumed request latency (default
	// scaleout.DefaultLatency).
	Latency time.Duration
	// Events receives the audit's events (EventPublisher on
	// CENTRALMSP_EVENT_BUS); nil publishes none.
	Events audit.Publisher
	// Watermarks keeps the audit trail's watermarks with conditional writes
	// (audittrail.SinkStore on the conditional S3 sink of the output bucket
	// and prefix); nil skips the
	// trail with a warning.
	Watermarks audittrail.Store
}

// NewFromEnv reads the configuration and builds the AWS clients from the
// SDK's default configuration (AWS_ENDPOINT_URL_S3, _SECRETS_MANAGER and
// _SQS apply).
func NewFromEnv(ctx context.Context, getenv func(string) string) (*Handler, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("collector: loading the AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.ForcePathStyle
		// S3-compatible stores send no checksums: no log line per read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	store := sink.NewS3(s3c, cfg.Bucket, cfg.Prefix)
	h := &Handler{
		Config:         cfg,
		Store:          store,
		SecretsManager: secretsmanager.NewFromConfig(awsCfg),
		Logger:         slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	}
	if cfg.AuditTrail {
		h.Watermarks = audittrail.SinkStore{Sink: store.(sink.Conditional)}
	}
	if cfg.ShardQueueURL != "" {
		h.SQS = sqs.NewFromConfig(awsCfg)
	}
	if cfg.Audit {
		h.Events = EventPublisher{P: events.New(eventbridge.NewFromConfig(awsCfg), EventBus())}
	}
	return h, nil
}

// Summary is the result of a scheduled, audit or direct invocation. It
// never holds a token or secret.
type Summary struct {
	RequestID string `json:"request_id,omitempty"`
	Kind      Kind   `json:"kind"`
	RunID     string `json:"run_id"`
	// Mode of a scheduled run: "in-process", "sharded", or "skipped" when
	// shards of an earlier run are still queued.
	Mode   string `json:"mode,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Shards sent, for a sharded run; Plan is its key.
	Shards int    `json:"shards,omitempty"`
	Plan   string `json:"plan,omitempty"`
	// Manifest is the key of the run's manifest (in-process runs).
	Manifest        string   `json:"manifest,omitempty"`
	Complete        bool     `json:"complete"`
	Tenants         int      `json:"tenants"`
	TenantsOK       int      `json:"tenants_ok"`
	TenantsFailed   int      `json:"tenants_failed"`
	TenantsDeferred int      `json:"tenants_deferred"`
	Records         int64    `json:"records"`
	APICalls        int64    `json:"api_calls"`
	RateLimited     int64    `json:"rate_limited"`
	TokenCacheHits  int64    `json:"token_cache_hits"`
	Exchanges       int64    `json:"exchanges"`
	DurationMS      int64    `json:"duration_ms"`
	Warnings        []string `json:"warnings,omitempty"`
	// Estimate is the planner's estimate of a scheduled run in one
	// invocation; RunEstimateMS its estimated wall time as planned.
	Estimate      *scaleout.Estimate `json:"estimate,omitempty"`
	RunEstimateMS int64              `json:"run_estimate_ms,omitempty"`
	// Audit is where the scheduled in-process run's audit is (summary and
	// report keys under Location).
	Audit *scaleout.AuditOutcome `json:"audit,omitempty"`
	// AuditTrail is the incremental audit trail's outcome
	// (CENTRALMSP_AUDIT_TRAIL): the scheduled in-process run's collected
	// tenants, or an AuditRequest's tenants.
	AuditTrail *TrailSummary `json:"audit_trail,omitempty"`
}

// TrailSummary is the incremental audit trail's outcome in an invocation's
// Summary: per tenant its status, records and object keys.
type TrailSummary = scaleout.TrailOutcome

// fill sets the run's id, manifest key and figures from m (none when nil).
func (s *Summary) fill(m *collector.Manifest) {
	if m == nil {
		return
	}
	s.RunID, s.Manifest = m.RunID, collector.ManifestKey(m.RunID)
	t := m.Totals
	s.Complete = m.Complete
	s.Tenants, s.TenantsOK, s.TenantsFailed, s.TenantsDeferred = t.Tenants, t.TenantsOK, t.TenantsFailed, t.TenantsDeferred
	s.Records, s.APICalls, s.RateLimited = t.Records, t.APICalls, t.RateLimited
	s.TokenCacheHits, s.Exchanges, s.DurationMS = t.TokenCacheHits, t.Exchanges, t.DurationMS
}

func (h *Handler) stdout() io.Writer {
	if h.Stdout != nil {
		return h.Stdout
	}
	return os.Stdout
}

// Handle serves one invocation (see DecodeEvent for the event kinds). For an
// SQS batch it returns events.SQSEventResponse listing the shards that
// failed as a whole (SQS retries them, then the dead-letter queue); for the
// others a *Summary. It returns an error for an unusable event or
// configuration and when nothing could be collected; tenant and dataset
// failures are in the manifest and the metrics.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	reqID := ""
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		reqID = lc.AwsRequestID
		log = log.With(slog.String("request_id", reqID))
	}
	inv, err := DecodeEvent(raw)
	if err != nil {
		log.ErrorContext(ctx, "unusable event", slog.Any("error", err))
		return nil, err
	}
	log = log.With(slog.String("kind", string(inv.Kind)))
	switch inv.Kind {
	case KindShards:
		return h.shards(ctx, inv.SQS, log), nil
	case KindScheduled:
		return h.scheduled(ctx, reqID, log)
	case KindAudit:
		return h.audit(ctx, reqID, inv.Audit, log)
	default:
		return h.direct(ctx, reqID, inv.Direct, log)
	}
}

// openMSP reads the credentials secret and opens the MSP client with the
// token cache reader (if configured) and budgets.
func (h *Handler) openMSP(ctx context.Context, budgets *central.Budgets, log *slog.Logger) (*msp.MSP, error) {
	if h.SecretsManager == nil {
		return nil, errors.New("collector: no Secrets Manager client")
	}
	data, format, err := credsecret.Read(ctx, h.SecretsManager, h.Config.CredentialsSecret, EnvCredentialsSecret)
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	source := "secret " + h.Config.CredentialsSecret
	creds, err := central.ParseCredentials(data, format, source)
	if err != nil {
		return nil, fmt.Errorf("collector: credentials in %s (%s): %w", h.Config.CredentialsSecret, EnvCredentialsSecret, err)
	}
	opts := []func(*msp.Options){func(o *msp.Options) {
		o.Logger = log
		o.Budgets = budgets
		o.Now = h.Now
	}}
	if h.Config.TokenCachePrefix != "" {
		rd, err := tokencache.NewReader(tokencache.ReaderOptions{
			Prefix: h.Config.TokenCachePrefix, Backend: tokencache.NewSecretsManager(h.SecretsManager, ""), Now: h.Now, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("collector: %s: %w", EnvTokenCachePrefix, err)
		}
		// A Reader miss matches msp.ErrTokenMiss: the tenant's token is exchanged.
		opts = append(opts, func(o *msp.Options) { o.TenantTokens = rd })
	}
	m, err := msp.New(creds, append(opts, h.MSPOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("collector: credentials in %s (%s): %w", h.Config.CredentialsSecret, EnvCredentialsSecret, err)
	}
	return m, nil
}

// runner is the engine runner of one invocation: the MSP client from the
// credentials secret, the Store, and the run's metrics on Stdout.
func (h *Handler) runner(log *slog.Logger) *scaleout.EngineRunner {
	return &scaleout.EngineRunner{
		Connect: func(ctx context.Context, share int) (*msp.MSP, error) {
			return h.openMSP(ctx, h.Config.Budgets(share), log)
		},
		Store:  h.Store,
		Ran:    h.emf(log, EMFDimensions()),
		Logger: log,
	}
}

// emf returns a function that publishes a manifest's figures as one EMF
// line with dims.
func (h *Handler) emf(log *slog.Logger, dims map[string]string) func(context.Context, *collector.Manifest) {
	return func(ctx context.Context, m *collector.Manifest) {
		if err := collector.WriteEMF(h.stdout(), m, collector.EMFOptions{Dimensions: dims}); err != nil {
			log.ErrorContext(ctx, "writing metrics failed", slog.Any("error", err))
		}
	}
}

// direct serves a direct invocation through the coordinator.
func (h *Handler) direct(ctx context.Context, reqID string, req *DirectRequest, log *slog.Logger) (*Summary, error) {
	out, err := h.coordinator(log).RunDirect(ctx, scaleout.DirectPlan{Tenants: req.Tenants, Datasets: req.Datasets, RunID: req.RunID})
	if err != nil {
		return nil, err
	}
	sum := &Summary{RequestID: reqID, Kind: KindDirect, Warnings: out.Warnings}
	sum.fill(out.Manifest)
	return sum, nil
}

// audit serves an AuditRequest through the coordinator: the since-filtered
// audit-logs dataset, the audited collection and the audit trail.
func (h *Handler) audit(ctx context.Context, reqID string, req *AuditRequest, log *slog.Logger) (*Summary, error) {
	since, err := req.SinceTime()
	if err != nil {
		return nil, err
	}
	out, err := h.coordinator(log).RunAudit(ctx, scaleout.AuditPlan{Tenants: req.Tenants, Since: since})
	if err != nil {
		return nil, err
	}
	sum := &Summary{RequestID: reqID, Kind: KindAudit, Warnings: out.Warnings, Audit: out.Audit, AuditTrail: out.AuditTrail}
	sum.fill(out.Logs)
	return sum, nil
}
