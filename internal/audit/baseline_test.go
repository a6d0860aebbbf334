package audit

import (
	"bytes"
	"errors"
	"slices"
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
	cs := Diff(prev, cur)
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
