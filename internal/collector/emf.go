package collector

import (
	"fmt"
	"io"
	"time"

	"github.com/centralmsp/centralmsp/internal/emf"
)

// DefaultNamespace is the CloudWatch namespace of the run metrics.
const DefaultNamespace = emf.DefaultNamespace

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

// runMetrics are the run figures published.
func runMetrics(m *Manifest) []emf.Metric {
	t := m.Totals
	complete := 0
	if m.Complete {
		complete = 1
	}
	return []emf.Metric{
		{Name: "Tenants", Unit: "Count", Value: t.Tenants},
		{Name: "TenantsOK", Unit: "Count", Value: t.TenantsOK},
		{Name: "TenantsFailed", Unit: "Count", Value: t.TenantsFailed},
		{Name: "TenantsDeferred", Unit: "Count", Value: t.TenantsDeferred},
		{Name: "DatasetsFailed", Unit: "Count", Value: t.DatasetsFailed},
		{Name: "Records", Unit: "Count", Value: t.Records},
		{Name: "Bytes", Unit: "Bytes", Value: t.Bytes},
		{Name: "APICalls", Unit: "Count", Value: t.APICalls},
		{Name: "RateLimited", Unit: "Count", Value: t.RateLimited},
		{Name: "Retries", Unit: "Count", Value: t.Retries},
		{Name: "Exchanges", Unit: "Count", Value: t.Exchanges},
		{Name: "TokenCacheHits", Unit: "Count", Value: t.TokenCacheHits},
		{Name: "TokenCacheMisses", Unit: "Count", Value: t.TokenCacheMisses},
		{Name: "TokenCacheHitRatio", Unit: "Percent", Value: t.TokenCacheHitRatio * 100},
		{Name: "Duration", Unit: "Milliseconds", Value: t.DurationMS},
		{Name: "Complete", Unit: "Count", Value: complete},
	}
}

// WriteEMF writes the run's figures as one CloudWatch Embedded Metric Format
// JSON line to w (for a Lambda, os.Stdout), with RunID and Shard as
// non-metric properties (searchable in Logs Insights). See package emf.
func WriteEMF(w io.Writer, m *Manifest, opts EMFOptions) error {
	ts := opts.Timestamp
	if ts.IsZero() {
		ts = m.FinishedAt
	}
	props := map[string]any{"RunID": m.RunID}
	if m.Shard != "" {
		props["Shard"] = m.Shard
	}
	err := emf.Line{Namespace: opts.Namespace, Dimensions: opts.Dimensions, Properties: props, Timestamp: ts, Metrics: runMetrics(m)}.Write(w)
	if err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	return nil
}
