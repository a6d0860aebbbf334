package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

func TestSelectDatasets(t *testing.T) {
	all, err := SelectDatasets()
	if err != nil || len(all) != 8 {
		t.Fatalf("all: %d %v", len(all), err)
	}
	got, err := SelectDatasets("subscriptions", " APS", "", "aps")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "aps" || got[1].Name != "subscriptions" {
		t.Fatalf("got %+v", got)
	}
	audit, err := SelectDatasets("audit-logs")
	if err != nil || len(audit) != 1 || !audit[0].OptIn || audit[0].Path != "/audit-log/v1/logs" {
		t.Fatalf("audit-logs must be selectable by name and opt-in: %+v %v", audit, err)
	}
	for _, d := range all {
		if d.OptIn {
			t.Fatalf("opt-in dataset %s collected by default", d.Name)
		}
	}
	if got := mergeParams(map[string]any{"a": 1}, map[string]any{"filter": "x"}); len(got) != 2 || got["filter"] != "x" {
		t.Fatalf("mergeParams = %v", got)
	}
	_, err = SelectDatasets("aps", "clients")
	var ue *UnknownDatasetError
	if !errors.As(err, &ue) || ue.Name != "clients" || !strings.Contains(err.Error(), "glp-devices") {
		t.Fatalf("err = %v", err)
	}
	want := map[string]struct {
		app   central.App
		style central.PageStyle
		limit int
	}{
		"devices": {central.AppCentral, central.CursorPaging, 1000}, "device-inventory": {central.AppCentral, central.CursorPaging, 1000},
		"aps": {central.AppCentral, central.CursorPaging, 1000}, "switches": {central.AppCentral, central.CursorPaging, 1000},
		"gateways": {central.AppCentral, central.CursorPaging, 1000}, "sites-health": {central.AppCentral, central.OffsetPaging, 1000},
		"glp-devices": {central.AppGLP, central.OffsetPaging, 2000}, "subscriptions": {central.AppGLP, central.OffsetPaging, 200},
	}
	for _, d := range all {
		w := want[d.Name]
		if d.App != w.app || d.Style != w.style || d.Limit != w.limit {
			t.Errorf("%s: %+v", d.Name, d)
		}
	}
}

func TestAppendRecord(t *testing.T) {
	meta := recordMeta(msp.Tenant{ID: "abc", Name: `Acme "Q"`}, "r1")
	at := "2026-11-23T10:00:00.000Z"
	cases := []struct{ item, want string }{
		{`{"a": 1,
		  "b": [1, 2]}`, `{"_tenant_id":"abc","_tenant_name":"Acme \"Q\"","_run_id":"r1","_collected_at":"2026-11-23T10:00:00.000Z","a":1,"b":[1,2]}`},
		{`{}`, `{"_tenant_id":"abc","_tenant_name":"Acme \"Q\"","_run_id":"r1","_collected_at":"2026-11-23T10:00:00.000Z"}`},
		{` { } `, `{"_tenant_id":"abc","_tenant_name":"Acme \"Q\"","_run_id":"r1","_collected_at":"2026-11-23T10:00:00.000Z"}`},
		{`"x"`, `{"_tenant_id":"abc","_tenant_name":"Acme \"Q\"","_run_id":"r1","_collected_at":"2026-11-23T10:00:00.000Z","_value":"x"}`},
		{`null`, `{"_tenant_id":"abc","_tenant_name":"Acme \"Q\"","_run_id":"r1","_collected_at":"2026-11-23T10:00:00.000Z","_value":null}`},
	}
	var dst, scratch bytes.Buffer
	for _, c := range cases {
		dst.Reset()
		if err := appendRecord(&dst, &scratch, meta, at, json.RawMessage(c.item)); err != nil {
			t.Fatal(err)
		}
		if got := dst.String(); got != c.want+"\n" {
			t.Errorf("item %q:\n got %s\nwant %s", c.item, got, c.want)
		}
		if !json.Valid(bytes.TrimSpace(dst.Bytes())) {
			t.Errorf("invalid JSON: %s", dst.String())
		}
	}
	if err := appendRecord(&dst, &scratch, meta, at, json.RawMessage(`{"a":`)); err == nil {
		t.Error("malformed item accepted")
	}
}

