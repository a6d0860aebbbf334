package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// healthRecord is what the tests read of a tenant-health record.
type healthRecord struct {
	TenantID   string `json:"_tenant_id"`
	TenantName string `json:"_tenant_name"`
	Mapping    string `json:"_mapping"`
	RunID      string `json:"_run_id"`
	Central    string `json:"tenantId"`
	Name       string `json:"tenantName"`
	Alerts     struct {
		Total int `json:"total"`
	} `json:"alerts"`
}

func readHealth(t *testing.T, mem *sink.Memory, key string) []healthRecord {
	t.Helper()
	raw, ok := mem.Object(key)
	if !ok {
		t.Fatalf("no object %s", key)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var out []healthRecord
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var r healthRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("record %s: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// healthObserver records the MSP-level stream.
type healthObserver struct {
	mu     sync.Mutex             // tenants end concurrently
	items  map[string]TenantLabel // tenantName -> label
	done   []MSPDatasetResult
	starts int
	tenant int // tenants started before the MSP dataset was done
}

func (o *healthObserver) OnDatasetStart(msp.Tenant, string)          {}
func (o *healthObserver) OnItem(msp.Tenant, string, json.RawMessage) {}
func (o *healthObserver) OnTenantDone(context.Context, msp.Tenant, *TenantResult) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.done) == 0 {
		o.tenant++
	}
	return nil
}
func (o *healthObserver) OnMSPDatasetStart(string) { o.starts++ }
func (o *healthObserver) OnMSPItem(_ string, l TenantLabel, item json.RawMessage) {
	h, _ := ParseTenantHealth(item)
	o.items[h.TenantName] = l
}
func (o *healthObserver) OnMSPDatasetDone(_ context.Context, res *MSPDatasetResult) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = append(o.done, *res)
	return nil
}

// TestTenantHealthOncePerRun: 250 tenants are 3 MSP calls (pages of 100),
// one object per run, every record labelled with its workspace, and the
// observer has the whole stream before any tenant ends.
func TestTenantHealthOncePerRun(t *testing.T) {
	sizes := make([]int, 250)
	env := newSimEnv(t, sizes)
	mem := sink.NewMemory()
	obs := &healthObserver{items: map[string]TenantLabel{}}
	m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: mem, RunID: "r-th", Date: "2026-12-02",
		Datasets: []string{"subscriptions", TenantHealthDataset}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if got := env.sim.Stats().ByEndpoint[centralsim.EndpointListTenants]; got != 3 {
		t.Fatalf("%d list-tenants calls, want 3", got)
	}
	if len(m.MSP) != 1 {
		t.Fatalf("MSP results %+v", m.MSP)
	}
	res := m.MSP[0]
	if res.Status != StatusOK || res.Records != 250 || res.Pages != 3 || res.APICalls != 3 || res.Mapped != 250 ||
		res.Key != MSPObjectKey(TenantHealthDataset, "2026-12-02", "r-th") || !m.Complete || m.Totals.MSPDatasetsOK != 1 {
		t.Fatalf("result %+v complete=%v totals %+v", res, m.Complete, m.Totals)
	}
	if len(m.Datasets) != 1 || m.Totals.DatasetsOK != 250 {
		t.Fatalf("tenant datasets %v, totals %+v", m.Datasets, m.Totals)
	}
	byName := map[string]string{}
	for _, tn := range env.sim.Tenants() {
		byName[tn.Name] = tn.HexID
	}
	recs := readHealth(t, mem, res.Key)
	if len(recs) != 250 {
		t.Fatalf("%d records", len(recs))
	}
	n := 0
	for _, k := range mem.Keys() {
		if strings.Contains(k, "dataset="+TenantHealthDataset+"/") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d tenant-health objects", n)
	}
	for _, r := range recs {
		if r.Mapping != string(Mapped) || r.TenantID != byName[r.Name] || r.TenantName != r.Name || r.RunID != "r-th" {
			t.Fatalf("record %+v", r)
		}
	}
	if obs.starts != 1 || len(obs.done) != 1 || obs.tenant != 0 || len(obs.items) != 250 {
		t.Fatalf("observer: starts %d done %d tenants before %d items %d", obs.starts, len(obs.done), obs.tenant, len(obs.items))
	}
}

