package emf

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestLineWrite(t *testing.T) {
	var buf bytes.Buffer
	ts := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	err := Line{
		Dimensions: map[string]string{"Function": "tokenrefresh"},
		Properties: map[string]any{"RequestID": "r1"},
		Timestamp:  ts,
		Metrics:    []Metric{{Name: "TenantsFailed", Unit: "Count", Value: 2}},
	}.Write(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "}\n") || strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	var doc struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function      string
		TenantsFailed int
		RequestID     string
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.AWS.CloudWatchMetrics
	if doc.AWS.Timestamp != ts.UnixMilli() || len(d) != 1 || d[0].Namespace != DefaultNamespace ||
		len(d[0].Dimensions) != 1 || len(d[0].Dimensions[0]) != 1 || d[0].Dimensions[0][0] != "Function" ||
		len(d[0].Metrics) != 1 || d[0].Metrics[0].Name != "TenantsFailed" || d[0].Metrics[0].Unit != "Count" ||
		doc.Function != "tokenrefresh" || doc.TenantsFailed != 2 || doc.RequestID != "r1" {
		t.Fatalf("EMF document does not follow the specification: %s", buf.String())
	}
	err = Line{Dimensions: map[string]string{"TenantsFailed": "x"}, Metrics: []Metric{{Name: "TenantsFailed", Unit: "Count", Value: 1}}}.Write(&buf)
	if err == nil {
		t.Fatal("a dimension named like a metric must be refused")
	}
}
