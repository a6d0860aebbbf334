package audit

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

const tid = "0123456789abcdef0123456789abcdef"

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestBaselineRoundTrip(t *testing.T) {
	b := &Baseline{Version: BaselineVersion, TenantID: tid, TenantName: "Café <&>", Dataset: "devices", RunID: "r1",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Fields: []string{"a", "b"},
		Items: map[string][]string{"SN1": {"x", ""}, "SN2": {"ü", "1"}, "S\"N\\3\n": {"\x01\t\"</script>", "\u2028"}}}
	data, err := EncodeBaseline(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBaseline(data, tid, "devices")
	if err != nil {
		t.Fatal(err)
	}
	if got.TenantName != b.TenantName || len(got.Items) != 3 || got.Items["SN2"][0] != "ü" || !got.Time.Equal(b.Time) ||
		!slices.Equal(got.Items["S\"N\\3\n"], b.Items["S\"N\\3\n"]) {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestDecodeBaselineRefuses(t *testing.T) {
	ok := `{"version":1,"tenant_id":"` + tid + `","tenant_name":"n","dataset":"devices","run_id":"r","time":"2026-01-01T00:00:00Z","fields":["a"],"items":{"k":["v"]}}`
	if _, err := DecodeBaseline(gz(ok), tid, "devices"); err != nil {
		t.Fatalf("valid baseline refused: %v", err)
	}
	cases := map[string][]byte{
		"not gzip":       []byte(ok),
		"other tenant":   gz(strings.Replace(ok, tid, "ffffffffffffffffffffffffffffffff", 1)),
		"other dataset":  gz(strings.Replace(ok, `"devices"`, `"aps"`, 1)),
		"version":        gz(strings.Replace(ok, `"version":1`, `"version":2`, 1)),
		"number value":   gz(strings.Replace(ok, `["v"]`, `[1]`, 1)),
		"too few values": gz(strings.Replace(ok, `["v"]`, `[]`, 1)),
		"empty key":      gz(strings.Replace(ok, `{"k":`, `{"":`, 1)),
		"long key":       gz(strings.Replace(ok, `{"k":`, `{"`+strings.Repeat("k", 300)+`":`, 1)),
		"no fields":      gz(strings.Replace(ok, `["a"]`, `[]`, 1)),
		"repeated field": gz(strings.Replace(strings.Replace(ok, `["a"]`, `["a","a"]`, 1), `["v"]`, `["v","w"]`, 1)),
		"unknown field":  gz(strings.Replace(ok, `"version":1`, `"version":1,"x":1`, 1)),
		"trailing data":  gz(ok + `{}`),
		"truncated":      gz(ok)[:20],
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeBaseline(data, tid, "devices")
			var be *BaselineError
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want a *BaselineError", err)
			}
		})
	}
}

func TestDecodeBaselineSizeCap(t *testing.T) {
	// A gzip bomb: a small object that decompresses past the cap.
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	_, err := decodeBaseline(b.Bytes(), tid, "devices", 1<<20-1)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}

