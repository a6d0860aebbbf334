package collector

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/centralmsp/centralmsp/pkg/msp"
)

// FuzzAppendValidRecord: for every valid item, the fast path writes one
// line that is, compacted, exactly what appendRecord writes.
func FuzzAppendValidRecord(f *testing.F) {
	for _, s := range []string{`{}`, `{ }`, "{\t}", `{"a":1}`, `{"a": 1}`, `{ "a":1 }`, `{"s":"a b\"c\\\\"}`, `{"s":"x\\" y"}`, "{\n\"a\":1}", "{\"a\":1\r}", `[1]`, `"s"`, ` {"a":1}`, `{"n":"Crème & Sons"}`} {
		f.Add(s)
	}
	meta := recordMeta(msp.Tenant{ID: "0123456789abcdef0123456789abcdef", Name: "T & \"1\""}, "run-1")
	f.Fuzz(func(t *testing.T, item string) {
		if !json.Valid([]byte(item)) {
			return
		}
		var want, got, compact, scratch bytes.Buffer
		if err := appendRecord(&want, &scratch, meta, "2026-11-23T00:00:00.000Z", json.RawMessage(item)); err != nil {
			t.Fatal(err)
		}
		if err := appendValidRecord(&got, &scratch, meta, "2026-11-23T00:00:00.000Z", json.RawMessage(item), false); err != nil {
			t.Fatal(err)
		}
		line := got.Bytes()
		if bytes.ContainsAny(line[:len(line)-1], "\r\n") || line[len(line)-1] != '\n' {
			t.Fatalf("item %q: not one line: %q", item, line)
		}
		if err := json.Compact(&compact, line[:len(line)-1]); err != nil {
			t.Fatalf("item %q: invalid JSON %q: %v", item, line, err)
		}
		compact.WriteByte('\n')
		if !bytes.Equal(compact.Bytes(), want.Bytes()) {
			t.Fatalf("item %q:\n got %s\nwant %s", item, line, want.Bytes())
		}
	})
}

// An item that is already one line is written byte for byte, spaces and
// all: the API's own text, not a re-encoding.
func TestAppendValidRecordVerbatim(t *testing.T) {
	meta := recordMeta(msp.Tenant{ID: "0123456789abcdef0123456789abcdef", Name: "T"}, "r")
	prefix := string(meta) + `"2026-11-23T00:00:00.000Z"`
	for in, want := range map[string]string{
		`{}`:                  prefix + "}\n",
		`{ }`:                 prefix + "}\n",
		`{"a":1.50}`:          prefix + `,"a":1.50}` + "\n",
		`{ "a": "x  y" }`:     prefix + `, "a": "x  y" }` + "\n",
		"{\n \"a\": 1\n}":     prefix + `,"a":1}` + "\n",
		`{"s":"line\nbreak"}`: prefix + `,"s":"line\nbreak"}` + "\n",
	} {
		var got, scratch bytes.Buffer
		if err := appendValidRecord(&got, &scratch, meta, "2026-11-23T00:00:00.000Z", json.RawMessage(in), false); err != nil {
			t.Fatal(err)
		}
		if got.String() != want {
			t.Errorf("item %q:\n got %q\nwant %q", in, got.String(), want)
		}
	}
}