// TestTenantHealthAlone: selected alone, tenant-health connects no tenant.
func TestTenantHealthAlone(t *testing.T) {
	env := newSimEnv(t, []int{1, 1, 1})
	m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: sink.NewMemory(), Datasets: []string{TenantHealthDataset}})
	if err != nil {
		t.Fatal(err)
	}
	if st := env.sim.Stats(); st.Exchanges != 0 || st.ByEndpoint[centralsim.EndpointListTenants] != 1 {
		t.Fatalf("exchanges %d, list-tenants %d", st.Exchanges, st.ByEndpoint[centralsim.EndpointListTenants])
	}
	if len(m.Tenants) != 0 || len(m.MSP) != 1 || m.MSP[0].Records != 3 || !m.Complete {
		t.Fatalf("manifest %+v", m)
	}
}

// renamedMSP lists the tenants with names changed by rename.
type renamedMSP struct {
	MSP
	rename func([]msp.Tenant) []msp.Tenant
}

func (r renamedMSP) Tenants(ctx context.Context) iter.Seq2[msp.Tenant, error] {
	return func(yield func(msp.Tenant, error) bool) {
		var ts []msp.Tenant
		for t, err := range r.MSP.Tenants(ctx) {
			if err != nil {
				yield(t, err)
				return
			}
			ts = append(ts, t)
		}
		for _, t := range r.rename(ts) {
			if !yield(t, nil) {
				return
			}
		}
	}
}

func (r renamedMSP) MSPClient() *central.Client { return r.MSP.(MSPClienter).MSPClient() }

// TestTenantHealthUnmapped: a name no workspace has and a name two
// workspaces share are kept, marked and counted, never attributed.
func TestTenantHealthUnmapped(t *testing.T) {
	env := newSimEnv(t, []int{1, 1, 1, 1})
	sim := env.sim.Tenants()
	m := renamedMSP{MSP: FromMSP(env.msp), rename: func(ts []msp.Tenant) []msp.Tenant {
		for i := range ts {
			switch ts[i].Name {
			case sim[0].Name:
				ts[i].Name = "Renamed in GLP"
			case sim[2].Name:
				ts[i].Name = sim[1].Name // two workspaces named like sim[1]
			}
		}
		return ts
	}}
	mem := sink.NewMemory()
	obs := &healthObserver{items: map[string]TenantLabel{}}
	man, err := Run(t.Context(), Config{MSP: m, Sink: mem, RunID: "r-un", Datasets: []string{"aps", TenantHealthDataset}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	res := man.MSP[0]
	if res.Status != StatusOK || res.Records != 4 || res.Mapped != 1 || res.Unmatched != 2 || res.Ambiguous != 1 {
		t.Fatalf("result %+v", res)
	}
	for _, r := range readHealth(t, mem, res.Key) {
		want := Unmatched
		switch r.Name {
		case sim[1].Name:
			want = Ambiguous
		case sim[3].Name:
			want = Mapped
		}
		if r.Mapping != string(want) || (want != Mapped) != (r.TenantID == "") {
			t.Errorf("record %+v, want %s", r, want)
		}
		if want == Mapped && r.TenantID != sim[3].HexID {
			t.Errorf("record %+v attributed to the wrong tenant", r)
		}
	}
	if l := obs.items[sim[1].Name]; l.Mapping != Ambiguous || len(l.Candidates) != 2 || l.TenantID != "" {
		t.Fatalf("ambiguous label %+v", l)
	}
}

// TestTenantHealthFailure: the MSP-level dataset failing is in the
// manifest and fails none of the tenants' datasets.
func TestTenantHealthFailure(t *testing.T) {
	env := newSimEnv(t, []int{2, 2})
	env.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{Endpoint: centralsim.EndpointListTenants, ServerErrorRate: 1}}})
	mem := sink.NewMemory()
	m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: mem, RunID: "r-f", Datasets: []string{"aps", TenantHealthDataset}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(m.MSP) != 1 || m.MSP[0].Status != StatusFailed || m.MSP[0].Error == nil || m.MSP[0].Key != "" {
		t.Fatalf("MSP %+v", m.MSP)
	}
	if m.Complete || m.Totals.MSPDatasetsFailed != 1 || m.Totals.TenantsOK != 2 || m.Totals.DatasetsOK != 2 {
		t.Fatalf("complete %v totals %+v", m.Complete, m.Totals)
	}
	for _, k := range mem.Keys() {
		if strings.Contains(k, TenantHealthDataset) {
			t.Fatalf("object %s of a failed dataset", k)
		}
	}
	stored, _ := mem.Object(ManifestKey("r-f"))
	got, err := ReadManifest(bytes.NewReader(stored))
	if err != nil || len(got.MSP) != 1 || got.MSP[0].Status != StatusFailed {
		t.Fatalf("stored manifest %v %+v", err, got)
	}
}

