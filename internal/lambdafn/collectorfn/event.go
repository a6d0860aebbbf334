package collectorfn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/centralmsp/centralmsp/internal/scaleout"
)

// Kind is what an invocation asks for.
type Kind string

// The kinds of invocation.
const (
	KindScheduled Kind = "scheduled" // EventBridge rule (aws.events) or Scheduler (aws.scheduler)
	KindAudit     Kind = "audit"     // EventBridge centralmsp.audit / AuditRequest
	KindShards    Kind = "shards"    // SQS batch of shard messages
	KindDirect    Kind = "direct"    // direct invocation JSON
)

// Event sources and detail types the handler knows.
const (
	SourceEvents    = "aws.events"
	SourceScheduler = "aws.scheduler"
	SourceAudit     = "centralmsp.audit"
	DetailTypeAudit = "AuditRequest"
	EventSourceSQS  = "aws:sqs"
	AuditDataset    = scaleout.AuditLogsDataset
)

// DirectRequest is a direct invocation: every field is optional.
type DirectRequest struct {
	// Tenants are workspace ids or exact names; empty means all.
	Tenants []string `json:"tenants"`
	// Datasets default to CENTRALMSP_DATASETS.
	Datasets []string `json:"datasets"`
	// RunID defaults to a new one.
	RunID string `json:"run_id"`
}

// AuditRequest is the detail of a centralmsp.audit AuditRequest event.
type AuditRequest struct {
	// Tenants are workspace ids or names; empty means all.
	Tenants []string `json:"tenants"`
	// Since is the lower bound of the audit logs' createdAt (RFC 3339).
	Since string `json:"since"`
}

// SinceTime is the request's since time.
func (a AuditRequest) SinceTime() (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(a.Since))
	if err != nil {
		return time.Time{}, fmt.Errorf("audit request: since %q: want an RFC 3339 time such as 2026-11-23T00:00:00Z", a.Since)
	}
	return t, nil
}

// Invocation is a classified event.
type Invocation struct {
	Kind      Kind
	Scheduled *events.EventBridgeEvent
	Audit     *AuditRequest
	SQS       *events.SQSEvent
	Direct    *DirectRequest
}

// EventError reports an event the handler cannot use.
type EventError struct {
	Reason string
	Err    error
}

func (e *EventError) Error() string {
	if e.Err != nil {
		return "collector: unsupported event: " + e.Reason + ": " + e.Err.Error()
	}
	return "collector: unsupported event: " + e.Reason
}

// Unwrap returns the decoding error, if any.
func (e *EventError) Unwrap() error { return e.Err }

// strict decodes data into v, refusing unknown fields and trailing data.
func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}

// DecodeEvent tells the invocation's kind from the raw event:
//
//   - a "Records" array whose records all have eventSource aws:sqs: an SQS
//     batch of shard messages;
//   - a "source" of aws.events or aws.scheduler: a scheduled run (detail is
//     ignored; Scheduler sends it as the string "{}");
//   - source centralmsp.audit with detail-type AuditRequest: an audit request
//     (detail {"tenants": [...], "since": "RFC 3339"}, an object or a JSON
//     string);
//   - any other source or Records: an error;
//   - otherwise a direct invocation {"tenants", "datasets", "run_id"}, all
//     optional; unknown fields are refused.
func DecodeEvent(raw []byte) (*Invocation, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, &EventError{Reason: "the event is not a JSON object"}
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, &EventError{Reason: "invalid JSON", Err: err}
	}
	if recs, ok := probe["Records"]; ok {
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, &EventError{Reason: "Records", Err: err}
		}
		if len(ev.Records) == 0 && string(recs) != "[]" {
			return nil, &EventError{Reason: "Records is not an array of SQS records"}
		}
		for _, r := range ev.Records {
			if r.EventSource != EventSourceSQS {
				return nil, &EventError{Reason: fmt.Sprintf("a record from %q (only %s records are handled)", r.EventSource, EventSourceSQS)}
			}
		}
		return &Invocation{Kind: KindShards, SQS: &ev}, nil
	}
	if _, ok := probe["source"]; ok {
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, &EventError{Reason: "EventBridge envelope", Err: err}
		}
		switch {
		case ev.Source == SourceEvents || ev.Source == SourceScheduler:
			return &Invocation{Kind: KindScheduled, Scheduled: &ev}, nil
		case ev.Source == SourceAudit && ev.DetailType == DetailTypeAudit:
			req, err := decodeAudit(ev.Detail)
			if err != nil {
				return nil, err
			}
			return &Invocation{Kind: KindAudit, Scheduled: &ev, Audit: req}, nil
		}
		return nil, &EventError{Reason: fmt.Sprintf("source %q detail-type %q (want %s or %s, or %s with %s)",
			ev.Source, ev.DetailType, SourceEvents, SourceScheduler, SourceAudit, DetailTypeAudit)}
	}
	var req DirectRequest
	if err := strict(raw, &req); err != nil {
		return nil, &EventError{Reason: `direct invocation (want {"tenants": [id or name, ...], "datasets": [...], "run_id": "..."}, every field optional)`, Err: err}
	}
	return &Invocation{Kind: KindDirect, Direct: &req}, nil
}

// decodeAudit decodes an AuditRequest detail: an object, or an object
// encoded as a JSON string.
func decodeAudit(detail json.RawMessage) (*AuditRequest, error) {
	d := bytes.TrimSpace(detail)
	if len(d) > 0 && d[0] == '"' {
		var s string
		if err := json.Unmarshal(d, &s); err != nil {
			return nil, &EventError{Reason: "audit request detail", Err: err}
		}
		d = []byte(s)
	}
	var req AuditRequest
	if err := strict(d, &req); err != nil {
		return nil, &EventError{Reason: `audit request detail (want {"tenants": [...], "since": "RFC 3339"})`, Err: err}
	}
	if _, err := req.SinceTime(); err != nil {
		return nil, &EventError{Reason: "audit request", Err: err}
	}
	return &req, nil
}
