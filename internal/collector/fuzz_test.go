package collector

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/centralmsp/centralmsp/pkg/msp"
)

// FuzzAppendRecord: whatever valid JSON an API returns as an item, the
// record is one line of valid JSON carrying the added fields, and an object
// item's own fields survive unchanged.
func FuzzAppendRecord(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, "{\n \"serialNumber\": \"SN\\n1\",\n \"x\": [1, {\"y\": null}]\n}", `[]`, `"s"`, `12.5e3`, `null`, `{"_tenant_id":"spoof"}`, `{"u":"\u2028\u00e9"}`} {
		f.Add(s)
	}
	meta := recordMeta(msp.Tenant{ID: "0123456789abcdef0123456789abcdef", Name: "T\"1\n"}, "run-1")
	f.Fuzz(func(t *testing.T, item string) {
		if !json.Valid([]byte(item)) {
			return
		}
		var dst, scratch bytes.Buffer
		if err := appendRecord(&dst, &scratch, meta, "2026-11-23T00:00:00.000Z", json.RawMessage(item)); err != nil {
			t.Fatalf("valid item %q rejected: %v", item, err)
		}
		line := dst.Bytes()
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("not one line: %q", line)
		}
		var got map[string]any
		if !json.Valid(line) {
			t.Fatalf("invalid JSON %q", line)
		}
		if err := decodeNumbers(line, &got); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if got["_run_id"] != "run-1" || got["_collected_at"] != "2026-11-23T00:00:00.000Z" {
			t.Fatalf("meta lost: %q", line)
		}
		var obj map[string]any
		if decodeNumbers([]byte(item), &obj) == nil && obj != nil {
			for k, v := range obj {
				if len(k) > 0 && k[0] == '_' {
					continue // an item field named like ours is renamed (FuzzRecordMeta checks it)
				}
				gb, _ := json.Marshal(got[k])
				wb, _ := json.Marshal(v)
				if !bytes.Equal(gb, wb) {
					t.Fatalf("field %q: got %s want %s", k, gb, wb)
				}
			}
		} else if _, ok := got["_value"]; !ok {
			t.Fatalf("non-object item not kept under _value: %q", line)
		}
	})
}

// decodeNumbers is json.Unmarshal of valid JSON that keeps numbers as
// their text: a number beyond float64 (1e1000) is valid JSON, kept as it
// is in the record, and a float64 would not hold it.
func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// FuzzReadManifest: decoding arbitrary bytes never panics, and a decoded
// manifest re-encodes and decodes to the same totals.
func FuzzReadManifest(f *testing.F) {
	m := &Manifest{Version: 1, RunID: "r", Tenants: []TenantResult{okTenant("a", 1)}}
	m.Summarize()
	b, _ := m.Marshal()
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadManifest(bytes.NewReader(data))
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			return // e.g. NaN ratios cannot be encoded
		}
		back, err := ReadManifest(bytes.NewReader(b))
		if err != nil || back.Totals != m.Totals || len(back.Tenants) != len(m.Tenants) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
