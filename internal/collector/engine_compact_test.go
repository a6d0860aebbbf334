package collector

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/centralmsp/centralmsp/pkg/msp"
)

// FuzzAppendValidRecord: for every valid item, the fast path writes exactly
// what appendRecord writes.
func FuzzAppendValidRecord(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a": 1}`, `{"s":"a b\"c\\\\"}`, `{"s":"x\\" y"}`, "{\n\"a\":1}", `[1]`, `"s"`, ` {"a":1}`, `{"n":"Crème & Sons"}`} {
		f.Add(s)
	}
	meta := recordMeta(msp.Tenant{ID: "0123456789abcdef0123456789abcdef", Name: "T & \"1\""}, "run-1")
	f.Fuzz(func(t *testing.T, item string) {
		if !json.Valid([]byte(item)) {
			return
		}
		var want, got, scratch bytes.Buffer
		if err := appendRecord(&want, &scratch, meta, "2026-11-23T00:00:00.000Z", json.RawMessage(item)); err != nil {
			t.Fatal(err)
		}
		if err := appendValidRecord(&got, &scratch, meta, "2026-11-23T00:00:00.000Z", json.RawMessage(item)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("item %q:\n got %s\nwant %s", item, got.Bytes(), want.Bytes())
		}
	})
}

func TestIsCompact(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":1}`: true, `{"a": 1}`: false, `{"a":"x y"}`: true, `{"a":"x\" y"}`: true,
		`{"a":"x\\"," b":1}`: true, `{"a":"x\\", "b":1}`: false, "{\"a\":1}\n": false,
	} {
		if got := isCompact([]byte(in)); got != want {
			t.Errorf("isCompact(%s) = %v, want %v", in, got, want)
		}
	}
}
