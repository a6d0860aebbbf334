package collector

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// metaOccurrences counts each collector key among the line's top-level
// members, reading every member (a map would keep only the last).
func metaOccurrences(t *testing.T, line []byte) map[string][]string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %q", line)
	}
	out := map[string][]string{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if k := kt.(string); k == "_tenant_id" || k == "_tenant_name" || k == "_run_id" || k == "_collected_at" {
			var s string
			json.Unmarshal(v, &s)
			out[k] = append(out[k], s)
		}
	}
	return out
}

var relabelTenant = msp.Tenant{ID: "0123456789abcdef0123456789abcdef", Name: "Acme \"1\"\n"}

const relabelAt = "2026-11-23T00:00:00.000Z"

func checkRecordLine(t *testing.T, item string, line []byte) {
	t.Helper()
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("item %q: not one line: %q", item, line)
	}
	if !utf8.Valid(line) {
		t.Fatalf("item %q: invalid UTF-8 in %q", item, line)
	}
	if !json.Valid(line) {
		t.Fatalf("item %q: invalid JSON %q", item, line)
	}
	want := map[string]string{"_tenant_id": relabelTenant.ID, "_tenant_name": relabelTenant.Name, "_run_id": "run-1", "_collected_at": relabelAt}
	got := metaOccurrences(t, line)
	for k, v := range want {
		if len(got[k]) != 1 || got[k][0] != v {
			t.Fatalf("item %q: %s = %q in %q", item, k, got[k], line)
		}
	}
}

// TestRecordsCannotRelabel: an item carrying its own _tenant_id (plainly,
// escaped, or twice) keeps it under _item_tenant_id, and ours is the only
// _tenant_id; invalid UTF-8 becomes U+FFFD. Both write paths agree.
func TestRecordsCannotRelabel(t *testing.T) {
	meta := recordMeta(relabelTenant, "run-1")
	for _, c := range []struct{ item, member string }{
		{`{"_tenant_id":"spoof","a":1}`, `"_item_tenant_id":"spoof"`},
		{`{"a":1,"\u005ftenant_id":"spoof"}`, `"_item_tenant_id":"spoof"`},
		{`{"_run_id":"x","_item_run_id":"y"}`, `"_item_item_run_id":"x"`},
		{`{"_collected_at":"1999","_tenant_name":"Other"}`, `"_item_tenant_name":"Other"`},
		{`{"_tenant_id":"a","_tenant_id":"b"}`, `"_item_item_tenant_id":"b"`},
		{"{\"name\":\"bad\xff\xfe\"}", "\"name\":\"bad\uFFFD\uFFFD\""},     // per byte, as a decoder of the item reads it
		{"{\"\x8b\":1,\"\x8b\x8b\":2}", "\"\uFFFD\":1,\"\uFFFD\uFFFD\":2"}, // two names stay two
		{"{\"_x\":\"\xc3\"}", "\"_x\":\"\uFFFD\""},
		{`{"_other":1}`, `"_other":1`},
	} {
		for _, fast := range []bool{false, true} {
			var dst, scratch bytes.Buffer
			var err error
			if fast {
				err = appendValidRecord(&dst, &scratch, meta, relabelAt, json.RawMessage(c.item), false)
			} else {
				err = appendRecord(&dst, &scratch, meta, relabelAt, json.RawMessage(c.item))
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRecordLine(t, c.item, dst.Bytes())
			if !strings.Contains(dst.String(), c.member) {
				t.Errorf("item %q (fast %v): %q lacks %s", c.item, fast, dst.String(), c.member)
			}
		}
	}
}

// FuzzRecordMeta: for any item an API can send (valid JSON, whatever its
// bytes), the line is valid JSON and UTF-8, and our four keys appear once
// each, with our values, on both write paths.
func FuzzRecordMeta(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"_tenant_id":"x"}`, `{"\u005f\u0074enant_id":"x","_item_tenant_id":2}`,
		"{\"a\":\"\xff\"}", `[1,2]`, `"s"`, `{"_run_id":{"_run_id":1}}`} {
		f.Add(s)
	}
	meta := recordMeta(relabelTenant, "run-1")
	f.Fuzz(func(t *testing.T, item string) {
		if !json.Valid([]byte(item)) {
			return
		}
		for path := range 3 {
			var dst, scratch bytes.Buffer
			var err error
			switch path {
			case 0:
				err = appendRecord(&dst, &scratch, meta, relabelAt, json.RawMessage(item))
			case 1:
				err = appendValidRecord(&dst, &scratch, meta, relabelAt, json.RawMessage(item), false)
			default: // as on a central.Page.Plain page, whenever the item keeps its promise
				err = appendValidRecord(&dst, &scratch, meta, relabelAt, json.RawMessage(item), testenv.PlainItem([]byte(item)))
			}
			if err != nil {
				t.Fatalf("valid item %q rejected: %v", item, err)
			}
			checkRecordLine(t, item, dst.Bytes())
		}
	})
}

// BenchmarkAppendValidRecord writes the simulator's records (every default
// dataset of 4 tenants) through the one-line fast path as the engine does
// for a central.Page.Plain page (the page's check is central's scan, not
// measured here). Run it on main and on this code to compare:
//
//	go test -run '^$' -bench AppendValidRecord ./internal/collector/
func BenchmarkAppendValidRecord(b *testing.B) {
	sim := centralsim.NewServer(func(o *centralsim.Options) { o.Tenants = 4; o.Seed = 7 })
	defer sim.Close()
	ds, _ := SelectDatasets()
	var pages [][]json.RawMessage
	var clean []bool
	var size int64
	for _, tn := range sim.Tenants() {
		for _, d := range ds {
			var items []json.RawMessage
			for _, r := range sim.Records(tn.HexID, d.Name) {
				items = append(items, r)
				size += int64(len(r))
			}
			pages = append(pages, items)
			clean = append(clean, !slices.ContainsFunc(items, func(r json.RawMessage) bool { return !testenv.PlainItem(r) }))
		}
	}
	meta := recordMeta(relabelTenant, "run-1")
	var dst, scratch bytes.Buffer
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for i, items := range pages {
			for _, r := range items {
				dst.Reset()
				if err := appendValidRecord(&dst, &scratch, meta, relabelAt, r, clean[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
