// Package emf writes CloudWatch Embedded Metric Format log lines: metrics a
// Lambda publishes by printing JSON to stdout, with no API call and no
// permission (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
package emf

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// DefaultNamespace is the CloudWatch namespace of centralmsp's metrics.
const DefaultNamespace = "CentralMSP"

// Metric is one value published under its name and unit (Count, Bytes,
// Milliseconds, Percent, ...).
type Metric struct {
	Name  string
	Unit  string
	Value any
}

// Line is one EMF document.
type Line struct {
	// Namespace (default DefaultNamespace).
	Namespace string
	// Dimensions, e.g. {"Function": "collector"}: one dimension set with all
	// of them. None gives metrics without dimensions.
	Dimensions map[string]string
	// Properties are extra top-level fields, searchable in Logs Insights but
	// not metrics (e.g. a run id).
	Properties map[string]any
	// Timestamp of the metrics (default: now).
	Timestamp time.Time
	Metrics   []Metric
}

// Write encodes l as one JSON line to w: the "_aws" metadata (Timestamp in
// epoch milliseconds and one CloudWatchMetrics directive), then dimension
// values, metric values and properties at the top level. A dimension or
// property whose name is also a metric's is an error, as EMF reads both from
// the same top-level field.
func (l Line) Write(w io.Writer) error {
	ts := l.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	type metricDef struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	defs := make([]metricDef, len(l.Metrics))
	doc := make(map[string]any, len(l.Metrics)+len(l.Dimensions)+len(l.Properties)+1)
	for i, m := range l.Metrics {
		defs[i] = metricDef{Name: m.Name, Unit: m.Unit}
		doc[m.Name] = m.Value
	}
	dimKeys := slices.Sorted(maps.Keys(l.Dimensions))
	for _, k := range dimKeys {
		if _, clash := doc[k]; clash {
			return fmt.Errorf("emf: dimension %q clashes with a metric name", k)
		}
		doc[k] = l.Dimensions[k]
	}
	for k, v := range l.Properties {
		if _, clash := doc[k]; clash {
			return fmt.Errorf("emf: property %q clashes with a metric or dimension", k)
		}
		doc[k] = v
	}
	if dimKeys == nil {
		dimKeys = []string{}
	}
	doc["_aws"] = map[string]any{
		"Timestamp": ts.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  cmp.Or(l.Namespace, DefaultNamespace),
			"Dimensions": [][]string{dimKeys},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("emf: encoding: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
