package centralsim

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

// TestAppendAuditLogs: appended events are served newest first (ties: last
// appended first) by both versions, filtered by createdAt, counted in
// Records, and kept across Drift.
func TestAppendAuditLogs(t *testing.T) {
	h := newSim(t)
	tn := h.Tenants()[0]
	tok := h.tenantToken(tn.HexID)
	before := h.Records(tn.HexID, DatasetAuditLogs)
	at := time.Date(2026, 11, 23, 14, 0, 0, 123_400_000, time.UTC)
	got, err := h.AppendAuditLogs(tn.ID, AuditLogEntry{ID: "a", CreatedAt: at}, AuditLogEntry{ID: "b", CreatedAt: at},
		AuditLogEntry{ID: "c", CreatedAt: at.Add(time.Second)})
	if err != nil || len(got) != 3 || !got[0].CreatedAt.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := h.AppendAuditLogs("nope"); err == nil {
		t.Fatal("unknown workspace accepted")
	}
	f := "createdAt ge '2026-11-23T14:00:00.123Z'"
	for _, ep := range []string{EndpointAuditLogs, EndpointAuditLogsV2} {
		items, _ := pageItems(t, h.get(h.URL+ep+"?limit=2000&filter="+url.QueryEscape(f), tok))
		var ids []string
		for _, it := range items {
			var v struct{ ID, CreatedAt string }
			json.Unmarshal(it, &v)
			ids = append(ids, v.ID)
		}
		if len(ids) != 3 || ids[0] != "c" || ids[1] != "b" || ids[2] != "a" {
			t.Fatalf("%s: %v", ep, ids)
		}
	}
	if n := len(h.Records(tn.HexID, DatasetAuditLogs)); n != len(before)+3 {
		t.Fatalf("Records: %d, want %d", n, len(before)+3)
	}
	h.Drift(tn.HexID)
	items, _ := pageItems(t, h.get(h.URL+EndpointAuditLogs+"?limit=2000&filter="+url.QueryEscape(f), tok))
	if len(items) != 3 {
		t.Fatalf("after Drift: %d", len(items))
	}
}
