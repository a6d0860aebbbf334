package central

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/testenv"
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
		// Plain: names, line breaks and UTF-8
		`{"items":[{"_id":1}]}`, `{"items":[{"a":{"_id":1}}]}`, `{"items":[{"\u005fid":1}]}`, `{"items":[{"a\n":1}]}`,
		"{\"items\":[{\"a\":\n1}]}", "{\"items\":[{\"a\":1}\r\n,2]}", "{\"items\":[{\"a\":\"\xc3\"}]}", "{\"items\":[],\"next\":\"\xff\"}",
		`{"items":[{"a":"Zürich – ☃ 😀"},"_s",["_"]]}`, "{\"items\":[\"\xed\xa0\x80\"]}", "{\"items\":[\"\xf4\x90\x80\x80\",\"\xc0\xaf\"]}",
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
		if fast.plain {
			for i, it := range fast.Items {
				if !testenv.PlainItem(it) {
					t.Fatalf("%q: plain, but item %d %q is not", raw, i, it)
				}
			}
		}
	})
}

// Page.Plain holds exactly when every item keeps its promise (the scan may
// be stricter: an escaped name, or bad UTF-8 outside the items).
func TestRawPagePlain(t *testing.T) {
	for s, want := range map[string]bool{
		`{"items":[{"id":"a","n":{"_x":"\u005f"}},[1],"s"],"total":1}`: true,
		`{"items":[{"siteName":"Zürich 1 – L'Atelier"}]}`:              true,
		"{\"items\" :\n[{\"a\":1},\r\n{\"b\":2}\n]\n}\n":               true,
		`{"items":[]}`:                           true,
		`{"items":[{"a":1},{"_tenant_id":2}]}`:   false,
		`{"items":[{"\u005ftenant_id":2}]}`:      false,
		`{"items":[{"\u0061":2}]}`:               false, // an escaped name: not told apart
		"{\"items\":[{\"a\":\r1}]}":              false,
		"{\"items\":[{\"a\":\"\xff\"}]}":         false,
		"{\"items\":[{\"a\":\"\xed\xa0\x80\"}]}": false, // a surrogate
		"{\"items\":[\"\xc3\"]}":                 false,
	} {
		var env pageEnvelope[json.RawMessage]
		if !splitRawPage([]byte(s), &env) {
			t.Fatalf("%q: not on the fast path", s)
		}
		if env.plain != want {
			t.Errorf("%q: plain %v, want %v", s, env.plain, want)
		}
	}
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
		end := scanValue(raw, i, 0, &scanState{})
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

// BenchmarkSplitRawPage scans a page of 1000 items shaped like New
// Central's (flat objects of short strings and numbers, non-ASCII site
// names, one nested item in ten):
//
//	go test -run '^$' -bench SplitRawPage ./pkg/central/
func BenchmarkSplitRawPage(b *testing.B) {
	var page bytes.Buffer
	page.WriteString(`{"items":[`)
	for i := range 1000 {
		if i > 0 {
			page.WriteByte(',')
		}
		if i%10 == 9 {
			fmt.Fprintf(&page, `{"address":{"city":"Zürich","country":"Switzerland","zipCode":"8001"},"alerts":{"groups":[{"count":%d,"name":"Critical"}],"totalCount":1},"id":"%09d","reasons":[],"siteName":"Zürich 1 – L'Atelier","type":"network-monitoring/site-health"}`, i%7, i)
			continue
		}
		fmt.Fprintf(&page, `{"clientCount":%d,"clusterName":"","cpuUtilization":%d.5,"deployment":"Standalone","deviceName":"AP-%04d","firmwareVersion":"10.4.0.2","id":"AT%011d","ipv4":"10.255.149.%d","lastSeenAt":"2026-10-01T00:00:00.000Z","macAddress":"02:00:00:00:00:%02X","model":"AP-655","serialNumber":"AT%011d","siteName":"Zürich 1 – L'Atelier","status":"ONLINE","uptimeInMillis":3106850000,"wlanCount":1}`, i%50, i%100, i, i, i%256, i%256, i)
	}
	page.WriteString(`],"count":1000,"total":1000,"next":null}`)
	raw := page.Bytes()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var env pageEnvelope[json.RawMessage]
		if !splitRawPage(raw, &env) || len(env.Items) != 1000 {
			b.Fatal("not split")
		}
	}
}
