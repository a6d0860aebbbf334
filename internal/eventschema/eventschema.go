// Package eventschema loads the JSON Schemas (draft 2020-12) of the event
// details centralmsp publishes, events/schemas/*.json, so that tests can
// check real details against them. It depends on no other centralmsp
// package, so any package's tests may use it.
package eventschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/pb33f/jsonschema/v6"
)

// Files maps each published detail type to the name of its schema under
// events/schemas and of its sample event under events.
var Files = map[string]string{
	"InventoryChange":            "inventory-change.json",
	"InventoryChangesSummarized": "inventory-changes-summarized.json",
	"AuditFinding":               "audit-finding.json",
	"AuditFindingsSummarized":    "audit-findings-summarized.json",
	"AuditRunCompleted":          "audit-run-completed.json",
}

// DetailTypes returns the keys of Files, sorted.
func DetailTypes() []string {
	out := make([]string, 0, len(Files))
	for dt := range Files {
		out = append(out, dt)
	}
	sort.Strings(out)
	return out
}

// Set is the compiled schemas by detail type.
type Set map[string]*jsonschema.Schema

// Load compiles the schema of every detail type from eventsDir/schemas
// (eventsDir is the repository's events directory), with formats asserted.
// It checks that each declares draft 2020-12 and is titled by its detail
// type.
func Load(eventsDir string) (Set, error) {
	out := Set{}
	for dt, name := range Files {
		path, err := filepath.Abs(filepath.Join(eventsDir, "schemas", name))
		if err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var head struct {
			Schema string `json:"$schema"`
			Title  string `json:"title"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if head.Schema != "https://json-schema.org/draft/2020-12/schema" || head.Title != dt {
			return nil, fmt.Errorf("%s: $schema %q title %q", name, head.Schema, head.Title)
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		sch, err := c.Compile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[dt] = sch
	}
	return out, nil
}

// Validate checks a JSON detail against the schema of its detail type.
func (s Set) Validate(detailType string, detail []byte) error {
	sch := s[detailType]
	if sch == nil {
		return fmt.Errorf("no schema for detail type %q", detailType)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(detail))
	if err != nil {
		return fmt.Errorf("decoding %s detail: %w", detailType, err)
	}
	return sch.Validate(v)
}