// FuzzDecodeBaseline: any bytes are refused with an error or give a
// baseline that satisfies the invariants and re-encodes.
func FuzzDecodeBaseline(f *testing.F) {
	f.Add(gz(`{"version":1,"tenant_id":"` + tid + `","tenant_name":"n","dataset":"devices","run_id":"r","time":"2026-01-01T00:00:00Z","fields":["a","b"],"items":{"k":["v",""]}}`))
	f.Add(gz(`{"version":1,"tenant_id":"` + tid + `","dataset":"devices","fields":["a"],"items":null}`))
	f.Add([]byte("x"))
	v2, _ := EncodeBaseline(&Baseline{TenantID: tid, Dataset: "devices", RunID: "r", Fields: []string{"a", "b"},
		Items: map[string][]string{"k": {"v", ""}, "k\"2": {"\u00e9", "\n"}}})
	f.Add(v2)
	f.Add(append(gz(`{"version":2,"tenant_id":"`+tid+`","tenant_name":"","dataset":"devices","run_id":"r","time":"0001-01-01T00:00:00Z","fields":["a"],"items":2}`+"\n"),
		gz(`["k1","v"]`+"\n"+`["k\u00e9","w"]`+"\n")...))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBaseline(data, tid, "devices")
		if err != nil {
			return
		}
		if b.TenantID != tid || b.Dataset != "devices" || b.Items == nil {
			t.Fatalf("invariants: %+v", b)
		}
		for k, v := range b.Items {
			if k == "" || len(v) != len(b.Fields) {
				t.Fatalf("item %q %v", k, v)
			}
		}
		enc, err := EncodeBaseline(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := DecodeBaseline(enc, tid, "devices")
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if len(b2.Items) != len(b.Items) {
			t.Fatalf("round trip: %d items, want %d", len(b2.Items), len(b.Items))
		}
		for k, v := range b.Items {
			if !slices.Equal(b2.Items[k], v) && utf8.ValidString(strings.Join(v, "")) {
				t.Fatalf("round trip of %q: %q, want %q", k, b2.Items[k], v)
			}
		}
	})
}

func TestExtract(t *testing.T) {
	sp, _ := SpecOf("glp-devices")
	k, vals, ok := sp.Extract([]byte(`{"serialNumber":"SN\u00e91","deviceName":"a<b>","archived":false,"application":{"id":"app"},"subscription":[{"key":"K1"},{"key":"K2"}],"model":null}`))
	if !ok || k != "SNé1" {
		t.Fatalf("key %q %v", k, ok)
	}
	got := map[string]string{}
	for i, n := range sp.FieldNames() {
		got[n] = vals[i]
	}
	if got["deviceName"] != "a<b>" || got["archived"] != "false" || got["application"] != "app" || got["subscriptionKey"] != "K1" || got["model"] != "" {
		t.Fatalf("values %v", got)
	}
	if _, _, ok := sp.Extract([]byte(`{"deviceName":"x"}`)); ok {
		t.Fatal("item without key accepted")
	}
}

func TestDiff(t *testing.T) {
	prev := &Baseline{TenantID: tid, Dataset: "d", RunID: "r1", Fields: []string{"a", "b", "gone"},
		Items: map[string][]string{"k1": {"1", "x", "z"}, "k2": {"2", "y", "z"}}}
	cur := &Baseline{TenantID: tid, Dataset: "d", RunID: "r2", Fields: []string{"b", "a", "new"},
		Items: map[string][]string{"k1": {"x", "1", "n"}, "k3": {"q", "3", ""}, "k2": {"Y", "20", ""}}}
	cs, err := Diff(prev, cur)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		s := string(c.ChangeType) + " " + c.Key + " " + c.Field
		if c.ChangeType == Update {
			s += " " + *c.PreviousValue + ">" + *c.NewValue
		}
		got = append(got, s)
	}
	want := []string{"UPDATE k2 a 2>20", "UPDATE k2 b y>Y", "CREATE k3 "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q want %q", got, want)
	}
	if cs[2].Values["b"] != "q" {
		t.Fatalf("create values %v", cs[2].Values)
	}
}

// v2 returns a version 2 baseline of tenant tid, dataset devices, fields a
// and b, from its header's item count and its body lines.
func v2(items int, body string) []byte {
	h := `{"version":2,"tenant_id":"` + tid + `","tenant_name":"n","dataset":"devices","run_id":"r","time":"2026-01-01T00:00:00Z","fields":["a","b"],"items":` + strconv.Itoa(items) + "}\n"
	return append(gz(h), gz(body)...)
}

