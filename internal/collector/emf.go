package collector

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// DefaultNamespace is the CloudWatch namespace of the run metrics.
const DefaultNamespace = "CentralMSP"

// EMFOptions shape the Embedded Metric Format line.
type EMFOptions struct {
	// Namespace (default DefaultNamespace).
	Namespace string
	// Dimensions, e.g. {"Function": "collector"}; one dimension set with
	// all of them. None gives metrics without dimensions.
	Dimensions map[string]string
	// Timestamp of the metrics (default: the manifest's FinishedAt).
	Timestamp time.Time
}

// emfMetric is one metric of the run.
type emfMetric struct {
	name, unit string
	value      any
}

// runMetrics are the run figures published.
func runMetrics(m *Manifest) []emfMetric {
	t := m.Totals
	complete := 0
	if m.Complete {
		complete = 1
	}
	return []emfMetric{
		{"Tenants", "Count", t.Tenants},
		{"TenantsOK", "Count", t.TenantsOK},
		{"TenantsFailed", "Count", t.TenantsFailed},
		{"TenantsDeferred", "Count", t.TenantsDeferred},
		{"DatasetsFailed", "Count", t.DatasetsFailed},
		{"Records", "Count", t.Records},
		{"Bytes", "Bytes", t.Bytes},
		{"APICalls", "Count", t.APICalls},
		{"RateLimited", "Count", t.RateLimited},
		{"Retries", "Count", t.Retries},
		{"Exchanges", "Count", t.Exchanges},
		{"TokenCacheHits", "Count", t.TokenCacheHits},
		{"TokenCacheMisses", "Count", t.TokenCacheMisses},
		{"TokenCacheHitRatio", "Percent", t.TokenCacheHitRatio * 100},
		{"Duration", "Milliseconds", t.DurationMS},
		{"Complete", "Count", complete},
	}
}

// WriteEMF writes the run's figures as one CloudWatch Embedded Metric Format
// JSON line to w (for a Lambda, os.Stdout): the "_aws" metadata with
// Timestamp (epoch ms) and one CloudWatchMetrics directive, the dimension
// values and metric values at the top level, plus RunID and Shard as
// non-metric properties (searchable in Logs Insights).
func WriteEMF(w io.Writer, m *Manifest, opts EMFOptions) error {
	ns := cmp.Or(opts.Namespace, DefaultNamespace)
	ts := opts.Timestamp
	if ts.IsZero() {
		ts = m.FinishedAt
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	dimKeys := slices.Sorted(maps.Keys(opts.Dimensions))
	metrics := runMetrics(m)
	type metricDef struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	defs := make([]metricDef, len(metrics))
	doc := map[string]any{}
	for i, mt := range metrics {
		defs[i] = metricDef{Name: mt.name, Unit: mt.unit}
		doc[mt.name] = mt.value
	}
	for _, k := range dimKeys {
		if _, clash := doc[k]; clash {
			return fmt.Errorf("collector: EMF dimension %q clashes with a metric name", k)
		}
		doc[k] = opts.Dimensions[k]
	}
	if dimKeys == nil {
		dimKeys = []string{}
	}
	doc["RunID"] = m.RunID
	if m.Shard != "" {
		doc["Shard"] = m.Shard
	}
	doc["_aws"] = map[string]any{
		"Timestamp": ts.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  ns,
			"Dimensions": [][]string{dimKeys},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("collector: encoding EMF: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}
