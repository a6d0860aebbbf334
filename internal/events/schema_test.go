package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/centralmsp/centralmsp/internal/audit"
	"github.com/centralmsp/centralmsp/internal/eventschema"
)

const eventsDir = "../../events"

// auditDetailTypes are the detail types internal/audit publishes, with a
// value of the Go type of each one's detail.
var auditDetailTypes = map[string]func() any{
	audit.DetailInventoryChange:    func() any { return &audit.InventoryChangeDetail{} },
	audit.DetailInventoryChangeCap: func() any { return &audit.SummarizedDetail{} },
	audit.DetailAuditFinding:       func() any { return &audit.Finding{} },
	audit.DetailAuditFindingCap:    func() any { return &audit.SummarizedDetail{} },
	audit.DetailAuditRunCompleted:  func() any { return &audit.RunCompletedDetail{} },
}

func loadSchemas(t *testing.T) eventschema.Set {
	t.Helper()
	s, err := eventschema.Load(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSamplesMatchSchemas: every detail type the audit publishes has a
// schema and a sample event in events/ (the envelope a rule target
// receives) whose detail validates against the schema and decodes strictly
// into the audit's Go detail type.
func TestSamplesMatchSchemas(t *testing.T) {
	var want []string
	for dt := range auditDetailTypes {
		want = append(want, dt)
	}
	slices.Sort(want)
	if got := eventschema.DetailTypes(); !slices.Equal(got, want) {
		t.Fatalf("schemas for %v, the audit publishes %v", got, want)
	}
	schs := loadSchemas(t)
	for dt, name := range eventschema.Files {
		raw, err := os.ReadFile(filepath.Join(eventsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if env.Source != Source || env.DetailType != dt {
			t.Fatalf("%s: source %q detail-type %q", name, env.Source, env.DetailType)
		}
		if err := schs.Validate(dt, env.Detail); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		target := auditDetailTypes[dt]()
		dec := json.NewDecoder(bytes.NewReader(env.Detail))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			t.Errorf("%s: the detail does not decode into the audit's Go type: %v", name, err)
		}
		// And what the Go type marshals back to validates too.
		back, err := json.Marshal(target)
		if err != nil {
			t.Fatal(err)
		}
		if err := schs.Validate(dt, back); err != nil {
			t.Errorf("%s re-marshalled: %v", name, err)
		}
	}
}

// TestPublishedDetailsMatchSchemas: the entries NewEntry makes of the
// audit's detail types (as AuditPublisher does) validate,
// and the schemas do refuse broken details. internal/audit's own
// TestPublishedDetailsMatchSchemas checks the details its runs build.
func TestPublishedDetailsMatchSchemas(t *testing.T) {
	schs := loadSchemas(t)
	seen := map[string]bool{}
	for _, e := range sampleEntries(t, 10) {
		if err := schs.Validate(e.DetailType, e.Detail); err != nil {
			t.Errorf("%s %s: %v", e.DetailType, e.Detail, err)
		}
		seen[e.DetailType] = true
	}
	if len(seen) != len(auditDetailTypes) {
		t.Fatalf("covered %v", seen)
	}
	diff := `"configurationItemDiff":{"changeType":"UPDATE","changedProperties":{}}`
	for _, bad := range []struct{ dt, doc string }{
		{audit.DetailInventoryChange, `{"tenantId":"t","tenantName":"","dataset":"aps","resourceId":"k","runId":"r","previousRunId":"p","captureTime":"2026-11-23T14:00:00Z","configurationItemDiff":{"changeType":"MODIFY","changedProperties":{}}}`},
		{audit.DetailInventoryChange, `{"tenantId":"t","tenantName":"","dataset":"aps","resourceId":"k","runId":"r","previousRunId":"p","captureTime":"yesterday",` + diff + `}`},
		{audit.DetailInventoryChange, `{"tenantId":"t","tenantName":"","dataset":"aps","key":"k","runId":"r","previousRunId":"p","captureTime":"2026-11-23T14:00:00Z",` + diff + `}`},
		{audit.DetailInventoryChange, `{"tenantId":"t","tenantName":"","dataset":"aps","resourceId":"k","runId":"r","previousRunId":"p","captureTime":"2026-11-23T14:00:00Z","configurationItemDiff":{"changeType":"UPDATE","changedProperties":{"s":{"previousValue":1,"updatedValue":"2","changeType":"UPDATE"}}}}`},
		{audit.DetailAuditFinding, `{"id":"i","tenant_id":"t","tenant_name":"","rule":"r","severity":"URGENT","message":"","new":true,"run_id":"r","time":"2026-11-23T14:00:00Z"}`},
		{audit.DetailAuditFinding, `{"id":"i","tenantId":"t","tenant_name":"","rule":"r","severity":"high","message":"","new":true,"run_id":"r","time":"2026-11-23T14:00:00Z"}`},
		{audit.DetailAuditRunCompleted, `{"runId":"r","dt":"2026-11-23","totals":{},"summaryKey":"s","reportKey":"k","location":"","completedAt":"2026-11-23T14:00:00Z"}`},
		{audit.DetailInventoryChangeCap, `{"tenantId":"t","tenantName":"","runId":"r","total":3,"published":1,"omitted":2,"counts":{"aps/CREATE":-1},"location":"","key":""}`},
		{audit.DetailAuditFindingCap, `{"tenantId":"t","tenantName":"","runId":"r","total":3,"published":1,"omitted":2,"counts":{},"capped":true,"location":"","key":""}`},
	} {
		if err := schs.Validate(bad.dt, []byte(bad.doc)); err == nil {
			t.Errorf("%s accepted %s", bad.dt, bad.doc)
		}
	}
}
