package collectorfn

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeEvent: any event either decodes or is an *EventError; it never
// panics. Seeds: every events/*.json.
func FuzzDecodeEvent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "events", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"Records":[]}`))
	f.Add([]byte(`{"source":"centralmsp.audit","detail-type":"AuditRequest","detail":"\"x\""}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		inv, err := DecodeEvent(raw)
		if (inv == nil) == (err == nil) {
			t.Fatalf("inv %v err %v", inv, err)
		}
		if inv != nil && inv.Kind == KindAudit {
			if _, err := inv.Audit.SinceTime(); err != nil {
				t.Fatalf("an audit request with an unusable since: %v", err)
			}
		}
	})
}
