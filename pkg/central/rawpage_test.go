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
		// strictness: what json.Valid rejects inside items or other members
		`{"items":[01]}`, `{"items":[1.]}`, `{"items":[-]}`, `{"items":[1e]}`, `{"items":[1e+]}`, `{"items":[-0.5E-7]}`,
		`{"items":[tru]}`, `{"items":[truex]}`, `{"items":[nul,1]}`, `{"items":[1,]}`, `{"items":[,1]}`, `{"items":[1 2]}`,
		`{"items":["a\x"]}`, `{"items":["\u12g4"]}`, `{"items":["\u00e9\ud83d\ude00"]}`, "{\"items\":[\"a\tb\"]}",
		"{\"items\":[\"\xff\xfe\"]}", `{"items":[{"a" 1}]}`, `{"items":[{"a":1,}]}`, `{"items":[{1:2}]}`,
		`{"items":[{"a":1}}`, `{"items":[[1]]]}`, `{"items":[]} x`, `{"items":[]}}`, `{"items":[],}`, `{"x":01,"items":[]}`,
		`{"x":[1,],"items":[]}`, `{"items":[],"x":"\q"}`, "{\"items\":[\"\x00\"]}", `{"it\"ems":[1]}`,
		`{"items":[` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `]}`,
		`{"items":[` + strings.Repeat(`{"a":`, 255) + "1" + strings.Repeat("}", 255) + `]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if splitRawPage(raw, &pageEnvelope[json.RawMessage]{}) && !json.Valid(raw) {
			t.Fatalf("%q: the fast path accepted what json.Valid rejects", raw)
		}
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

// FuzzScanValue: the strict scanner accepts exactly what json.Valid
// accepts (below its nesting limit, where it declines).
func FuzzScanValue(f *testing.F) {
	for _, s := range []string{
		`1`, `-0.5e+7`, `01`, `1.`, `"a\u00e9"`, `"\u12"`, `[1,{"a":[true,false,null]}]`, `{"a":1,}`, ` "x" `,
		"\"\x1f\"", "\"\xff\"", `[` + strings.Repeat("[", 300) + `]`, `tru`, `nullx`, `{"a" : [ ] , "b" : { } }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		i := skipSpace(raw, 0)
		end := scanValue(raw, i, 0)
		ok := end >= 0 && skipSpace(raw, end) == len(raw)
		valid := json.Valid(raw)
		if ok && !valid {
			t.Fatalf("%q: scanValue accepted what json.Valid rejects", raw)
		}
		if !ok && valid && bytes.Count(raw, []byte("["))+bytes.Count(raw, []byte("{")) < maxScanDepth {
			t.Fatalf("%q: scanValue rejected what json.Valid accepts", raw)
		}
	})
}

// A strictly valid page takes the fast path; every invalid one falls back.
func TestRawPageStrictFastPath(t *testing.T) {
	for _, s := range []string{
		`{"items":[{"id":"a\u00e9","n":-1.5e3,"t":true,"f":false,"z":null,"l":[]}],"total":1,"next":null}`,
		" {\"items\" :\t[ 1 , \"x\" ] }\r\n",
	} {
		if !splitRawPage([]byte(s), &pageEnvelope[json.RawMessage]{}) {
			t.Errorf("%s: not on the fast path", s)
		}
	}
	for _, s := range []string{`{"items":[01]}`, `{"items":[1]} x`, `{"items":["\x"]}`, "{\"items\":[\"\n\"]}", `{"items":[1],"a":[1,]}`} {
		var env pageEnvelope[json.RawMessage]
		if splitRawPage([]byte(s), &env) {
			t.Errorf("%s: accepted by the fast path", s)
		}
		if env.decodeRaw([]byte(s)) == nil {
			t.Errorf("%s: decoded without an error", s)
		}
	}
}
