package audittrail

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const tid = "3fa9c2d1e5b74a0c9d1e2f3a4b5c6d7e"

func validWatermark() *Watermark {
	at := time.Date(2026, 11, 23, 14, 15, 0, 123_000_000, time.UTC)
	return &Watermark{Version: WatermarkVersion, TenantID: tid, API: APIv1, Mark: Mark{At: at, IDs: []string{"b", "a"}},
		RunID: "r1", UpdatedAt: at.Add(time.Minute),
		Pending: &Pending{Mark: Mark{At: at, IDs: []string{"a", "b", "c"}}, RunID: "r2", ClaimedAt: at.Add(2 * time.Minute), Key: "k"}}
}

func TestWatermarkRoundTrip(t *testing.T) {
	b, err := validWatermark().Encode()
	if err != nil {
		t.Fatal(err)
	}
	w, err := DecodeWatermark(b, "k", tid)
	if err != nil {
		t.Fatal(err)
	}
	if !w.At.Equal(validWatermark().At) || strings.Join(w.IDs, ",") != "a,b" || w.Pending == nil || len(w.Pending.IDs) != 3 {
		t.Fatalf("%+v", w)
	}
	b2, _ := w.Encode()
	if !bytes.Equal(b, b2) {
		t.Fatalf("not stable:\n%s\n%s", b, b2)
	}
}

// TestDecodeWatermarkRefuses hostile or broken objects.
func TestDecodeWatermarkRefuses(t *testing.T) {
	good, _ := validWatermark().Encode()
	many := make([]string, MaxIDs+1)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprint("id", i))
	}
	for name, doc := range map[string]string{
		"other tenant":  strings.Replace(string(good), tid, "00000000000000000000000000000000", 1),
		"version":       strings.Replace(string(good), `"version": 1`, `"version": 2`, 1),
		"bad time":      strings.Replace(string(good), `"createdAt": "2026-11-23T14:15:00.123Z"`, `"createdAt": "yesterday"`, 1),
		"zero time":     strings.Replace(string(good), `"createdAt": "2026-11-23T14:15:00.123Z"`, `"createdAt": "0001-01-01T00:00:00Z"`, 1),
		"unknown field": strings.Replace(string(good), `"version": 1`, `"version": 1, "extra": true`, 1),
		"trailing data": string(good) + `{}`,
		"not an object": `[1,2]`,
		"api":           strings.Replace(string(good), `"api": "v1"`, `"api": "v3"`, 1),
		"run id":        strings.Replace(string(good), `"runId": "r1"`, `"runId": "../../x"`, 1),
		"repeated id":   `{"version":1,"tenantId":"` + tid + `","api":"v1","createdAt":"2026-11-23T14:15:00Z","ids":["a","a"],"runId":"r","updatedAt":"2026-11-23T14:15:00Z"}`,
		"control id":    `{"version":1,"tenantId":"` + tid + `","api":"v1","createdAt":"2026-11-23T14:15:00Z","ids":["a\u0000"],"runId":"r","updatedAt":"2026-11-23T14:15:00Z"}`,
		"long id":       `{"version":1,"tenantId":"` + tid + `","api":"v1","createdAt":"2026-11-23T14:15:00Z","ids":["` + strings.Repeat("x", MaxIDBytes+1) + `"],"runId":"r","updatedAt":"2026-11-23T14:15:00Z"}`,
		"too many ids":  `{"version":1,"tenantId":"` + tid + `","api":"v1","createdAt":"2026-11-23T14:15:00Z","ids":[` + strings.Join(many, ",") + `],"runId":"r","updatedAt":"2026-11-23T14:15:00Z"}`,
		"pending earlier": strings.Replace(string(good), `"createdAt": "2026-11-23T14:15:00.123Z",
  "ids": [
   "a",
   "b",
   "c"`, `"createdAt": "2026-11-23T14:14:00Z",
  "ids": [
   "a",
   "b",
   "c"`, 1),
		"pending drops ids": strings.Replace(string(good), `"ids": [
   "a",
   "b",
   "c"`, `"ids": [
   "c"`, 1),
		"oversized": `{"version":1,"tenantId":"` + strings.Repeat(" ", MaxWatermarkBytes) + `"}`,
	} {
		if doc == string(good) {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		_, err := DecodeWatermark([]byte(doc), "k", tid)
		var we *WatermarkError
		if !errors.As(err, &we) {
			t.Errorf("%s: accepted or wrong error: %v", name, err)
		}
	}
}

// FuzzDecodeWatermark: any input either is refused or decodes to a
// watermark that encodes and decodes again to the same bytes.
// Seeds: testdata/fuzz/FuzzDecodeWatermark.
func FuzzDecodeWatermark(f *testing.F) {
	good, _ := validWatermark().Encode()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := DecodeWatermark(data, "k", tid)
		if err != nil {
			return
		}
		b, err := w.Encode()
		if err != nil {
			t.Fatalf("decoded but cannot encode: %v", err)
		}
		w2, err := DecodeWatermark(b, "k", tid)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, b)
		}
		b2, _ := w2.Encode()
		if !bytes.Equal(b, b2) {
			t.Fatalf("unstable:\n%s\n%s", b, b2)
		}
	})
}
