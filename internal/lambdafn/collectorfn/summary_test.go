package collectorfn

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
)

// TestAuditRequestReportURI: an AuditRequest's response names the report
// by one joined address (report_uri), where an object is.
func TestAuditRequestReportURI(t *testing.T) {
	h, sim, mem, _ := memHandler(t, 2)
	h.Config.Audit = true
	detail, _ := json.Marshal(AuditRequest{Tenants: []string{sim.Tenants()[0].HexID}, Since: "2000-01-01T00:00:00Z"})
	ev, _ := json.Marshal(awsevents.EventBridgeEvent{Version: "0", ID: "x", DetailType: DetailTypeAudit, Source: SourceAudit,
		AccountID: "123456789012", Time: time.Now().UTC(), Region: "us-east-1", Resources: []string{}, Detail: detail})
	sum := handleSummary(t, h, ev)
	if sum.Audit == nil || sum.Audit.Report == "" {
		t.Fatalf("audit %+v warnings %v", sum.Audit, sum.Warnings)
	}
	if want := mem.String() + sum.Audit.Report; sum.Audit.ReportURI != want {
		t.Errorf("report_uri %q, want %q", sum.Audit.ReportURI, want)
	}
	if _, ok := mem.Object(strings.TrimPrefix(sum.Audit.ReportURI, mem.String())); !ok {
		t.Errorf("no object at %s", sum.Audit.ReportURI)
	}
	b, err := json.Marshal(sum)
	if err != nil || !strings.Contains(string(b), `"report_uri":"`+sum.Audit.ReportURI+`"`) {
		t.Errorf("response %s %v, want report_uri", b, err)
	}
}
