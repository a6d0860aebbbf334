package tokencache_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/lambdafn/tokenrefresh"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

const bindPrefix = "centralmsp/tokens"

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func bindMSP(t *testing.T, sim *centralsim.Server, store msp.TenantTokenStore) *msp.MSP {
	t.Helper()
	creds, err := central.ParseCredentials(sim.CredentialsYAML(), central.FormatYAML, "sim")
	if err != nil {
		t.Fatal(err)
	}
	m, err := msp.New(creds, func(o *msp.Options) {
		o.HTTPClient = sim.Client()
		o.Logger = slog.New(slog.DiscardHandler)
		o.Budgets = central.NewBudgets()
		o.TenantTokens = store
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// swapTokens exchanges the tokens of the first two entries of shard 0, as a
// tampered or mixed-up cache would hold them.
func swapTokens(t *testing.T, b tokencache.Backend) {
	t.Helper()
	ctx := context.Background()
	name := tokencache.CacheSecretName(bindPrefix, 0)
	o, err := b.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(o.Data, &doc); err != nil {
		t.Fatal(err)
	}
	es := doc["entries"].([]any)
	if len(es) < 3 {
		t.Fatalf("shard 0 holds %d entries", len(es))
	}
	e0, e1 := es[0].(map[string]any), es[1].(map[string]any)
	e0["token"], e1["token"] = e1["token"], e0["token"]
	data, _ := json.Marshal(doc)
	if err := b.Put(ctx, name, data, tokencache.PutOptions{PrevVersionID: o.VersionID}); err != nil {
		t.Fatal(err)
	}
}

// stripMeta removes the collector's keys from a line, for comparison with
// the simulator's record.
func canon(t *testing.T, raw []byte, strip bool) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if strip {
		for _, k := range []string{"_tenant_id", "_tenant_name", "_run_id", "_collected_at"} {
			delete(m, k)
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// testSwappedEntries: a refresher fills the cache from the simulator, two
// entries of a shard get each other's token, and a collector run that
// reads the cache still writes each tenant's own records: the swapped
// entries are refused (misses, so fresh exchanges) and logged.
func testSwappedEntries(t *testing.T, b tokencache.Backend) {
	ctx := context.Background()
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Seed = 7
		o.Tenants = 4
		o.DevicesPerTenant = func(i int) int { return 2 + i }
		o.RateLimits = centralsim.RateLimits{}
	})
	t.Cleanup(sim.Close)
	start := time.Now().UTC().Truncate(time.Hour).Add(55 * time.Minute)
	if start.Before(time.Now()) {
		start = start.Add(time.Hour)
	}
	ref, err := tokencache.NewRefresher(tokencache.RefresherOptions{Prefix: bindPrefix, Backend: b,
		Source: &tokenrefresh.MSPSource{MSP: bindMSP(t, sim, nil)}, Now: func() time.Time { return start },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := ref.Refresh(ctx); err != nil || res.Exchanged != 4 {
		t.Fatalf("refresh: %+v %v", res, err)
	}
	swapTokens(t, b)

	logs := &syncBuf{}
	rd, err := tokencache.NewReader(tokencache.ReaderOptions{Prefix: bindPrefix, Backend: b,
		Now: time.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m := bindMSP(t, sim, rd)
	mem := sink.NewMemory()
	man, err := collector.Run(ctx, collector.Config{MSP: collector.FromMSP(m), Sink: mem, RunID: "run-bind", Datasets: []string{"devices"}})
	if err != nil || !man.Complete {
		t.Fatalf("run: %v complete=%v", err, man.Complete)
	}
	for _, tr := range man.Tenants {
		d := tr.Dataset("devices")
		raw, ok := mem.Object(d.Key)
		if !ok {
			t.Fatalf("%s: no object", tr.ID)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(zr)
		lines := bytes.Split(bytes.TrimSpace(body), []byte("\n"))
		want := sim.Records(tr.ID, "devices")
		if len(lines) != len(want) {
			t.Fatalf("tenant %s: %d records, its own are %d: another tenant's inventory", tr.ID, len(lines), len(want))
		}
		for i := range want {
			if canon(t, lines[i], true) != canon(t, want[i], false) {
				t.Fatalf("tenant %s record %d is not its own", tr.ID, i)
			}
		}
	}
	st := rd.Stats()
	if st.Hits != 2 || st.Misses != 2 {
		t.Errorf("reader: %+v, want 2 hits and 2 misses", st)
	}
	out := logs.String()
	if strings.Count(out, "rejecting a token cache entry") != 2 || !strings.Contains(out, "another workspace") || strings.Contains(out, "eyJ") {
		t.Errorf("logs:\n%s", out)
	}
}

func TestSwappedEntriesDir(t *testing.T) {
	testSwappedEntries(t, tokencache.NewDir(t.TempDir()))
}

func TestSwappedEntriesMoto(t *testing.T) {
	m := testenv.StartMoto(t)
	testSwappedEntries(t, tokencache.NewSecretsManager(secretsmanager.NewFromConfig(m.AWSConfig(t)), ""))
}
