package templatecheck

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/centralmsp/centralmsp/internal/scaleout"
)

const eventsDir = repoRoot + "/events"

// datasetNames are the dataset names of docs/DESIGN.md (plus the audit one).
var datasetNames = []string{"devices", "device-inventory", "aps", "switches", "gateways", "sites-health",
	"glp-devices", "subscriptions", "audit-logs"}

var tenantHexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ShardMessage is the SQS body the scheduled run sends per shard (the
// collector owns the real type; this is the contract the sample pins).
type shardMessage struct {
	RunID        string   `json:"run_id"`
	Shard        int      `json:"shard"`
	Shards       int      `json:"shards"`
	Tenants      []string `json:"tenants"`
	Datasets     []string `json:"datasets"`
	DeadlineUnix int64    `json:"deadline_unix"`
}

type directInvoke struct {
	Tenants  []string `json:"tenants"`
	Datasets []string `json:"datasets"`
	RunID    string   `json:"run_id"`
}

type auditDetail struct {
	Tenants []string `json:"tenants"`
	Since   string   `json:"since"`
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(eventsDir, name))
	if err != nil {
		t.Fatalf("read sample event: %v", err)
	}
	return data
}

// strictDecode decodes and rejects fields the target type does not know.
func strictDecode(t *testing.T, name string, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestScheduledEvents(t *testing.T) {
	for _, tc := range []struct {
		file, source string
		detailString bool
	}{
		{"scheduled-rule.json", "aws.events", false},
		{"scheduler.json", "aws.scheduler", true},
		{"tokenrefresh-scheduled.json", "aws.events", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var ev events.CloudWatchEvent
			strictDecode(t, tc.file, readEvent(t, tc.file), &ev)
			if ev.Source != tc.source || ev.DetailType != "Scheduled Event" {
				t.Errorf("source %q detail-type %q, want %q Scheduled Event", ev.Source, ev.DetailType, tc.source)
			}
			if ev.Time.IsZero() || ev.ID == "" || len(ev.Resources) != 1 {
				t.Errorf("id, time and resources must be set like a real event")
			}
			// Rule: detail is the object {}; Scheduler: the string "{}".
			var s string
			isString := json.Unmarshal(ev.Detail, &s) == nil
			if isString != tc.detailString {
				t.Errorf("detail %s: string=%v, want %v", ev.Detail, isString, tc.detailString)
			}
			if isString && s != "{}" {
				t.Errorf("Scheduler detail = %q, want \"{}\"", s)
			}
		})
	}
}

func TestAuditRequestEvent(t *testing.T) {
	tp := loadTemplate(t)
	var ev events.CloudWatchEvent
	strictDecode(t, "audit-request.json", readEvent(t, "audit-request.json"), &ev)
	pattern := path(tp.resource("CollectorFunction"), "Properties", "Events", "AuditRequest", "Properties", "Pattern")
	if src := items(get(pattern, "source")); len(src) != 1 || src[0].Value != ev.Source {
		t.Errorf("event source %q does not match the rule pattern", ev.Source)
	}
	if dt := items(get(pattern, "detail-type")); len(dt) != 1 || dt[0].Value != ev.DetailType {
		t.Errorf("event detail-type %q does not match the rule pattern", ev.DetailType)
	}
	var d auditDetail
	strictDecode(t, "audit-request.json detail", ev.Detail, &d)
	if len(d.Tenants) == 0 {
		t.Error("sample audit request names no tenants")
	}
	for _, id := range d.Tenants {
		if !tenantHexID.MatchString(id) {
			t.Errorf("tenant %q is not a 32-hex workspace id", id)
		}
	}
	if _, err := time.Parse(time.RFC3339, d.Since); err != nil {
		t.Errorf("since: %v", err)
	}
}

func TestShardMessageEvent(t *testing.T) {
	var ev events.SQSEvent
	strictDecode(t, "shard-message.json", readEvent(t, "shard-message.json"), &ev)
	if len(ev.Records) != 1 {
		t.Fatalf("%d records, want 1 (BatchSize 1)", len(ev.Records))
	}
	r := ev.Records[0]
	if r.EventSource != "aws:sqs" || r.MessageId == "" || !strings.HasPrefix(r.EventSourceARN, "arn:aws:sqs:") {
		t.Errorf("record source %q id %q arn %q: not an SQS record", r.EventSource, r.MessageId, r.EventSourceARN)
	}
	sum := md5.Sum([]byte(r.Body))
	if r.Md5OfBody != hex.EncodeToString(sum[:]) {
		t.Errorf("md5OfBody does not match the body")
	}
	// The collector's own decoder accepts it.
	if _, err := scaleout.DecodeShardMessage([]byte(r.Body)); err != nil {
		t.Errorf("scaleout.DecodeShardMessage: %v", err)
	}
	var m shardMessage
	strictDecode(t, "shard message body", []byte(r.Body), &m)
	if m.RunID == "" || m.Shard < 1 || m.Shard > m.Shards || m.DeadlineUnix <= 0 || len(m.Tenants) == 0 {
		t.Errorf("shard message %+v: run_id, 1 <= shard <= shards, tenants and deadline_unix are required", m)
	}
	for _, id := range m.Tenants {
		if !tenantHexID.MatchString(id) {
			t.Errorf("tenant %q is not a 32-hex workspace id", id)
		}
	}
	for _, ds := range m.Datasets {
		if !slices.Contains(datasetNames, ds) {
			t.Errorf("unknown dataset %q", ds)
		}
	}
}

func TestDirectInvokeEvent(t *testing.T) {
	var d directInvoke
	strictDecode(t, "direct-invoke.json", readEvent(t, "direct-invoke.json"), &d)
	if len(d.Tenants) == 0 || len(d.Datasets) == 0 || d.RunID == "" {
		t.Errorf("the sample should show every (optional) field: %+v", d)
	}
	for _, ds := range d.Datasets {
		if !slices.Contains(datasetNames, ds) {
			t.Errorf("unknown dataset %q", ds)
		}
	}
}

// TestEventsDocumented checks that events/README.md describes every sample
// and that there is a sample for every trigger.
func TestEventsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(eventsDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	var names []string
	for _, f := range files {
		name := filepath.Base(f)
		names = append(names, name)
		if !bytes.Contains(readme, []byte("`"+name+"`")) {
			t.Errorf("events/README.md does not document %s", name)
		}
	}
	for _, want := range []string{"scheduled-rule.json", "scheduler.json", "direct-invoke.json",
		"shard-message.json", "audit-request.json", "tokenrefresh-scheduled.json"} {
		if !slices.Contains(names, want) {
			t.Errorf("events/%s is missing", want)
		}
	}
}