// repeatPages serves list-tenants' first page for every cursor, each with
// a new next cursor: a list that never ends under fresh names.
type repeatPages struct{ rt http.RoundTripper }

func (p repeatPages) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/network-msp/v1/list-tenants") {
		return p.rt.RoundTrip(req)
	}
	r2 := req.Clone(req.Context())
	q := r2.URL.Query()
	next := q.Get("next")
	q.Set("next", "1")
	r2.URL.RawQuery = q.Encode()
	resp, err := p.rt.RoundTrip(r2)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	v["next"] = next + "0"
	body, _ = json.Marshal(v)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestTenantHealthRepeatedPage: a page served again under a new cursor is
// refused; the dataset fails and nothing of it is stored.
func TestTenantHealthRepeatedPage(t *testing.T) {
	sizes := make([]int, 150)
	env := newSimEnvRT(t, sizes, func(_ *centralsim.Server, rt http.RoundTripper) http.RoundTripper { return repeatPages{rt} })
	mem := sink.NewMemory()
	m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: mem, Datasets: []string{TenantHealthDataset}})
	if !errors.Is(err, ErrNothingCollected) || len(m.MSP) != 1 || m.MSP[0].Status != StatusFailed || !strings.Contains(m.MSP[0].Error.Message, "repeats page 1") {
		t.Fatalf("err %v MSP %+v", err, m.MSP)
	}
	if calls := env.sim.Stats().ByEndpoint[centralsim.EndpointListTenants]; calls != 2 {
		t.Fatalf("%d calls, want 2 (the repeat is refused at once)", calls)
	}
}

// TestNameIndex: only a certain, unique name maps; long, cut and
// replaced names never do.
func TestNameIndex(t *testing.T) {
	long := strings.Repeat("x", termsafe.MaxName)
	ix := newNameIndex([]msp.Tenant{
		{ID: "a", Name: "Alpha"}, {ID: "b", Name: "Beta"}, {ID: "c", Name: "Beta"},
		{ID: "", Name: "Gamma"}, {ID: "d", Name: long}, {ID: "e", Name: "Bad\uFFFD"},
	})
	for name, want := range map[string]Mapping{
		"Alpha": Mapped, "Beta": Ambiguous, "Gamma": Ambiguous, long: Ambiguous, long + "y": Unmatched,
		"Bad\uFFFD": Unmatched, "": Unmatched, "alpha": Unmatched,
	} {
		if got := ix.label(name); got.Mapping != want || (got.TenantID != "") != (want == Mapped) {
			t.Errorf("label(%.20q) = %+v, want %s", name, got, want)
		}
	}
}

// TestMSPRecordRelabel: an item's own copies of the label fields are
// renamed, never duplicated.
func TestMSPRecordRelabel(t *testing.T) {
	var b bytes.Buffer
	item := json.RawMessage(`{"tenantName":"X","_mapping":"mapped","_tenant_id":"evil","_item_mapping":1}`)
	if err := appendMSPRecord(&b, TenantLabel{Mapping: Unmatched}, "r", "t", item); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	dec := json.NewDecoder(&b)
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v["_mapping"] != "unmatched" || v["_tenant_id"] != "" || v["_item_item_mapping"] != "mapped" || v["_item_tenant_id"] != "evil" || v["_item_mapping"] != 1.0 {
		t.Fatalf("record %v", v)
	}
	b.Reset()
	if err := appendMSPRecord(&b, TenantLabel{Mapping: Unmatched}, "r", "t", json.RawMessage(`[1]`)); err != nil || !strings.Contains(b.String(), `"_value":[1]}`) {
		t.Fatalf("%v %s", err, b.String())
	}
}

