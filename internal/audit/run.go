package audit

import (
	"context"
	"errors"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// Collect runs one collection (cfg) with an Auditor observing it, then
// writes the audit report and summary (Auditor.Finish). cfg.RunID and
// cfg.Date are filled in when empty so that both agree; opts.Sink, RunID,
// Date, Now and Logger default to the collection's. The manifest is nil
// only for an invalid cfg.
func Collect(ctx context.Context, cfg collector.Config, opts Options) (*collector.Manifest, *Summary, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	start := cfg.Now()
	if cfg.RunID == "" {
		cfg.RunID = collector.NewRunID(start)
	}
	if cfg.Date == "" {
		cfg.Date = start.UTC().Format(time.DateOnly)
	}
	if opts.Sink == nil {
		opts.Sink = cfg.Sink
	}
	opts.RunID, opts.Date = cfg.RunID, cfg.Date
	if opts.Now == nil {
		opts.Now = cfg.Now
	}
	if opts.Logger == nil {
		opts.Logger = cfg.Logger
	}
	a, err := New(opts)
	if err != nil {
		return nil, nil, err
	}
	cfg.Observer = a
	man, err := collector.Run(ctx, cfg)
	if man == nil {
		return nil, nil, err
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	sum, serr := a.Finish(fctx)
	return man, sum, errors.Join(err, serr)
}
