package templatecheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
)

const athenaDir = repoRoot + "/deploy/athena"

// inventoryDatasets are every dataset the collector writes, audit-logs
// included (collector.DatasetNames); each has a
// table named like the dataset with "_" for "-".
var inventoryDatasets = collector.DatasetNames()

func readSQL(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(athenaDir, name))
	if err != nil {
		t.Fatalf("read DDL: %v", err)
	}
	return string(data)
}

// TestAthenaDatasetTables checks that every dataset has a table whose
// location and projected dt partition match the collector's object keys.
func TestAthenaDatasetTables(t *testing.T) {
	for _, ds := range inventoryDatasets {
		table := strings.ReplaceAll(ds, "-", "_")
		t.Run(table, func(t *testing.T) {
			sql := readSQL(t, table+".sql")
			if !strings.Contains(sql, "CREATE EXTERNAL TABLE IF NOT EXISTS centralmsp."+table+" (") {
				t.Errorf("no CREATE EXTERNAL TABLE centralmsp.%s", table)
			}
			for _, col := range []string{"_tenant_id", "_tenant_name", "_run_id", "_collected_at"} {
				if !strings.Contains(sql, "`"+col+"` string") {
					t.Errorf("column %s missing", col)
				}
			}
			for _, want := range []string{
				"'org.openx.data.jsonserde.JsonSerDe'",
				"PARTITIONED BY (`dt` string)",
				"'projection.enabled' = 'true'",
				"'projection.dt.type' = 'date'",
				"'projection.dt.format' = 'yyyy-MM-dd'",
			} {
				if !strings.Contains(sql, want) {
					t.Errorf("missing %s", want)
				}
			}
			// The collector's key for this dataset must lie under the
			// projected location of its dt partition.
			d, _ := collector.DatasetByName(ds)
			key := d.Key("2026-11-24", "run-1", "0123456789abcdef0123456789abcdef")
			tmpl := regexp.MustCompile(`'storage.location.template' = 's3://YOUR_BUCKET/([^']*)'`).FindStringSubmatch(sql)
			if tmpl == nil {
				t.Fatal("no storage.location.template")
			}
			prefix := strings.ReplaceAll(tmpl[1], "${dt}", "2026-11-24")
			if !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, ".ndjson.gz") {
				t.Errorf("collector key %q is not under the projected location %q", key, prefix)
			}
			loc := regexp.MustCompile(`(?m)^LOCATION 's3://YOUR_BUCKET/([^']*)'`).FindStringSubmatch(sql)
			if loc == nil || !strings.HasPrefix(prefix, loc[1]) {
				t.Errorf("LOCATION %v is not the parent of the partition template", loc)
			}
		})
	}
}

// TestAthenaRunsTable checks that the manifest table's location holds the
// collector's manifest keys and that it declares every field the collector
// writes (so nothing is silently dropped).
func TestAthenaRunsTable(t *testing.T) {
	sql := readSQL(t, "runs.sql")
	loc := regexp.MustCompile(`(?m)^LOCATION 's3://YOUR_BUCKET/([^']*)'`).FindStringSubmatch(sql)
	if loc == nil {
		t.Fatal("runs.sql has no LOCATION")
	}
	for _, key := range []string{collector.ManifestKey("run-1"), collector.ShardKey("run-1", "2")} {
		if !strings.HasPrefix(key, loc[1]) {
			t.Errorf("manifest key %q is not under %q", key, loc[1])
		}
	}
	errInfo := &collector.ErrorInfo{Class: collector.ClassIncomplete, Message: "m", StatusCode: 500}
	m := collector.Manifest{
		Version: collector.ManifestVersion, RunID: "run-1", Shard: "1", Shards: []string{"1"}, Date: "2026-11-24",
		Sink: "s3://b/p", Datasets: []string{"aps"}, StartedAt: time.Unix(0, 0), FinishedAt: time.Unix(1, 0),
		Error: errInfo,
		MSP: []collector.MSPDatasetResult{{DatasetResult: collector.DatasetResult{Dataset: "tenant-health", Status: collector.StatusOK, Key: "k", SHA256: "s", Error: errInfo},
			Mapped: 1, Unmatched: 1, Ambiguous: 1, Duplicates: 1}},
		Tenants: []collector.TenantResult{{ID: "t", Name: "n", Status: collector.StatusOK, Error: errInfo,
			Datasets: []collector.DatasetResult{{Dataset: "aps", Status: collector.StatusOK, Key: "k", SHA256: "s", Error: errInfo}}}},
	}
	m.Summarize() // the totals' MSP-level counts are written only when set
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var missing []string
	var visit func(any)
	visit = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if !strings.Contains(sql, "`"+k+"`") {
					missing = append(missing, k)
				}
				visit(c)
			}
		case []any:
			for _, c := range x {
				visit(c)
			}
		}
	}
	visit(v)
	if len(missing) > 0 {
		t.Errorf("runs.sql does not declare manifest fields %v", missing)
	}
}
