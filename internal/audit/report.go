package audit

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/centralmsp/centralmsp/internal/sink"
)

//go:embed report.html.tmpl
var reportFS embed.FS

var reportTmpl = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"cap":  capText,
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"ts":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"val": func(p *string) string {
		if p == nil {
			return ""
		}
		return capText(*p)
	},
}).ParseFS(reportFS, "report.html.tmpl"))

// maxTextLen caps any API text shown in the report.
const maxTextLen = 120

// capText shortens s to maxTextLen runes.
func capText(s string) string {
	if r := []rune(s); len(r) > maxTextLen {
		return string(r[:maxTextLen-1]) + "…"
	}
	return s
}

// ReportKey is the key of a run's HTML report.
func ReportKey(runID string) string { return "audit/run=" + runID + "/report.html" }

// MaxReportRows caps the change and finding rows shown per tenant.
const MaxReportRows = 200

// MaxReportTenants caps the tenants given a detailed section (those with
// changes, new findings or errors, most changes first); every tenant is in
// the overview table.
const MaxReportTenants = 200

// reportData is what the template renders.
type reportData struct {
	Summary  *Summary
	Now      time.Time
	Tenants  []reportTenant
	Detailed []reportTenant
	Hidden   int
	Timeline timeline
	Summ     string // relative link to the summary
}

type reportTenant struct {
	*TenantAudit
	Created, Updated, Deleted int
	Shown                     []Change
	More                      int
	DriftLink                 string
	FindingsShown             []Finding
	FindingsMore              int
	FindingsLink              string
}

// relLink is the path of key relative to the report's directory.
func relLink(runID, key string) string {
	from := path.Dir(ReportKey(runID))
	up := strings.Repeat("../", strings.Count(from, "/")+1)
	return up + key
}

// RenderReport renders the run's audit as one self-contained HTML page
// (inline CSS and SVG, no external assets). now anchors the timeline.
func RenderReport(s *Summary, now time.Time) ([]byte, error) {
	d := reportData{Summary: s, Now: now.UTC(), Summ: relLink(s.Key(), SummaryKey(s.Key()))}
	for _, ta := range s.Tenants {
		rt := reportTenant{TenantAudit: ta}
		for _, ds := range ta.Datasets {
			rt.Created += ds.Created
			rt.Updated += ds.Updated
			rt.Deleted += ds.Deleted
		}
		rt.Shown = ta.Kept[:min(len(ta.Kept), MaxReportRows)]
		rt.More = ta.Changes - len(rt.Shown)
		if ta.DriftKey != "" {
			rt.DriftLink = relLink(s.Key(), ta.DriftKey)
		}
		rt.FindingsShown = ta.Findings[:min(len(ta.Findings), MaxReportRows)]
		rt.FindingsMore = len(ta.Findings) - len(rt.FindingsShown)
		if ta.FindingsKey != "" {
			rt.FindingsLink = relLink(s.Key(), ta.FindingsKey)
		}
		d.Tenants = append(d.Tenants, rt)
		if ta.Changes > 0 || ta.NewFindings > 0 || len(ta.Errors) > 0 {
			d.Detailed = append(d.Detailed, rt)
		}
	}
	slices.SortStableFunc(d.Detailed, func(a, b reportTenant) int { return b.Changes - a.Changes })
	if len(d.Detailed) > MaxReportTenants {
		d.Hidden = len(d.Detailed) - MaxReportTenants
		d.Detailed = d.Detailed[:MaxReportTenants]
	}
	d.Timeline = buildTimeline(s.Tenants, now)
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("audit: rendering report: %w", err)
	}
	return buf.Bytes(), nil
}

// writeReport renders the report and stores it at ReportKey.
func writeReport(ctx context.Context, snk sink.Sink, s *Summary, now time.Time) (string, error) {
	b, err := RenderReport(s, now)
	if err != nil {
		return "", err
	}
	key := ReportKey(s.Key())
	if err := snk.Put(ctx, key, b, "text/html; charset=utf-8"); err != nil {
		return "", fmt.Errorf("audit: writing report: %w", err)
	}
	return key, nil
}

// timeline is the SVG chart of subscription end dates: one row per tenant
// (those with the soonest ends first), one mark per subscription.
type timeline struct {
	Width, Height, Left, Right int
	Rows                       []timelineRow
	Ticks                      []timelineTick
	NowX                       int
	Hidden                     int
}

type timelineRow struct {
	Y     int
	Label string
	Marks []timelineMark
}

type timelineMark struct {
	X     int
	Color string
	Title string
}

type timelineTick struct {
	X     int
	Label string
}

const (
	timelineRows  = 40
	timelineSpanD = 730 // days shown after now
	timelineBackD = 60  // days shown before now
)

func buildTimeline(tenants []*TenantAudit, now time.Time) timeline {
	tl := timeline{Width: 960, Left: 220, Right: 20}
	from := now.AddDate(0, 0, -timelineBackD)
	to := now.AddDate(0, 0, timelineSpanD)
	span := to.Sub(from)
	plot := tl.Width - tl.Left - tl.Right
	x := func(t time.Time) int {
		if t.Before(from) {
			t = from
		}
		if t.After(to) {
			t = to
		}
		return tl.Left + int(float64(plot)*float64(t.Sub(from))/float64(span))
	}
	type row struct {
		ta    *TenantAudit
		first time.Time
	}
	var rows []row
	for _, ta := range tenants {
		if len(ta.Subscriptions) == 0 {
			continue
		}
		first := ta.Subscriptions[0].End
		for _, s := range ta.Subscriptions {
			if s.End.Before(first) {
				first = s.End
			}
		}
		rows = append(rows, row{ta, first})
	}
	slices.SortStableFunc(rows, func(a, b row) int { return a.first.Compare(b.first) })
	if len(rows) > timelineRows {
		tl.Hidden = len(rows) - timelineRows
		rows = rows[:timelineRows]
	}
	for i, r := range rows {
		tr := timelineRow{Y: 30 + i*18, Label: capText(r.ta.TenantName)}
		for _, s := range r.ta.Subscriptions {
			days := s.End.Sub(now).Hours() / 24
			color := "#2e7d32"
			switch {
			case days < 0:
				color = "#757575"
			case days <= 30:
				color = "#c62828"
			case days <= 90:
				color = "#ef6c00"
			}
			tr.Marks = append(tr.Marks, timelineMark{X: x(s.End), Color: color,
				Title: capText(fmt.Sprintf("%s %s %s ends %s", s.Key, s.Tier, s.Status, s.End.UTC().Format("2006-01-02")))})
		}
		tl.Rows = append(tl.Rows, tr)
	}
	tl.Height = 40 + len(tl.Rows)*18
	for m := 0; m <= (timelineSpanD+timelineBackD)/30; m += 3 {
		t := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, m+1, 0)
		if t.After(to) {
			break
		}
		tl.Ticks = append(tl.Ticks, timelineTick{X: x(t), Label: t.Format("Jan 2006")})
	}
	tl.NowX = x(now)
	return tl
}
