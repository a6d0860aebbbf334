package tokenrefresh

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/centralmsp/centralmsp/internal/emf"
	"github.com/centralmsp/centralmsp/internal/lambdafn/credsecret"
	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// Handler runs one refresh per scheduled event.
type Handler struct {
	Config Config
	// SecretsManager is used for the credentials secret and the cache.
	SecretsManager tokencache.SecretsManagerAPI
	// MSPOptions are applied to the MSP client (tests: its logger or HTTP
	// client).
	MSPOptions []func(*msp.Options)
	// Schedule (zero fields: tokencache.DefaultSchedule()).
	Schedule tokencache.Schedule
	// Classify names exchange error classes (default ClassifyError).
	Classify func(error) string
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Stdout receives the run's EMF metric line (default os.Stdout, which
	// Lambda sends to CloudWatch Logs).
	Stdout io.Writer
}

// NewFromEnv reads the configuration and the AWS SDK's standard
// configuration (so AWS_ENDPOINT_URL_SECRETS_MANAGER and friends apply).
func NewFromEnv(ctx context.Context, getenv func(string) string) (*Handler, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := envconf.AWSConfig(ctx, "tokenrefresh")
	if err != nil {
		return nil, err
	}
	return &Handler{Config: cfg, SecretsManager: secretsmanager.NewFromConfig(awsCfg)}, nil
}

// Summary is the function's result. It never holds a token.
type Summary struct {
	RequestID string `json:"request_id,omitempty"`
	*tokencache.Result
}

// Handle refreshes the cache. The event is only logged: EventBridge rules
// send an object as detail, EventBridge Scheduler a string, and both work.
// It returns an error (so the invocation fails and alarms fire) when the
// configuration, the credentials or the MSP token are unusable, when a
// cache secret does not parse, or when nothing could be written.
func (h *Handler) Handle(ctx context.Context, ev events.EventBridgeEvent) (*Summary, error) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	sum := &Summary{}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		sum.RequestID = lc.AwsRequestID
		log = log.With("request_id", lc.AwsRequestID)
	}
	log.InfoContext(ctx, "token refresh started", "event_source", ev.Source, "event_time", ev.Time, "prefix", h.Config.Prefix)
	m, err := credsecret.OpenMSP(ctx, credsecret.MSPConfig{
		SecretsManager: h.SecretsManager,
		Secret:         h.Config.CredentialsSecret, SecretEnv: EnvCredentialsSecret,
		Logger: log, Options: h.MSPOptions,
	})
	if err != nil {
		return nil, fmt.Errorf("tokenrefresh: %w", err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			log.WarnContext(ctx, "closing the MSP client", "err", err)
		}
	}()
	classify := h.Classify
	if classify == nil {
		classify = ClassifyError
	}
	r, err := tokencache.NewRefresher(tokencache.RefresherOptions{
		Prefix:      h.Config.Prefix,
		Backend:     tokencache.NewSecretsManager(h.SecretsManager, h.Config.KMSKeyID),
		Source:      &MSPSource{MSP: m, Logger: log},
		Schedule:    h.Schedule,
		Concurrency: h.Config.Concurrency,
		Now:         h.Now,
		Logger:      log,
		Classify:    classify,
	})
	if err != nil {
		return nil, err
	}
	res, err := r.Refresh(ctx)
	sum.Result = res
	if res != nil {
		if merr := h.publish(res, sum.RequestID); merr != nil {
			log.ErrorContext(ctx, "writing metrics failed", "err", merr)
		}
	}
	if err != nil {
		if res != nil {
			log.ErrorContext(ctx, "token refresh failed", "err", err, "written", len(res.Written), "failures", len(res.Failures))
		}
		return nil, err
	}
	for _, f := range res.Failures {
		log.WarnContext(ctx, "tenant token exchange failed", "tenant", f.TenantID, "name", f.Name, "class", f.Class, "kept_previous", f.KeptPrevious, "err", f.Message)
	}
	return sum, nil
}

// publish writes the refresh's figures as a CloudWatch EMF line with the
// dimension Function=tokenrefresh; template.yaml alarms on TenantsFailed.
func (h *Handler) publish(res *tokencache.Result, requestID string) error {
	w := h.Stdout
	if w == nil {
		w = os.Stdout
	}
	now := h.Now
	if now == nil {
		now = time.Now
	}
	props := map[string]any{}
	if requestID != "" {
		props["RequestID"] = requestID
	}
	return emf.Line{
		Dimensions: map[string]string{"Function": "tokenrefresh"},
		Properties: props,
		Timestamp:  now(),
		Metrics: []emf.Metric{
			{Name: "Tenants", Unit: "Count", Value: res.Tenants},
			{Name: "TenantsExchanged", Unit: "Count", Value: res.Exchanged},
			{Name: "TenantsFailed", Unit: "Count", Value: len(res.Failures)},
			{Name: "ShardsWritten", Unit: "Count", Value: len(res.Written)},
			{Name: "ShardsSkipped", Unit: "Count", Value: len(res.Skipped)},
			{Name: "WriteErrors", Unit: "Count", Value: len(res.Errors)},
			{Name: "Duration", Unit: "Milliseconds", Value: res.Duration.Milliseconds()},
		},
	}.Write(w)
}
