package events

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/centralmsp/centralmsp/internal/audit"
)

// TestAuditPublisher: the audit's events go out as entries of their detail
// type; an entry the bus refuses and an event that cannot be encoded are
// counted failed, each distinct reason once, never lost silently.
func TestAuditPublisher(t *testing.T) {
	api := &fakeAPI{answer: func(_ int, e types.PutEventsRequestEntry) string {
		if *e.DetailType == "AuditFinding" {
			return "InternalFailure"
		}
		return ""
	}}
	var sl sleeps
	p := AuditPublisher{P: New(api, "", sl.opts, func(o *Options) { o.MaxAttempts = 1 })}
	evs := []audit.Event{
		{DetailType: "InventoryChange", Detail: json.RawMessage(`{"a":1}`)},
		{DetailType: "InventoryChange", Detail: json.RawMessage(`{"a":2}`)},
		{DetailType: "AuditFinding", Detail: json.RawMessage(`{"b":1}`)},
		{DetailType: "AuditFinding", Detail: json.RawMessage(`{"b":2}`)},
		{DetailType: "InventoryChange", Detail: func() any { return nil }},
	}
	res, err := p.Publish(t.Context(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 2 || res.Failed != 3 {
		t.Errorf("sent %d, failed %d; want 2 and 3", res.Sent, res.Failed)
	}
	codes := slices.DeleteFunc(slices.Clone(res.Errors), func(e string) bool { return e != "InternalFailure" })
	enc := slices.IndexFunc(res.Errors, func(e string) bool { return strings.HasPrefix(e, "encoding: ") })
	if len(codes) != 1 || enc < 0 {
		t.Errorf("errors %q, want InternalFailure once and the encoding error", res.Errors)
	}
	var sent int
	for _, c := range api.calls {
		sent += len(c)
	}
	if sent != 4 {
		t.Errorf("%d entries sent to the bus, want 4 (the unencodable one never)", sent)
	}
}
