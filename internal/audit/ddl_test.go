package audit

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestAthenaDriftTable: the drift table's projected location holds the
// drift keys, and it declares every field a Change is written with.
func TestAthenaDriftTable(t *testing.T) {
	data, err := os.ReadFile("../../deploy/athena/drift.sql")
	if err != nil {
		t.Fatal(err)
	}
	sql := string(data)
	for _, want := range []string{"CREATE EXTERNAL TABLE IF NOT EXISTS centralmsp.drift (", "PARTITIONED BY (`dt` string)",
		"'org.openx.data.jsonserde.JsonSerDe'", "'projection.enabled' = 'true'"} {
		if !strings.Contains(sql, want) {
			t.Errorf("missing %s", want)
		}
	}
	tmpl := regexp.MustCompile(`'storage.location.template' = 's3://YOUR_BUCKET/([^']*)'`).FindStringSubmatch(sql)
	if tmpl == nil {
		t.Fatal("no storage.location.template")
	}
	key := DriftKey("2026-11-24", "run-1", tid)
	if prefix := strings.ReplaceAll(tmpl[1], "${dt}", "2026-11-24"); !strings.HasPrefix(key, prefix) {
		t.Errorf("drift key %q not under %q", key, prefix)
	}
	s := "x"
	b, _ := json.Marshal(Change{Field: "f", PreviousValue: &s, NewValue: &s, Values: map[string]string{"a": "b"}})
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k := range m {
		if !strings.Contains(sql, "`"+k+"`") {
			t.Errorf("drift.sql does not declare %s", k)
		}
	}
}
