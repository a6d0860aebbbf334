package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Change types of InventoryChange, as AWS Config names them.
const (
	ChangeCreate = "CREATE"
	ChangeUpdate = "UPDATE"
	ChangeDelete = "DELETE"
)

// Severities of AuditFinding, highest first.
const (
	SeverityCritical      = "CRITICAL"
	SeverityHigh          = "HIGH"
	SeverityMedium        = "MEDIUM"
	SeverityLow           = "LOW"
	SeverityInformational = "INFORMATIONAL"
)

// InventoryChange is the detail of an InventoryChange event: one record (by
// Key) of a tenant's dataset that appeared, changed or disappeared between
// the previous run and this one.
type InventoryChange struct {
	TenantID   string `json:"tenantId"`
	TenantName string `json:"tenantName"`
	Dataset    string `json:"dataset"`
	// Key identifies the record within the dataset (e.g. a serial number).
	Key string `json:"key"`
	// ChangeType is CREATE, UPDATE or DELETE.
	ChangeType string `json:"changeType"`
	// Changes lists the changed fields (UPDATE; CREATE and DELETE may list
	// the record's fields or nothing).
	Changes []FieldChange `json:"changes"`
	// PreviousRunID and PreviousCollectedAt are absent when there is no
	// previous run.
	PreviousRunID       string     `json:"previousRunId,omitempty"`
	RunID               string     `json:"runId"`
	PreviousCollectedAt *time.Time `json:"previousCollectedAt,omitempty"`
	CollectedAt         time.Time  `json:"collectedAt"`
}

// MarshalJSON writes nil Changes as [] (the schema wants an array).
func (c InventoryChange) MarshalJSON() ([]byte, error) {
	type plain InventoryChange
	if c.Changes == nil {
		c.Changes = []FieldChange{}
	}
	return json.Marshal(plain(c))
}

// FieldChange is one changed field. A value that did not exist is absent
// (nil); a JSON null is present as null.
type FieldChange struct {
	// Field is the field's path, dot-separated (e.g. "status" or
	// "subscription.0.key").
	Field         string          `json:"field"`
	PreviousValue json.RawMessage `json:"previousValue,omitempty"`
	UpdatedValue  json.RawMessage `json:"updatedValue,omitempty"`
}

// InventoryChangeSummary is the detail sent instead of a tenant's and
// dataset's InventoryChange events when a run has more of them than the cap
// (a new tenant's whole inventory, a mass change).
type InventoryChangeSummary struct {
	TenantID   string `json:"tenantId"`
	TenantName string `json:"tenantName"`
	Dataset    string `json:"dataset"`
	RunID      string `json:"runId"`
	// Counts holds the number of changes by change type (CREATE, UPDATE,
	// DELETE); types without changes are absent.
	Counts map[string]int `json:"counts"`
	// Capped is true when the individual events were not sent.
	Capped bool `json:"capped"`
	// FullListURI is where the complete list of changes is stored.
	FullListURI string `json:"fullListUri,omitempty"`
}

// AuditFinding is the detail of an AuditFinding event.
type AuditFinding struct {
	TenantID   string `json:"tenantId"`
	TenantName string `json:"tenantName"`
	// Rule is the finding's rule identifier.
	Rule string `json:"rule"`
	// Severity is CRITICAL, HIGH, MEDIUM, LOW or INFORMATIONAL.
	Severity string `json:"severity"`
	// Key identifies what the finding is about (a record key, or the tenant).
	Key        string    `json:"key"`
	Message    string    `json:"message"`
	RunID      string    `json:"runId"`
	DetectedAt time.Time `json:"detectedAt"`
}

// AuditRunCompleted is the detail of the event that ends an audit run.
type AuditRunCompleted struct {
	RunID      string    `json:"runId"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Tenants, Changes and Findings count what the run audited and found.
	Tenants  int `json:"tenants"`
	Changes  int `json:"changes"`
	Findings int `json:"findings"`
	// EventsFailed counts the run's events that could not be published.
	EventsFailed int `json:"eventsFailed"`
	// ReportURI is where the run's report is stored.
	ReportURI string `json:"reportUri,omitempty"`
}

// CapChanges turns changes into entries: one InventoryChange per change,
// except for a tenant and dataset with more than limit changes, which get
// one InventoryChangeSummary (Capped, FullListURI from fullList) instead.
// The groups keep the order of their first change. limit <= 0 means no cap.
func CapChanges(changes []InventoryChange, limit int, fullList func(tenantID, dataset string) string) ([]Entry, error) {
	type group struct {
		first   InventoryChange
		members []int
	}
	var order []string
	groups := map[string]*group{}
	for i, c := range changes {
		k := c.TenantID + "\x00" + c.Dataset
		g := groups[k]
		if g == nil {
			g = &group{first: c}
			groups[k] = g
			order = append(order, k)
		}
		g.members = append(g.members, i)
	}
	var out []Entry
	for _, k := range order {
		g := groups[k]
		if limit > 0 && len(g.members) > limit {
			s := InventoryChangeSummary{TenantID: g.first.TenantID, TenantName: g.first.TenantName,
				Dataset: g.first.Dataset, RunID: g.first.RunID, Counts: map[string]int{}, Capped: true}
			for _, i := range g.members {
				s.Counts[changes[i].ChangeType]++
			}
			if fullList != nil {
				s.FullListURI = fullList(s.TenantID, s.Dataset)
			}
			e, err := NewEntry(DetailInventoryChangeSummary, s)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
			continue
		}
		for _, i := range g.members {
			e, err := NewEntry(DetailInventoryChange, changes[i])
			if err != nil {
				return nil, fmt.Errorf("events: change %d (%s): %w", i, changes[i].Key, err)
			}
			out = append(out, e)
		}
	}
	return out, nil
}