func TestClassify(t *testing.T) {
	apiErr := func(code int) error { return &central.APIError{Method: "GET", Path: "/x", StatusCode: code} }
	cases := []struct {
		err    error
		class  ErrorClass
		status int
	}{
		{&central.LoginError{App: central.AppGLP, StatusCode: 400, ErrorCode: "invalid_grant"}, ClassLogin, 400},
		{fmt.Errorf("wrapped: %w", apiErr(401)), ClassUnauthorized, 401},
		{apiErr(403), ClassUnauthorized, 403},
		{apiErr(500), ClassAPIError, 500},
		{apiErr(429), ClassRateLimited, 429},
		{&central.RateLimitError{Budget: "central", Attempts: 5}, ClassRateLimited, 429},
		{&central.PaginationError{Path: "/x", Page: 3, Reason: "repeated cursor"}, ClassPagination, 0},
		{&central.ResponseError{Method: "GET", Path: "/x", Reason: "truncated body"}, ClassAPIError, 0},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), ClassTimeout, 0},
		{&SinkError{Key: "k", Err: errors.New("disk full")}, ClassSink, 0},
		{&PanicError{Value: "boom"}, ClassInternal, 0},
		{&msp.TenantNotFoundError{Name: "x"}, ClassNotFound, 0},
		{central.ErrAppNotConfigured, ClassNotConfigured, 0},
		{errors.New("other"), ClassInternal, 0},
	}
	for _, c := range cases {
		class, status := Classify(c.err)
		if class != c.class || status != c.status {
			t.Errorf("Classify(%v) = %s %d, want %s %d", c.err, class, status, c.class, c.status)
		}
	}
}

func TestRedact(t *testing.T) {
	in := `failed: Authorization: Bearer eyJhbGciOi.secret.part and access_token=abc123&x client_secret="s3cr3t"`
	out := redact(in)
	for _, s := range []string{"eyJhbGciOi", "abc123", "s3cr3t"} {
		if strings.Contains(out, s) {
			t.Errorf("redact left %q in %q", s, out)
		}
	}
	if len(redact(strings.Repeat("x", 5000))) > maxMessage+3 {
		t.Error("not capped")
	}
}

func okTenant(id string, recs int64) TenantResult {
	return TenantResult{ID: id, Name: "n-" + id, Datasets: []DatasetResult{
		{Dataset: "aps", Status: StatusOK, Records: recs, Pages: 1, APICalls: 1},
		{Dataset: "subscriptions", Status: StatusOK, Records: 1, Pages: 1, APICalls: 1, RateLimited: 1},
	}}
}

func TestSummarize(t *testing.T) {
	m := &Manifest{Version: 1, RunID: "r", Tenants: []TenantResult{okTenant("a", 5), okTenant("b", 7)}}
	m.Totals.TokenCacheHits, m.Totals.TokenCacheMisses = 3, 1
	m.Summarize()
	if !m.Complete || m.Totals.TenantsOK != 2 || m.Totals.Records != 14 || m.Totals.APICalls != 4 || m.Totals.RateLimited != 2 || m.Totals.TokenCacheHitRatio != 0.75 {
		t.Fatalf("%+v complete=%v", m.Totals, m.Complete)
	}
	m.Tenants[1].Datasets[1].Status = StatusSkipped
	m.Summarize()
	if m.Complete || m.Tenants[1].Status != StatusOK || m.Totals.DatasetsSkipped != 1 {
		t.Fatalf("skipped: complete=%v status=%s", m.Complete, m.Tenants[1].Status)
	}
	m.Tenants[0].Datasets[0].Status = StatusFailed
	m.Summarize()
	if m.Tenants[0].Status != StatusFailed || m.Totals.TenantsFailed != 1 {
		t.Fatalf("failed: %+v", m.Totals)
	}
}

func TestJoin(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	shard := func(name string, start time.Duration, tenants ...TenantResult) *Manifest {
		m := &Manifest{Version: 1, RunID: "r1", Shard: name, Date: "2026-11-23", Datasets: []string{"subscriptions", "aps"},
			StartedAt: t0.Add(start), FinishedAt: t0.Add(start + time.Minute), Tenants: tenants}
		m.Totals.Exchanges, m.Totals.TokenCacheHits, m.Totals.TokenCacheMisses = int64(len(tenants)), 1, 1
		m.Summarize()
		return m
	}
	failedB := okTenant("b", 7)
	failedB.Datasets[0].Status = StatusFailed
	s0 := shard("0", 0, okTenant("c", 1), okTenant("a", 2))
	s1 := shard("1", time.Minute, failedB)
	s1retry := shard("1", 3*time.Minute, okTenant("b", 7))

	j, err := Join("r1", []string{"0", "1"}, s0, s1)
	if err != nil {
		t.Fatal(err)
	}
	if j.Complete || j.Totals.TenantsFailed != 1 || len(j.Tenants) != 3 || j.Tenants[0].ID != "a" {
		t.Fatalf("join: complete=%v %+v", j.Complete, j.Totals)
	}
	if j.Datasets[0] != "aps" || j.Totals.Exchanges != 3 || j.Totals.TokenCacheHitRatio != 0.5 {
		t.Fatalf("datasets %v totals %+v", j.Datasets, j.Totals)
	}
	if j.Totals.DurationMS != (2 * time.Minute).Milliseconds() {
		t.Fatalf("duration %d", j.Totals.DurationMS)
	}

	j, _ = Join("r1", []string{"0", "1"}, s1, s0, s1retry)
	if !j.Complete || j.Totals.TenantsOK != 3 || j.Totals.Records != 2+1+7+3 {
		t.Fatalf("retried shard: complete=%v %+v", j.Complete, j.Totals)
	}

	j, _ = Join("r1", []string{"0", "1", "2"}, s0, s1retry)
	if j.Complete || j.Error == nil || j.Error.Class != ClassIncomplete || !strings.Contains(j.Error.Message, "2") {
		t.Fatalf("missing shard: %+v", j.Error)
	}
	if _, err := Join("other", nil, s0); err == nil {
		t.Fatal("joined a shard of another run")
	}

	// Round trip through JSON.
	b, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadManifest(bytes.NewReader(b))
	if err != nil || back.Totals != j.Totals || len(back.Tenants) != 3 {
		t.Fatalf("round trip: %v", err)
	}
}

