package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pb33f/jsonschema/v6"
)

const eventsDir = "../../events"

// schemaFiles maps each detail type to its schema and sample file name.
var schemaFiles = map[string]string{
	DetailInventoryChange:        "inventory-change.json",
	DetailInventoryChangeSummary: "inventory-change-summary.json",
	DetailAuditFinding:           "audit-finding.json",
	DetailAuditRunCompleted:      "audit-run-completed.json",
}

// schemas compiles events/schemas/*.json (draft 2020-12, formats asserted).
func schemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	out := map[string]*jsonschema.Schema{}
	for _, dt := range DetailTypes() {
		name, ok := schemaFiles[dt]
		if !ok {
			t.Fatalf("no schema file for detail type %s", dt)
		}
		path, err := filepath.Abs(filepath.Join(eventsDir, "schemas", name))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			Schema string `json:"$schema"`
			Title  string `json:"title"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if head.Schema != "https://json-schema.org/draft/2020-12/schema" || head.Title != dt {
			t.Fatalf("%s: $schema %q title %q", name, head.Schema, head.Title)
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		sch, err := c.Compile(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[dt] = sch
	}
	return out
}

func validate(t *testing.T, sch *jsonschema.Schema, doc []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("decoding %s: %v", doc, err)
	}
	return sch.Validate(v)
}

// TestSamplesMatchSchemas: every detail type has a sample event in events/
// (the envelope a rule target receives) whose detail validates against its
// schema and decodes strictly into the Go detail type.
func TestSamplesMatchSchemas(t *testing.T) {
	schs := schemas(t)
	for dt, name := range schemaFiles {
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
		if err := validate(t, schs[dt], env.Detail); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var target any
		switch dt {
		case DetailInventoryChange:
			target = &InventoryChange{}
		case DetailInventoryChangeSummary:
			target = &InventoryChangeSummary{}
		case DetailAuditFinding:
			target = &AuditFinding{}
		case DetailAuditRunCompleted:
			target = &AuditRunCompleted{}
		}
		dec := json.NewDecoder(bytes.NewReader(env.Detail))
		dec.DisallowUnknownFields()
		if err := dec.Decode(target); err != nil {
			t.Errorf("%s: the detail does not decode into the Go type: %v", name, err)
		}
	}
}

// TestPublishedDetailsMatchSchemas: what the Go types marshal to (the
// publisher's details, including capped summaries and changes without
// fields) validates, and the schemas do refuse broken details.
func TestPublishedDetailsMatchSchemas(t *testing.T) {
	schs := schemas(t)
	entries := sampleEntries(t, 8)
	capped, err := CapChanges([]InventoryChange{
		{TenantID: "t1", Dataset: "aps", Key: "a", ChangeType: ChangeCreate, RunID: "r", CollectedAt: time.Now()},
		{TenantID: "t1", Dataset: "aps", Key: "b", ChangeType: ChangeDelete, RunID: "r", CollectedAt: time.Now()},
		{TenantID: "t2", Dataset: "aps", Key: "c", ChangeType: ChangeCreate, RunID: "r", CollectedAt: time.Now()},
	}, 1, func(tid, ds string) string { return "s3://b/" + tid + "/" + ds })
	if err != nil {
		t.Fatal(err)
	}
	entries = append(entries, capped...)
	seen := map[string]bool{}
	for _, e := range entries {
		sch := schs[e.DetailType]
		if sch == nil {
			t.Fatalf("no schema for %s", e.DetailType)
		}
		if err := validate(t, sch, e.Detail); err != nil {
			t.Errorf("%s %s: %v", e.DetailType, e.Detail, err)
		}
		seen[e.DetailType] = true
	}
	if len(seen) != len(DetailTypes()) {
		t.Fatalf("covered %v", seen)
	}
	for _, bad := range []struct{ dt, doc string }{
		{DetailInventoryChange, `{"tenantId":"t","tenantName":"","dataset":"aps","key":"k","changeType":"MODIFY","changes":[],"runId":"r","collectedAt":"2026-11-23T14:00:00Z"}`},
		{DetailInventoryChange, `{"tenantId":"t","tenantName":"","dataset":"aps","key":"k","changeType":"CREATE","changes":[],"runId":"r","collectedAt":"yesterday"}`},
		{DetailAuditFinding, `{"tenantId":"t","tenantName":"","rule":"r","severity":"URGENT","key":"","message":"","runId":"r","detectedAt":"2026-11-23T14:00:00Z"}`},
		{DetailAuditRunCompleted, `{"runId":"r","startedAt":"2026-11-23T14:00:00Z","finishedAt":"2026-11-23T14:00:00Z","tenants":1,"changes":-1,"findings":0,"eventsFailed":0}`},
		{DetailInventoryChangeSummary, `{"tenantId":"t","tenantName":"","dataset":"aps","runId":"r","counts":{"RENAME":1},"capped":true}`},
	} {
		if err := validate(t, schs[bad.dt], []byte(bad.doc)); err == nil {
			t.Errorf("%s accepted %s", bad.dt, bad.doc)
		}
	}
}
