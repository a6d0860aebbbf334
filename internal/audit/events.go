package audit

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Event detail types.
const (
	DetailInventoryChange    = "InventoryChange"
	DetailInventoryChangeCap = "InventoryChangesSummarized"
	DetailAuditFinding       = "AuditFinding"
	DetailAuditFindingCap    = "AuditFindingsSummarized"
	DetailAuditRunCompleted  = "AuditRunCompleted"
)

// DefaultEventCap is how many InventoryChange events (and, separately,
// AuditFinding events) one tenant may publish in one run; beyond it one
// summary event points at the full list in the drift (or findings) object.
const DefaultEventCap = 100

// Event is one event to publish: its detail type, its detail (marshalled
// as JSON by the publisher) and the tenant it concerns ("" for run events).
type Event struct {
	DetailType string
	Detail     any
	TenantID   string
}

// PublishResult counts what a Publish call delivered.
type PublishResult struct {
	Sent   int
	Failed int
	// Errors are the distinct error codes or messages of failed entries.
	Errors []string
}

// Publisher delivers events (internal/events implements it for
// EventBridge). Publish returns a result for every event it was given; an
// error means none of the remaining ones could be tried (and they count as
// failed).
type Publisher interface {
	Publish(ctx context.Context, evs []Event) (PublishResult, error)
}

// ChangedProperty is one changed field, as in AWS Config's
// configurationItemDiff.changedProperties.
type ChangedProperty struct {
	PreviousValue *string    `json:"previousValue"`
	UpdatedValue  *string    `json:"updatedValue"`
	ChangeType    ChangeType `json:"changeType"`
}

// ItemDiff is an InventoryChange's diff.
type ItemDiff struct {
	ChangeType        ChangeType                 `json:"changeType"`
	ChangedProperties map[string]ChangedProperty `json:"changedProperties"`
}

// InventoryChangeDetail is the detail of an InventoryChange event: every
// change of one resource (dataset and key) in one run.
type InventoryChangeDetail struct {
	TenantID              string            `json:"tenantId"`
	TenantName            string            `json:"tenantName"`
	Dataset               string            `json:"dataset"`
	ResourceID            string            `json:"resourceId"`
	RunID                 string            `json:"runId"`
	PreviousRunID         string            `json:"previousRunId"`
	CaptureTime           time.Time         `json:"captureTime"`
	ConfigurationItemDiff ItemDiff          `json:"configurationItemDiff"`
	Values                map[string]string `json:"values,omitempty"`
}

// SummarizedDetail is the detail of the event that replaces the events
// beyond the cap.
type SummarizedDetail struct {
	TenantID   string         `json:"tenantId"`
	TenantName string         `json:"tenantName"`
	RunID      string         `json:"runId"`
	Total      int            `json:"total"`
	Published  int            `json:"published"`
	Omitted    int            `json:"omitted"`
	Counts     map[string]int `json:"counts"`
	Location   string         `json:"location"`
	Key        string         `json:"key"`
}

// RunCompletedDetail is the detail of AuditRunCompleted.
type RunCompletedDetail struct {
	RunID       string        `json:"runId"`
	Date        string        `json:"dt"`
	Totals      SummaryTotals `json:"totals"`
	SummaryKey  string        `json:"summaryKey"`
	ReportKey   string        `json:"reportKey,omitempty"` // absent when the report could not be written
	Location    string        `json:"location"`
	CompletedAt time.Time     `json:"completedAt"`
}

// changeEvents groups a tenant's changes by resource into InventoryChange
// events; with more than cap resources it returns the first cap-1 of them
// and one summary event pointing at the drift object.
func changeEvents(ta *TenantAudit, cs []Change, root, key string, limit int) []Event {
	var evs []Event
	var cur *InventoryChangeDetail
	flush := func() {
		if cur != nil {
			evs = append(evs, Event{DetailType: DetailInventoryChange, Detail: cur, TenantID: ta.TenantID})
			cur = nil
		}
	}
	for _, c := range cs { // sorted by dataset, key, type
		if cur == nil || cur.Dataset != c.Dataset || cur.ResourceID != c.Key {
			flush()
			cur = &InventoryChangeDetail{TenantID: c.TenantID, TenantName: c.TenantName, Dataset: c.Dataset, ResourceID: c.Key,
				RunID: c.RunID, PreviousRunID: c.PreviousRunID, CaptureTime: c.Time,
				ConfigurationItemDiff: ItemDiff{ChangeType: c.ChangeType, ChangedProperties: map[string]ChangedProperty{}}, Values: c.Values}
		}
		if c.ChangeType == Update {
			cur.ConfigurationItemDiff.ChangedProperties[c.Field] = ChangedProperty{PreviousValue: c.PreviousValue, UpdatedValue: c.NewValue, ChangeType: Update}
		}
	}
	flush()
	if limit <= 0 || len(evs) <= limit {
		return evs
	}
	counts := map[string]int{}
	for _, e := range evs {
		d := e.Detail.(*InventoryChangeDetail)
		counts[d.Dataset+"/"+string(d.ConfigurationItemDiff.ChangeType)]++
	}
	keep := limit - 1
	sum := &SummarizedDetail{TenantID: ta.TenantID, TenantName: ta.TenantName, RunID: runOf(cs), Total: len(evs),
		Published: keep, Omitted: len(evs) - keep, Counts: counts, Location: location(root, key), Key: key}
	return append(evs[:keep:keep], Event{DetailType: DetailInventoryChangeCap, Detail: sum, TenantID: ta.TenantID})
}

// findingEvents makes AuditFinding events of the new findings, capped the
// same way.
func findingEvents(ta *TenantAudit, root string, limit int) []Event {
	var evs []Event
	counts := map[string]int{}
	for i := range ta.Findings {
		if f := &ta.Findings[i]; f.New {
			evs = append(evs, Event{DetailType: DetailAuditFinding, Detail: f, TenantID: ta.TenantID})
			counts[f.Rule]++
		}
	}
	if limit <= 0 || len(evs) <= limit {
		return evs
	}
	keep := limit - 1
	sum := &SummarizedDetail{TenantID: ta.TenantID, TenantName: ta.TenantName, Total: len(evs), Published: keep,
		Omitted: len(evs) - keep, Counts: counts, Location: location(root, ta.FindingsKey), Key: ta.FindingsKey}
	if len(ta.Findings) > 0 {
		sum.RunID = ta.Findings[0].RunID
	}
	return append(evs[:keep:keep], Event{DetailType: DetailAuditFindingCap, Detail: sum, TenantID: ta.TenantID})
}

func runOf(cs []Change) string {
	if len(cs) == 0 {
		return ""
	}
	return cs[0].RunID
}

// location joins a sink root and a key for people and events.
func location(root, key string) string {
	if key == "" {
		return ""
	}
	if strings.HasPrefix(root, "s3://") {
		return strings.TrimSuffix(root, "/") + "/" + key
	}
	return strings.TrimSuffix(root, "/") + "/" + key
}

// publish sends evs and records the outcome on the counters.
func (a *Auditor) publish(ctx context.Context, evs []Event, sent, failed *int, errs *[]string) {
	if a.opts.Publisher == nil || len(evs) == 0 {
		return
	}
	res, err := a.opts.Publisher.Publish(ctx, evs)
	*sent += res.Sent
	*failed += len(evs) - res.Sent
	for _, e := range res.Errors {
		*errs = append(*errs, "events: "+e)
	}
	if err != nil {
		*errs = append(*errs, fmt.Sprintf("events: %v", err))
	}
}