// TestTenantHealthNotInShards: a shard never reads the MSP-level dataset
// (its tenant list is partial); Join keeps a shard's MSP-level result, an
// ok one over a failed one.
func TestTenantHealthNotInShards(t *testing.T) {
	env := newSimEnv(t, []int{1, 1})
	m, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: sink.NewMemory(), RunID: "r-s", Shard: "1",
		Datasets: []string{"aps", TenantHealthDataset}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.MSP) != 0 || env.sim.Stats().ByEndpoint[centralsim.EndpointListTenants] != 0 || !m.Complete {
		t.Fatalf("shard read MSP-level data: %+v", m.MSP)
	}
	ok := &Manifest{Version: ManifestVersion, RunID: "r", Shard: "a", MSP: []MSPDatasetResult{{DatasetResult: DatasetResult{Dataset: TenantHealthDataset, Status: StatusOK}}}}
	bad := &Manifest{Version: ManifestVersion, RunID: "r", Shard: "b", MSP: []MSPDatasetResult{{DatasetResult: DatasetResult{Dataset: TenantHealthDataset, Status: StatusFailed}}}}
	j, err := Join("r", nil, ok, bad)
	if err != nil || len(j.MSP) != 1 || j.MSP[0].Status != StatusOK || j.Totals.MSPDatasetsOK != 1 {
		t.Fatalf("joined %v %+v", err, j)
	}
	j, _ = Join("r", nil, bad)
	if j.Complete || j.Totals.MSPDatasetsFailed != 1 {
		t.Fatalf("joined with a failed MSP-level dataset: complete %v totals %+v", j.Complete, j.Totals)
	}
}

// TestShardReplaysMSPPart: a tenant shard never reads the MSP-level list,
// but its observer gets the run's stored part (MSPShard) for the shard's own
// tenants only, so a sharded run's audit sees each tenant's health; without
// a stored part it gets nothing.
func TestShardReplaysMSPPart(t *testing.T) {
	env := newSimEnv(t, []int{1, 1, 1, 1})
	mem := sink.NewMemory()
	tenants := tenantsOf(t, env.msp)
	if _, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: mem, RunID: "r-rp", Date: "2026-12-02", Shard: MSPShard,
		Datasets: []string{TenantHealthDataset}}); err != nil {
		t.Fatal(err)
	}
	calls := env.sim.Stats().ByEndpoint[centralsim.EndpointListTenants]
	mine := []string{tenants[1].ID, tenants[2].ID}
	for _, stored := range []bool{true, false} {
		runID := "r-rp"
		if !stored {
			runID = "r-none"
		}
		obs := &healthObserver{items: map[string]TenantLabel{}}
		if _, err := Run(t.Context(), Config{MSP: FromMSP(env.msp), Sink: mem, RunID: runID, Date: "2026-12-02", Shard: "1",
			Tenants: mine, Datasets: []string{"aps"}, Observer: obs}); err != nil {
			t.Fatal(err)
		}
		if !stored {
			if obs.starts != 0 || len(obs.items) != 0 {
				t.Errorf("without a stored part the observer got %d starts, %d items", obs.starts, len(obs.items))
			}
			continue
		}
		if len(obs.done) != 1 || obs.done[0].Status != StatusOK || obs.tenant != 0 {
			t.Fatalf("replayed results %+v (tenants before it: %d), want one ok before any tenant", obs.done, obs.tenant)
		}
		got := map[string]bool{}
		for _, l := range obs.items {
			got[l.TenantID] = l.Mapping == Mapped
		}
		if len(got) != 2 || !got[mine[0]] || !got[mine[1]] {
			t.Errorf("replayed tenants %v, want exactly the shard's %v", got, mine)
		}
	}
	if n := env.sim.Stats().ByEndpoint[centralsim.EndpointListTenants]; n != calls {
		t.Errorf("shards called list-tenants %d times", n-calls)
	}
}
