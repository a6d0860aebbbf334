package costmodel

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the inputs, the monthly volumes and the monthly cost per
// service for each estimate (one column per tenant count).
func WriteTable(w io.Writer, run Run, cfg Config, ests []Estimate) error {
	var b strings.Builder
	fmt.Fprintf(&b, "centralmsp monthly cost estimate, %.0f runs/month, %.0f-day retention\n", cfg.RunsPerMonth, cfg.RetentionDays)
	fmt.Fprintf(&b, "figures: %s\n", run.Source)
	fmt.Fprintf(&b, "per tenant per run: %.2f objects, %.1f API calls, %s, %.3f s collector, %.3f s refresh; collector %g MB, refresher %g MB arm64\n",
		run.ObjectsPerTenant, run.APICallsPerTenant, humanBytes(run.BytesPerTenant), run.CollectorSecondsPerTenant,
		run.RefreshSecondsPerTenant, cfg.CollectorMemoryMB, cfg.RefresherMemoryMB)
	fmt.Fprintf(&b, "prices: %s\n\n", PriceNote)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(Estimate) string) {
		fmt.Fprintf(tw, "%s\t", label)
		for _, e := range ests {
			fmt.Fprintf(tw, "%s\t", f(e))
		}
		fmt.Fprintln(tw)
	}
	num := func(v float64) string { return groupDigits(fmt.Sprintf("%.0f", v)) }
	usd := func(v float64) string { return fmt.Sprintf("$%.2f", v) }
	row("tenants", func(e Estimate) string { return groupDigits(fmt.Sprint(e.Tenants)) })
	row("collector s/run", func(e Estimate) string { return num(e.CollectorSecondsPerRun) })
	row("invocations/run (shards)", func(e Estimate) string { return fmt.Sprintf("%d (%d)", e.Invocations, e.Shards) })
	row("API calls/run", func(e Estimate) string { return num(e.APICallsPerRun) })
	row("Lambda GB-s/month", func(e Estimate) string { return num(e.LambdaGBSeconds) })
	row("Lambda requests/month", func(e Estimate) string { return num(e.LambdaRequests) })
	row("secrets", func(e Estimate) string { return fmt.Sprint(e.Secrets) })
	row("Secrets Manager calls/month", func(e Estimate) string { return num(e.SecretsAPICalls) })
	row("KMS requests/month", func(e Estimate) string { return num(e.KMSRequests) })
	row("S3 PUT+LIST/month", func(e Estimate) string { return num(e.S3Puts) })
	row("S3 GET/month", func(e Estimate) string { return num(e.S3Gets) })
	row("S3 stored GB", func(e Estimate) string { return fmt.Sprintf("%.1f", e.S3StoredGB) })
	row("SQS requests/month", func(e Estimate) string { return num(e.SQSRequests) })
	row("Lambda", func(e Estimate) string { return usd(e.Lambda) })
	row("Secrets Manager", func(e Estimate) string { return usd(e.SecretsManager) })
	row("KMS", func(e Estimate) string { return usd(e.KMS) })
	row("S3 requests", func(e Estimate) string { return usd(e.S3Requests) })
	row("S3 storage", func(e Estimate) string { return usd(e.S3Storage) })
	row("SQS", func(e Estimate) string { return usd(e.SQS) })
	row("total/month", func(e Estimate) string { return usd(e.Total) })
	row("per tenant/month", func(e Estimate) string { return fmt.Sprintf("$%.4f", e.Total/float64(e.Tenants)) })
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range ests {
		if e.RunLongerThanSlot {
			fmt.Fprintf(&b, "\nwarning: at %s tenants a run needs %s s of collector time, more than the %.0f s between runs;"+
				" if that time is bound by the shared API budget, parallel shards do not shorten it: collect less often,"+
				" raise the budget or use per-workspace budget scopes.\n",
				groupDigits(fmt.Sprint(e.Tenants)), groupDigits(fmt.Sprintf("%.0f", e.CollectorSecondsPerRun)), HoursPerMonth*3600/cfg.RunsPerMonth)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// groupDigits inserts thousands separators into an integer string.
func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func humanBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}