func TestWriteEMF(t *testing.T) {
	m := &Manifest{Version: 1, RunID: "r1", FinishedAt: time.UnixMilli(1795463343819), Tenants: []TenantResult{okTenant("a", 5)}}
	m.Totals.TokenCacheHits, m.Totals.TokenCacheMisses, m.Totals.Exchanges = 1, 1, 1
	m.Summarize()
	var buf bytes.Buffer
	if err := WriteEMF(&buf, m, EMFOptions{Dimensions: map[string]string{"Function": "collector"}}); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("want one line: %q", line)
	}
	// Parse per the EMF specification.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatal(err)
	}
	var aws struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name, Unit string
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(doc["_aws"], &aws); err != nil {
		t.Fatal(err)
	}
	if aws.Timestamp != 1795463343819 || len(aws.CloudWatchMetrics) != 1 {
		t.Fatalf("_aws = %+v", aws)
	}
	d := aws.CloudWatchMetrics[0]
	if d.Namespace != "CentralMSP" || len(d.Dimensions) != 1 || len(d.Dimensions[0]) != 1 || d.Dimensions[0][0] != "Function" {
		t.Fatalf("directive = %+v", d)
	}
	if string(doc["Function"]) != `"collector"` || string(doc["RunID"]) != `"r1"` {
		t.Fatalf("dimension/property values missing: %s", line)
	}
	validUnits := map[string]bool{"Count": true, "Bytes": true, "Milliseconds": true, "Percent": true}
	want := map[string]string{"TenantsOK": "1", "TenantsFailed": "0", "TenantsDeferred": "0", "Records": "6",
		"APICalls": "2", "RateLimited": "1", "Exchanges": "1", "TokenCacheHitRatio": "50", "Complete": "1"}
	seen := map[string]bool{}
	for _, mt := range d.Metrics {
		if !validUnits[mt.Unit] {
			t.Errorf("metric %s: unit %q", mt.Name, mt.Unit)
		}
		raw, ok := doc[mt.Name]
		if !ok {
			t.Errorf("metric %s has no top-level value", mt.Name)
			continue
		}
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Errorf("metric %s value %s is not a number", mt.Name, raw)
		}
		seen[mt.Name] = true
		if w, ok := want[mt.Name]; ok && string(raw) != w {
			t.Errorf("%s = %s, want %s", mt.Name, raw, w)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("metric %s missing", k)
		}
	}
	if len(d.Metrics) > 100 {
		t.Error("EMF allows at most 100 metrics per directive")
	}

	// No dimensions: one empty dimension set.
	buf.Reset()
	if err := WriteEMF(&buf, m, EMFOptions{Namespace: "X"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"Dimensions":[[]]`) || !strings.Contains(buf.String(), `"Namespace":"X"`) {
		t.Fatalf("%s", buf.String())
	}
	if err := WriteEMF(&buf, m, EMFOptions{Dimensions: map[string]string{"Records": "x"}}); err == nil {
		t.Fatal("dimension clashing with a metric accepted")
	}
}

func TestKeysAndRunID(t *testing.T) {
	if k := ObjectKey("aps", "2026-11-23", "r1", "abc"); k != "inventory/dataset=aps/dt=2026-11-23/run=r1/tenant=abc.ndjson.gz" {
		t.Fatal(k)
	}
	if ManifestKey("r1") != "runs/r1/manifest.json" || ShardKey("r1", "7") != "runs/r1/shards/7.json" {
		t.Fatal("keys")
	}
	id := NewRunID(time.Date(2026, 11, 23, 14, 15, 0, 0, time.UTC))
	if !strings.HasPrefix(id, "20261123T141500Z-") || !nameRE.MatchString(id) {
		t.Fatal(id)
	}
}
