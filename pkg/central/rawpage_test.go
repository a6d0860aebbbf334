package central

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzRawPage: the fast page decoder agrees with encoding/json on every
// input: the same error or none, the same items byte for byte, the same
// envelope fields.
func FuzzRawPage(f *testing.F) {
	for _, s := range []string{
		`{"items":[{"id":"a"}],"count":1,"total":5,"next":"2"}`,
		` { "items" : [ {"id" : "a b"} , 2 , "s\"]" , [1,{"x":[]}] , null ] , "total" : "3" } `,
		`{"items":[],"count":0,"total":0,"next":null}`,
		`{"items":[1,2],"offset":"0","total":"2","next":3}`,
		`{"Items":[1],"ITEMS":[2]}`, `{"items":[1],"items":[2]}`, `{"ıtems":[1]}`, `{"\u0069tems":[1]}`,
		`{"items":null}`, `{"items":{}}`, `[]`, `{"items":[],"total":-1}`, `{"items":[],"total":1e99}`,
		`{"items":[1],"next":{}}`, `{"x":{"items":[9]},"items":[1]}`, `{"items":[1]} `, `{"items":[1]`, `"s"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast, slow pageEnvelope[json.RawMessage]
		ferr := fast.decodeRaw(raw)
		serr := json.Unmarshal(raw, &slow)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("%q: fast error %v, encoding/json error %v", raw, ferr, serr)
		}
		if serr != nil {
			if ferr.Error() != serr.Error() {
				t.Fatalf("%q: errors differ: %v vs %v", raw, ferr, serr)
			}
			return
		}
		if (fast.Items == nil) != (slow.Items == nil) || len(fast.Items) != len(slow.Items) {
			t.Fatalf("%q: items %q vs %q", raw, fast.Items, slow.Items)
		}
		for i := range slow.Items {
			if !bytes.Equal(fast.Items[i], slow.Items[i]) {
				t.Fatalf("%q: item %d %q vs %q", raw, i, fast.Items[i], slow.Items[i])
			}
		}
		if fast.Count != slow.Count || fast.Total != slow.Total || fast.Offset != slow.Offset || fast.Next != slow.Next {
			t.Fatalf("%q: envelope %+v vs %+v", raw, fast, slow)
		}
	})
}

// Items from the fast path alias the body but cannot overwrite it: an
// append to one item leaves the next intact.
func TestRawPageItemsDoNotOverwrite(t *testing.T) {
	raw := []byte(`{"items":[{"a":1},{"b":2}],"total":2}`)
	var env pageEnvelope[json.RawMessage]
	if err := env.decodeRaw(raw); err != nil {
		t.Fatal(err)
	}
	if !splitRawPage(raw, &pageEnvelope[json.RawMessage]{}) {
		t.Fatal("a plain page did not take the fast path")
	}
	_ = append(env.Items[0], "XXXXXXXX"...)
	if string(env.Items[1]) != `{"b":2}` || !strings.Contains(string(raw), `{"b":2}`) {
		t.Fatalf("items %q, body %s", env.Items, raw)
	}
}
