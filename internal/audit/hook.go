package audit

import (
	"context"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
)

// RunHook returns the scale-out coordinator's audit hook: every engine run
// it starts (in-process or a shard) gets an Auditor made from base with the
// run's RunID, Shard and Date (Now and Logger default to the run's), and is
// finished after the run (Auditor.Finish).
func RunHook(base Options) scaleout.Audit {
	return func(ctx context.Context, cfg collector.Config) (collector.ItemObserver, scaleout.AuditFinish, error) {
		o := base
		o.RunID, o.Shard, o.Date = cfg.RunID, cfg.Shard, cfg.Date
		if o.Now == nil && cfg.Now != nil {
			o.Now = cfg.Now
		}
		if o.Logger == nil {
			o.Logger = cfg.Logger
		}
		a, err := New(o)
		if err != nil {
			return nil, nil, err
		}
		finish := func(ctx context.Context, man *collector.Manifest) (*scaleout.AuditOutcome, error) {
			sum, err := a.Finish(ctx)
			if sum == nil {
				return nil, err
			}
			return &scaleout.AuditOutcome{Summary: SummaryKey(sum.Key()), Report: sum.Report, Location: a.opts.Sink.String(),
				Changes: sum.Totals.Changes, Findings: sum.Totals.Findings, EventsSent: sum.Totals.EventsSent + sum.RunEventsSent,
				EventsFailed: sum.Totals.EventsFailed + sum.RunEventsFailed, Errors: sum.Totals.Errors}, err
		}
		return a, finish, nil
	}
}
