package centralsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AuditLogEntry is an audit log event added with AppendAuditLogs.
type AuditLogEntry struct {
	// ID is the event's id in both API versions (default: generated).
	ID string
	// CreatedAt is the event's time (default: the simulator's clock). It is
	// served with millisecond precision, so entries within the same
	// millisecond share a createdAt.
	CreatedAt time.Time
	// Category and Description default to "user_management" and a
	// generated text.
	Category, Description string
}

// AppendAuditLogs adds audit log events to a workspace (32 hex or dashed
// id), as if they had just happened: they are served by both audit log
// endpoints from the next request on (also in the middle of a paginated
// read), in the endpoints' order (newest first; among equal createdAt, the
// last appended first), and Records includes them. They survive Drift. It
// returns the entries with their defaults filled in.
func (s *Server) AppendAuditLogs(workspace string, entries ...AuditLogEntry) ([]AuditLogEntry, error) {
	ts := s.byHex[strings.ReplaceAll(workspace, "-", "")]
	if ts == nil {
		return nil, fmt.Errorf("centralsim: unknown workspace %q", workspace)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]AuditLogEntry, len(entries))
	for i, e := range entries {
		n := s.appendSeq.Add(1)
		if e.ID == "" {
			e.ID = uuidFrom(newRand(s.opts.Seed, ts.info.HexID, "appended-audit", fmt.Sprint(n)))
		}
		if e.CreatedAt.IsZero() {
			e.CreatedAt = s.now()
		}
		e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Millisecond)
		if e.Category == "" {
			e.Category = "user_management"
		}
		if e.Description == "" {
			e.Description = fmt.Sprintf("Appended event %d for %s", n, ts.info.Name)
		}
		out[i] = e
	}
	ts.appended = append(ts.appended, out...)
	// Replace the current data (readers may hold the old slices).
	if d := ts.data.Load(); d != nil {
		sets := make(map[string][]json.RawMessage, len(d.sets))
		for k, v := range d.sets {
			sets[k] = v
		}
		for _, name := range []string{DatasetAuditLogs, DatasetAuditLogsV2} {
			sets[name] = slices.Clone(d.sets[name])
		}
		ts.mergeAppended(sets, out)
		ts.data.Store(&tenantData{gen: d.gen, sets: sets})
	}
	return out, nil
}

// mergeAppended inserts entries into the audit log sets, keeping them
// newest first; an entry goes before every item with the same createdAt.
func (ts *tenantState) mergeAppended(sets map[string][]json.RawMessage, entries []AuditLogEntry) {
	wsType := map[string]string{KindTenant: "TENANT", KindMSP: "MSP", KindStandalone: "STANDALONE"}[ts.kind]
	for _, e := range entries {
		at := ts3339(e.CreatedAt)
		v1 := mustJSON(map[string]any{
			"id": e.ID, "type": "audit-log/logs", "category": e.Category, "description": e.Description,
			"application": map[string]string{"id": "00000000-0000-0000-0000-000000000000"}, "region": "us-west",
			"user":      map[string]string{"username": "admin0@example.com"},
			"workspace": map[string]string{"id": ts.info.HexID, "workspaceName": ts.info.Name},
			"createdAt": at, "updatedAt": at, "generation": 1,
			"additionalInfo": map[string]string{"ipAddress": "192.0.2.200"}, "hasDetails": false,
		})
		v2 := mustJSON(map[string]any{
			"id": e.ID, "type": "audit-log/logs", "category": e.Category, "description": e.Description,
			"createdAt": at, "username": "admin0@example.com", "ipAddress": "192.0.2.200", "hasDetails": false,
			"serviceOffer": map[string]string{"id": "00000000-0000-0000-0000-000000000000", "region": "us-west", "name": "HPE GreenLake"},
			"workspace":    map[string]string{"id": ts.info.ID, "name": ts.info.Name, "type": wsType},
		})
		for name, item := range map[string]json.RawMessage{DatasetAuditLogs: v1, DatasetAuditLogsV2: v2} {
			list := sets[name]
			i := slices.IndexFunc(list, func(it json.RawMessage) bool {
				var h struct{ CreatedAt string }
				_ = json.Unmarshal(it, &h)
				t, err := time.Parse(time.RFC3339Nano, h.CreatedAt)
				return err == nil && !t.After(e.CreatedAt)
			})
			if i < 0 {
				i = len(list)
			}
			sets[name] = slices.Insert(list, i, item)
		}
	}
}
