package scaleout

import (
	"context"
	"log/slog"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// EngineRunner is the Runner of the Lambda function and the demo: the
// collector engine over an MSP client, writing into Store.
type EngineRunner struct {
	// Connect opens the MSP client with 1/share of every account-scoped
	// budget.
	Connect func(ctx context.Context, share int) (*msp.MSP, error)
	// Store receives the dataset objects and manifests.
	Store sink.Sink
	// Progress, if set, receives the engine's progress events.
	Progress func(collector.Event)
	// Ran, if set, is called with every engine run's manifest (metrics).
	Ran func(ctx context.Context, m *collector.Manifest)
	// Logger receives the warnings of closing a client.
	Logger *slog.Logger
}

var _ Runner = (*EngineRunner)(nil)

// Open implements Runner.
func (r *EngineRunner) Open(ctx context.Context, share int) (Session, error) {
	m, err := r.Connect(ctx, share)
	if err != nil {
		return nil, err
	}
	return &engineSession{r: r, m: m}, nil
}

type engineSession struct {
	r *EngineRunner
	m *msp.MSP
}

func (s *engineSession) List(ctx context.Context) ([]collector.ListedTenant, error) {
	return collector.ListTenants(ctx, collector.FromMSP(s.m))
}

func (s *engineSession) Run(ctx context.Context, cfg collector.Config) (*collector.Manifest, error) {
	cfg.MSP = collector.FromMSP(s.m)
	cfg.Sink = s.r.Store
	if cfg.Progress == nil {
		cfg.Progress = s.r.Progress
	}
	man, err := collector.Run(ctx, cfg)
	if man != nil && s.r.Ran != nil {
		s.r.Ran(ctx, man)
	}
	return man, err
}

func (s *engineSession) Close(ctx context.Context) {
	if err := s.m.Close(); err != nil && s.r.Logger != nil {
		s.r.Logger.WarnContext(ctx, "closing the MSP client", slog.Any("error", err))
	}
}