func TestDecodeBaselineV2Refuses(t *testing.T) {
	ok := `["k1","x",""]` + "\n" + `["k2","y","z"]` + "\n"
	if b, err := DecodeBaseline(v2(2, ok), tid, "devices"); err != nil || len(b.Items) != 2 || b.Items["k2"][1] != "z" {
		t.Fatalf("valid baseline: %+v %v", b, err)
	}
	cases := map[string][]byte{
		"count above":     v2(3, ok),
		"count below":     v2(1, ok),
		"unsorted":        v2(2, `["k2","y","z"]`+"\n"+`["k1","x",""]`+"\n"),
		"repeated key":    v2(2, `["k1","y","z"]`+"\n"+`["k1","x",""]`+"\n"),
		"escaped repeat":  v2(2, `["k1","y","z"]`+"\n"+`["k\u0031","x",""]`+"\n"),
		"few values":      v2(1, `["k1","x"]`+"\n"),
		"many values":     v2(1, `["k1","x","y","z"]`+"\n"),
		"number":          v2(1, `["k1",1,"y"]`+"\n"),
		"space":           v2(1, `["k1", "x","y"]`+"\n"),
		"empty key":       v2(1, `["","x","y"]`+"\n"),
		"long key":        v2(1, `["`+strings.Repeat("k", 300)+`","x","y"]`+"\n"),
		"no newline":      v2(1, `["k1","x","y"]`),
		"bad escape":      v2(1, `["k1","\q","y"]`+"\n"),
		"control char":    v2(1, "[\"k1\",\"\x01\",\"y\"]\n"),
		"invalid utf-8":   v2(1, "[\"k1\",\"\xff\",\"y\"]\n"),
		"no body":         gz(`{"version":2,"tenant_id":"` + tid + `","dataset":"devices","fields":["a"],"items":0}` + "\n"),
		"trailing member": append(v2(2, ok), gz("x")...),
		"header trailing": append(gz(`{"version":2,"tenant_id":"`+tid+`","dataset":"devices","fields":["a"],"items":0}{}`+"\n"), gz("")...),
		"header unknown":  append(gz(`{"version":2,"x":1,"tenant_id":"`+tid+`","dataset":"devices","fields":["a"],"items":0}`+"\n"), gz("")...),
		"future version":  append(gz(`{"version":3,"tenant_id":"`+tid+`","dataset":"devices","fields":["a"],"items":0}`+"\n"), gz("")...),
		"negative count":  append(gz(`{"version":2,"tenant_id":"`+tid+`","dataset":"devices","fields":["a"],"items":-1}`+"\n"), gz("")...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeBaseline(data, tid, "devices")
			var be *BaselineError
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want a *BaselineError", err)
			}
		})
	}
}

// TestDecodeBaselineV1: a baseline of the first format is read, and the
// comparison against it reports only real changes.
func TestDecodeBaselineV1(t *testing.T) {
	v1 := gz(`{"version":1,"tenant_id":"` + tid + `","tenant_name":"n","dataset":"devices","run_id":"old","time":"2026-01-01T00:00:00Z","fields":["a","b"],"items":{"k2":["y","z"],"k1":["x",""]}}`)
	b, err := DecodeBaseline(v1, tid, "devices")
	if err != nil || b.Version != 1 || len(b.Items) != 2 || b.Items["k1"][0] != "x" {
		t.Fatalf("v1: %+v %v", b, err)
	}
	sb, err := readBaseline(v1, tid, "devices", MaxBaselineBytes)
	if err != nil {
		t.Fatal(err)
	}
	cur := &Baseline{TenantID: tid, Dataset: "devices", RunID: "new", Fields: []string{"a", "b"},
		Items: map[string][]string{"k1": {"x", ""}, "k2": {"y", "Z"}}}
	cs, same, err := diffLines(sb, cur, encodeLines(cur.Items))
	if err != nil || same || len(cs) != 1 || cs[0].Key != "k2" || cs[0].Field != "b" || cs[0].PreviousRunID != "old" {
		t.Fatalf("diff against v1: %+v same %v err %v", cs, same, err)
	}
}

