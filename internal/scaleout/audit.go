package scaleout

import (
	"context"
	"log/slog"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// Audit starts the audit of one engine run the coordinator is about to
// start (in-process or a shard): cfg has the run's RunID, Shard and Date.
// It returns the observer the engine reports every item and tenant to and
// the function that finishes the audit once the engine returned (drift,
// baselines, findings, events, summary and report written). internal/audit
// provides one (audit.RunHook).
type Audit func(ctx context.Context, cfg collector.Config) (collector.ItemObserver, AuditFinish, error)

// AuditFinish finishes an engine run's audit; man is the run's manifest
// (nil when the engine wrote none).
type AuditFinish func(ctx context.Context, man *collector.Manifest) (*AuditOutcome, error)

// AuditOutcome is what an engine run's audit wrote.
type AuditOutcome struct {
	// Summary and Report are the keys of the audit summary and the HTML
	// report (Report is empty when it could not be written).
	Summary string `json:"summary"`
	Report  string `json:"report,omitempty"`
	// Location is the store's root (e.g. s3://bucket/prefix/).
	Location string `json:"location,omitempty"`
	// ReportURI is where the report is, Location and Report joined
	// (objectURI): s3://bucket/prefix/audit/.../report.html, or a file
	// path for a directory store; empty without a report.
	ReportURI string `json:"report_uri,omitempty"`
	Changes   int    `json:"changes"`
	Findings  int    `json:"findings"`
	// EventsSent and EventsFailed count the published events (failed ones
	// stay only in the drift and findings objects).
	EventsSent   int `json:"events_sent"`
	EventsFailed int `json:"events_failed"`
	Errors       int `json:"errors"`
}

// runEngine runs the engine in s with cfg, observed by c.Audit when set.
// The audit's own failures never fail the run: they are logged and
// returned as warnings.
func (c *Coordinator) runEngine(ctx context.Context, s Session, cfg collector.Config, log *slog.Logger) (*collector.Manifest, *AuditOutcome, []string, error) {
	if c.Audit == nil {
		man, err := s.Run(ctx, cfg)
		return man, nil, nil, err
	}
	if cfg.Date == "" {
		cfg.Date = runDate(cfg.RunID, c.now())
	}
	obs, finish, aerr := c.Audit(ctx, cfg)
	if aerr != nil {
		log.WarnContext(ctx, "the run is not audited", slog.Any("error", aerr))
		man, err := s.Run(ctx, cfg)
		return man, nil, []string{"audit: " + aerr.Error()}, err
	}
	cfg.Observer = obs
	man, err := s.Run(ctx, cfg)
	// The finish budget starts once the observer's own work (comparisons
	// and their events, still going after Run returns) is done.
	if w, ok := obs.(interface{ Wait() }); ok {
		w.Wait()
	}
	// Detached: the audit is finished even when the run used its time up.
	fctx, cancel := detached(ctx)
	defer cancel()
	out, ferr := finish(fctx, man)
	if out != nil && out.Report != "" {
		loc := out.Location
		if loc == "" && c.Store != nil {
			loc = c.Store.String()
		}
		out.ReportURI = objectURI(loc, out.Report)
	}
	var warnings []string
	if ferr != nil {
		log.WarnContext(ctx, "the audit finished with errors", slog.Any("error", ferr))
		warnings = append(warnings, "audit: "+ferr.Error())
	}
	if out != nil {
		log.InfoContext(ctx, "run audited", slog.String("report", out.ReportURI), slog.Int("changes", out.Changes),
			slog.Int("findings", out.Findings), slog.Int("events_sent", out.EventsSent), slog.Int("events_failed", out.EventsFailed))
	}
	return man, out, warnings, err
}
