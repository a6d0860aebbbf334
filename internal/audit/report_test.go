package audit

import (
	"strings"
	"testing"
	"time"
)

// TestReportEscapesAndIsSelfContained: API text is escaped and capped,
// and the page loads nothing from outside.
func TestReportEscapesAndIsSelfContained(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	evil := `<script>alert(1)</script>` + strings.Repeat("x", 500)
	pv, nv := `"><img src=x onerror=alert(2)>`, "ok"
	s := &Summary{RunID: "run-1", Date: "2026-11-30", Tenants: []*TenantAudit{{
		TenantID: tid, TenantName: evil, Changes: 1, DriftKey: DriftKey("2026-11-30", "run-1", tid),
		Datasets: []DatasetAudit{{Dataset: "devices", Status: StatusCompared, Updated: 1}},
		Kept:     []Change{{Dataset: "devices", Key: "SN<1>", ChangeType: Update, Field: "deviceName", PreviousValue: &pv, NewValue: &nv}},
		Findings: []Finding{{Rule: "device-offline", Severity: SeverityMedium, Key: "SN<1>", Message: evil, New: true}},
		Subscriptions: []SubscriptionEnd{{Key: "K<1>", Tier: "T", Status: "STARTED", End: now.AddDate(0, 0, 10)},
			{Key: "K2", End: now.AddDate(1, 0, 0)}},
	}}}
	s.Tenants = append(s.Tenants, &TenantAudit{TenantID: "quiet", TenantName: "Quiet tenant"})
	b, err := RenderReport(s, now)
	if err != nil {
		t.Fatal(err)
	}
	h := string(b)
	for _, bad := range []string{"<script", "<img", `src="`, "@import", "url("} {
		if strings.Contains(h, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	if strings.Count(h, "http://") != 1 || !strings.Contains(h, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("report refers to something outside (only the SVG namespace is allowed)")
	}
	if strings.Contains(h, `id="t-quiet"`) || !strings.Contains(h, "Quiet tenant") {
		t.Error("a tenant without changes has a section, or is missing from the overview")
	}
	if strings.Contains(h, strings.Repeat("x", maxTextLen)) {
		t.Error("API text not capped")
	}
	for _, want := range []string{"&lt;script&gt;", `href="../../drift/dt=2026-11-30/run=run-1/tenant=` + tid + `/changes.ndjson.gz"`,
		"<svg", "<circle", "#c62828", "summary.json"} {
		if !strings.Contains(h, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