// TestUnchangedBaselineSame: with no change the comparison reports none
// and says the stored baseline (current format) can stay; one change is
// reported and is not "same".
func TestUnchangedBaselineSame(t *testing.T) {
	prev := &Baseline{TenantID: tid, Dataset: "devices", RunID: "r1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Fields: []string{"a", "b"}, Items: map[string][]string{"k1": {"x", "é\n"}, "k\"2": {"", "z"}}}
	data, err := EncodeBaseline(prev)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := readBaseline(data, tid, "devices", MaxBaselineBytes)
	if err != nil || !sb.current {
		t.Fatalf("read: current %v, %v", sb != nil && sb.current, err)
	}
	cur := &Baseline{TenantID: tid, Dataset: "devices", RunID: "r2", Time: prev.Time.Add(time.Hour), Fields: prev.Fields,
		Items: map[string][]string{"k1": {"x", "é\n"}, "k\"2": {"", "z"}}}
	cs, same, err := diffLines(sb, cur, encodeLines(cur.Items))
	if err != nil || !same || len(cs) != 0 {
		t.Fatalf("unchanged: %v same %v err %v", cs, same, err)
	}
	cur.Items["k1"] = []string{"x", "other"}
	if cs, same, err := diffLines(sb, cur, encodeLines(cur.Items)); err != nil || same || len(cs) != 1 || *cs[0].PreviousValue != "é\n" {
		t.Fatalf("changed: %+v same %v err %v", cs, same, err)
	}
}

// TestDiffRefusesBadStoredLine: a stored line that fails validation fails
// the whole comparison, so a hostile baseline never reports everything as
// deleted.
func TestDiffRefusesBadStoredLine(t *testing.T) {
	sb, err := readBaseline(v2(2, `["k1","x",""]`+"\n"+`["k2","y"]`+"\n"), tid, "devices", MaxBaselineBytes)
	if err != nil {
		t.Fatal(err)
	}
	cur := &Baseline{TenantID: tid, Dataset: "devices", Fields: []string{"a", "b"}, Items: map[string][]string{"k9": {"", ""}}}
	cs, _, err := diffLines(sb, cur, encodeLines(cur.Items))
	var be *BaselineError
	if !errors.As(err, &be) || cs != nil {
		t.Fatalf("got %v, %v; want a *BaselineError and no changes", cs, err)
	}
}

// TestDiffFastPathStillValidates: lines skipped as unchanged still count
// against the header and the key order.
func TestDiffFastPathStillValidates(t *testing.T) {
	cur := &Baseline{TenantID: tid, Dataset: "devices", Fields: []string{"a", "b"}, Items: map[string][]string{"k1": {"x", ""}, "k2": {"y", "z"}}}
	a, b := `["k1","x",""]`+"\n", `["k2","y","z"]`+"\n"
	for name, data := range map[string][]byte{
		"repeated":     v2(3, a+a+b),
		"unsorted":     v2(2, b+a),
		"count above":  v2(3, a+b),
		"count below":  v2(1, a+b),
		"trailing bad": v2(3, a+b+`["k3"]`+"\n"),
	} {
		sb, err := readBaseline(data, tid, "devices", MaxBaselineBytes)
		if err != nil {
			t.Fatalf("%s: header refused: %v", name, err)
		}
		var be *BaselineError
		if cs, _, err := diffLines(sb, cur, encodeLines(cur.Items)); !errors.As(err, &be) || cs != nil {
			t.Errorf("%s: got %v, %v; want a *BaselineError", name, cs, err)
		}
	}
	sb, _ := readBaseline(v2(2, a+b), tid, "devices", MaxBaselineBytes)
	if cs, same, err := diffLines(sb, cur, encodeLines(cur.Items)); err != nil || !same || len(cs) != 0 {
		t.Fatalf("valid unchanged: %v %v %v", cs, same, err)
	}
}
