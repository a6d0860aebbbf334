package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"iter"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// dupMSP lists every tenant of the wrapped MSP and then repeats some, the
// way a broken or hostile tenant list might (same id, other spellings).
type dupMSP struct {
	MSP
	again func([]msp.Tenant) []msp.Tenant
}

func (d dupMSP) Tenants(ctx context.Context) iter.Seq2[msp.Tenant, error] {
	return func(yield func(msp.Tenant, error) bool) {
		var all []msp.Tenant
		for t, err := range d.MSP.Tenants(ctx) {
			if err != nil {
				yield(t, err)
				return
			}
			all = append(all, t)
		}
		for _, t := range append(all, d.again(all)...) {
			if !yield(t, nil) {
				return
			}
		}
	}
}

// dashed is a 32-hex id in upper-case UUID form.
func dashed(id string) string {
	u := strings.ToUpper(id)
	return u[:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:]
}

// TestRunDuplicateTenants: a tenant listed twice is collected once, its
// object matches its manifest entry, and the duplicate is counted.
func TestRunDuplicateTenants(t *testing.T) {
	env := newSimEnv(t, []int{3, 5, 2})
	tenants := tenantsOf(t, env.msp)
	src := dupMSP{MSP: FromMSP(env.msp), again: func(all []msp.Tenant) []msp.Tenant {
		a := all[1]
		b := all[1]
		b.ID, b.WorkspaceID, b.Name = "", dashed(all[1].ID), "impostor"
		n, _ := msp.NormalizeTenantID(b.WorkspaceID)
		b.ID = n
		return []msp.Tenant{a, b}
	}}
	root := t.TempDir()
	m, err := Run(t.Context(), Config{MSP: src, Sink: sink.NewDir(root), Concurrency: 3, RunID: "run-dup", Datasets: []string{"devices"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tenants) != len(tenants) || m.Totals.Tenants != len(tenants) || m.Totals.DuplicateTenants != 2 {
		t.Fatalf("%d tenant results, totals %+v; want %d and 2 duplicates", len(m.Tenants), m.Totals, len(tenants))
	}
	if !m.Complete {
		t.Fatalf("not complete: %+v", m.Totals)
	}
	for _, tn := range tenants {
		tr := m.Tenant(tn.ID)
		if tr == nil || tr.Name != tn.Name {
			t.Fatalf("tenant %s: %+v (the first occurrence's name must win)", tn.ID, tr)
		}
		d := tr.Dataset("devices")
		raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(d.Key)))
		if err != nil {
			t.Fatal(err)
		}
		checkObject(t, raw, env.sim.Records(tn.ID, "devices"), tn, "run-dup", d)
	}
}

// spoofTransport rewrites the devices and aps pages the simulator sends,
// as a hostile or broken server might: the first devices name the
// collector's keys (plainly, escaped, nested), hold invalid UTF-8 and line
// breaks; the first aps only hold what can be copied as it is (the
// collector's keys in nested objects, escapes in values); the first
// switch is otherwise clean but names _tenant_id.
type spoofTransport struct{ next http.RoundTripper }

func (s spoofTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	adds := map[string][]string{
		"/network-monitoring/v1/devices": {
			`"_tenant_id":"spoof","bad":"x` + "\xff\xfe" + `","nested":{"_run_id":1},`,
			`"\u005frun_id":"escaped",`,
			"\"a\":\n1,",
			`"_collected_at":"1999","_item_collected_at":2,`,
			`"n":{"_tenant_name":"deep","s":"\u00e9"},`,
		},
		"/network-monitoring/v1/aps":      {`"n":{"_tenant_id":"deep","\u005frun_id":"\u00e9\n"},`},
		"/network-monitoring/v1/switches": {`"s":"\u00e9","_tenant_id":"spoof",`},
	}[strings.TrimPrefix(req.URL.Path, "/central")]
	if adds == nil {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	// Items are objects that begin with `{"`: the i-th gets adds[i].
	parts := bytes.Split(body, []byte(`{"`))
	body = parts[0]
	item := 0
	for _, p := range parts[1:] {
		body = append(body, '{')
		if bytes.HasSuffix(body, []byte(`[{`)) || bytes.HasSuffix(body, []byte(`},{`)) {
			if item < len(adds) {
				body = append(body, adds[item]...)
			}
			item++
		}
		body = append(append(body, '"'), p...)
	}
	body = bytes.Replace(body, []byte(`},{`), []byte("},\r\n{"), 1)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestRunHostileItems: items that name the collector's keys, hold invalid
// UTF-8 or span lines, read through the real page path, become records
// where only our four fields carry those names, as valid one-line JSON;
// what needs no change is copied as it is.
func TestRunHostileItems(t *testing.T) {
	env := newSimEnvRT(t, []int{40}, func(_ *centralsim.Server, rt http.RoundTripper) http.RoundTripper { return spoofTransport{rt} })
	mem := sink.NewMemory()
	m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: mem, RunID: "run-1", Datasets: []string{"devices", "aps", "switches"}})
	if err != nil {
		t.Fatal(err)
	}
	tn := tenantsOf(t, env.msp)[0]
	for name, want := range map[string][]string{
		"devices": {`"_item_tenant_id":"spoof","bad":"x` + "\uFFFD\uFFFD" + `","nested":{"_run_id":1},`, `"_item_run_id":"escaped"`, `"a":1`,
			`"_item_item_collected_at":"1999"`, `"n":{"_tenant_name":"deep","s":"\u00e9"}`},
		"aps":      {`"n":{"_tenant_id":"deep","\u005frun_id":"\u00e9\n"}`},
		"switches": {`"s":"\u00e9","_item_tenant_id":"spoof"`},
	} {
		d := m.Tenant(tn.ID).Dataset(name)
		if d.Status != StatusOK || d.Records == 0 {
			t.Fatalf("%s: %+v", name, d)
		}
		lines := objectLines(t, mem, d.Key)
		if int64(len(lines)) != d.Records {
			t.Fatalf("%s: %d lines, %d records", name, len(lines), d.Records)
		}
		for i, line := range lines {
			if !utf8.Valid(line) || !json.Valid(line) || bytes.ContainsAny(line, "\r\n") {
				t.Fatalf("%s line %d: %q", name, i, line)
			}
			got := metaOccurrences(t, line)
			for k, v := range map[string]string{"_tenant_id": tn.ID, "_tenant_name": tn.Name, "_run_id": "run-1"} {
				if len(got[k]) != 1 || got[k][0] != v {
					t.Fatalf("%s line %d: %s = %q in %q", name, i, k, got[k], line)
				}
			}
		}
		for i, w := range want {
			if !bytes.Contains(lines[i], []byte(w)) {
				t.Errorf("%s line %d lacks %s: %q", name, i, w, lines[i])
			}
		}
	}
}

// objectLines returns the NDJSON lines of a gzip object, without their
// line feeds.
func objectLines(t *testing.T, mem *sink.Memory, key string) [][]byte {
	t.Helper()
	obj, _ := mem.Object(key)
	zr, err := gzip.NewReader(bytes.NewReader(obj))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
}
