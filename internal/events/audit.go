package events

import (
	"context"
	"slices"

	"github.com/centralmsp/centralmsp/internal/audit"
)

// AuditPublisher adapts a Publisher to the audit's: every audit.Event
// becomes an Entry; entries that fail (or cannot be encoded) are counted as
// failed in the audit's summary.
type AuditPublisher struct{ P *Publisher }

var _ audit.Publisher = AuditPublisher{}

// Publish implements audit.Publisher.
func (e AuditPublisher) Publish(ctx context.Context, evs []audit.Event) (audit.PublishResult, error) {
	var res audit.PublishResult
	entries := make([]Entry, 0, len(evs))
	for _, ev := range evs {
		ent, err := NewEntry(ev.DetailType, ev.Detail)
		if err != nil {
			res.Failed++
			res.Errors = appendDistinct(res.Errors, "encoding: "+err.Error())
			continue
		}
		entries = append(entries, ent)
	}
	if len(entries) == 0 {
		return res, nil
	}
	r, err := e.P.Publish(ctx, entries)
	res.Sent += r.Sent
	res.Failed += len(entries) - r.Sent
	for _, f := range r.Failures {
		res.Errors = appendDistinct(res.Errors, f.Code)
	}
	if err != nil {
		res.Errors = appendDistinct(res.Errors, err.Error())
	}
	return res, nil
}

func appendDistinct(xs []string, x string) []string {
	if x == "" || slices.Contains(xs, x) {
		return xs
	}
	return append(xs, x)
}
