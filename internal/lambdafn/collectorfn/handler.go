package collectorfn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/events"
	"github.com/centralmsp/centralmsp/internal/lambdafn/credsecret"
	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

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
	// Events receives the audit's events (events.AuditPublisher on
	// CENTRALMSP_EVENT_BUS); nil publishes none.
	Events audit.Publisher
	// Watermarks keeps the audit trail's watermarks with conditional writes
	// (audittrail.SinkStore on the conditional S3 sink of the output bucket
	// and prefix); nil skips the trail with a warning.
	Watermarks audittrail.Store
}

// NewFromEnv reads the configuration and builds the AWS clients from the
// SDK's default configuration (AWS_ENDPOINT_URL_S3, _SECRETS_MANAGER, _SQS
// and _EVENTBRIDGE apply; the region defaults to us-east-1).
func NewFromEnv(ctx context.Context, getenv func(string) string) (*Handler, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := envconf.AWSConfig(ctx, "collector", config.WithDefaultRegion("us-east-1"))
	if err != nil {
		return nil, err
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
		h.Events = events.AuditPublisher{P: events.NewFromConfig(awsCfg, cfg.EventBus)}
	}
	return h, nil
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

// openMSP opens the MSP client (credsecret.OpenMSP) from the configured
// credentials secret and token cache, with 1/share of the account-scoped
// budgets.
func (h *Handler) openMSP(ctx context.Context, share int, log *slog.Logger) (*msp.MSP, error) {
	m, err := credsecret.OpenMSP(ctx, credsecret.MSPConfig{
		SecretsManager: h.SecretsManager,
		Secret:         h.Config.CredentialsSecret, SecretEnv: EnvCredentialsSecret,
		TokenCachePrefix: h.Config.TokenCachePrefix, TokenCacheEnv: EnvTokenCachePrefix,
		Budgets: h.Config.Budgets(share), Now: h.Now, Logger: log,
		Options: h.MSPOptions,
	})
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	return m, nil
}

func (h *Handler) stdout() io.Writer {
	if h.Stdout != nil {
		return h.Stdout
	}
	return os.Stdout
}
