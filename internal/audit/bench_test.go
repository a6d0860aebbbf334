package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// BenchmarkCollectAudit measures what drift detection adds to a collection:
// "plain" collects 8 tenants of 1,500 devices from the simulator (loopback,
// no latency: the collector's CPU-bound worst case) into memory; "audit" is
// the same with the Auditor observing, comparing with the previous run's
// baselines and writing drift, findings and baselines. Compare the two
// ns/op.
func BenchmarkCollectAudit(b *testing.B) { benchCollectAudit(b, 8, 1500, 0, 0) }

// BenchmarkCollectAuditLatency is BenchmarkCollectAudit with 20 ms of
// simulated latency per request (as the demo), 8 tenants of 300 devices.
func BenchmarkCollectAuditLatency(b *testing.B) { benchCollectAudit(b, 8, 300, 20*time.Millisecond, 0) }

// BenchmarkCollectAuditDemo is the demo's setting: 20 ms latency and a New
// Central budget of 50 requests/s shared by the MSP (simulator and
// client), the GLP budgets as documented; 8 tenants of 300 devices.
func BenchmarkCollectAuditDemo(b *testing.B) { benchCollectAudit(b, 8, 300, 20*time.Millisecond, 50) }

func benchCollectAudit(b *testing.B, tenants, devices int, latency time.Duration, centralRate int) {
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Seed = 9
		o.Tenants = tenants
		o.Latency = latency
		o.DevicesPerTenant = func(int) int { return devices }
		o.RateLimits = centralsim.RateLimits{}
		if centralRate > 0 {
			o.RateLimits.Central = centralsim.Limit{Requests: centralRate, Window: time.Second, Scope: centralsim.ScopeAccount}
		}
		o.Logger = slog.New(slog.DiscardHandler)
	})
	defer sim.Close()
	creds, err := central.ParseCredentials(sim.CredentialsYAML(), central.FormatYAML, "sim")
	if err != nil {
		b.Fatal(err)
	}
	m, err := msp.New(creds, func(o *msp.Options) {
		o.HTTPClient = sim.Client()
		o.Logger = slog.New(slog.DiscardHandler)
		o.Budgets = central.NewBudgets()
		if centralRate > 0 {
			o.Budgets = central.DefaultBudgets()
			o.Budgets.SetRate(central.BudgetCentral, rate.Limit(centralRate), 8)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	plainSink, auditSink := sink.NewMemory(), sink.NewMemory()
	run := func(audited bool) time.Duration {
		start := time.Now()
		if !audited {
			cfg := collector.Config{MSP: collector.FromMSP(m), Sink: plainSink, Concurrency: 4}
			if _, err := collector.Run(ctx, cfg); err != nil {
				b.Fatal(err)
			}
		} else {
			cfg := collector.Config{MSP: collector.FromMSP(m), Sink: auditSink, Concurrency: 4}
			if _, _, err := Collect(ctx, cfg, Options{Store: SinkStore{Sink: auditSink}}); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	run(false)
	run(true) // baselines (and warm caches)
	var plain, audited time.Duration
	b.ResetTimer()
	for b.Loop() {
		// Interleaved, so load from elsewhere hits both alike.
		plain += run(false)
		audited += run(true)
	}
	n := float64(b.N)
	b.ReportMetric(float64(plain.Milliseconds())/n, "plain-ms/run")
	b.ReportMetric(float64(audited.Milliseconds())/n, "audit-ms/run")
	b.ReportMetric(100*(float64(audited)/float64(plain)-1), "overhead-%")
}

// driftFixture is a devices snapshot of n items as the simulator makes
// them, and its stored baseline in the current and the first format.
func driftFixture(b *testing.B, n int) (cur *Baseline, v2, v1 []byte) {
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Seed, o.Tenants = 9, 1
		o.DevicesPerTenant = func(int) int { return n }
		o.Logger = slog.New(slog.DiscardHandler)
	})
	defer sim.Close()
	tn := sim.Tenants()[0]
	sp, _ := SpecOf("devices")
	cur = &Baseline{Version: BaselineVersion, TenantID: tn.HexID, Dataset: "devices", RunID: "r1", Fields: sp.FieldNames(), Items: map[string][]string{}}
	for _, rec := range sim.Records(tn.HexID, centralsim.DatasetDevices) {
		if k, vals, ok := sp.Extract(rec); ok {
			cur.Items[k] = vals
		}
	}
	v2, err := EncodeBaseline(cur)
	if err != nil {
		b.Fatal(err)
	}
	old := *cur
	old.Version = 1
	j, err := json.Marshal(&old)
	if err != nil {
		b.Fatal(err)
	}
	return cur, v2, gz(string(j))
}

// BenchmarkDriftDataset is one dataset's drift path for a tenant of 100
// devices, as compareDataset runs it without storage: encode the snapshot's
// lines, read the stored baseline, compare, and encode the new baseline
// when something changed. "unchanged" is most tenants on most runs,
// "changed" has 5 devices re-firmwared, "v1" reads a first-format baseline.
//
//	go test -run '^$' -bench DriftDataset -benchmem ./internal/audit/
func BenchmarkDriftDataset(b *testing.B) {
	cur, v2, v1 := driftFixture(b, 100)
	changed := &Baseline{TenantID: cur.TenantID, Dataset: cur.Dataset, RunID: "r2", Fields: cur.Fields, Items: map[string][]string{}}
	i := 0
	for k, v := range cur.Items {
		v = slices.Clone(v)
		if i < 5 {
			v[len(v)-1] += "-new"
		}
		changed.Items[k], i = v, i+1
	}
	for _, c := range []struct {
		name   string
		cur    *Baseline
		stored []byte
		want   int
	}{{"unchanged", cur, v2, 0}, {"changed", changed, v2, 5}, {"v1", changed, v1, 5}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e := encodeLines(c.cur.Items)
				prev, err := readBaseline(c.stored, c.cur.TenantID, "devices", MaxBaselineBytes)
				if err != nil {
					b.Fatal(err)
				}
				cs, same, err := diffLines(prev, c.cur, e)
				if err != nil || len(cs) != c.want {
					b.Fatalf("%d changes, %v", len(cs), err)
				}
				if !same {
					if _, err := assembleBaseline(c.cur, e); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkExtract is the per-item work of the Auditor's OnItem: one pass
// over a simulator device record for its key and compared fields.
func BenchmarkExtract(b *testing.B) {
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Seed, o.Tenants = 9, 1
		o.DevicesPerTenant = func(int) int { return 100 }
		o.Logger = slog.New(slog.DiscardHandler)
	})
	defer sim.Close()
	recs := sim.Records(sim.Tenants()[0].HexID, centralsim.DatasetDevices)
	sp, _ := SpecOf("devices")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, ok := sp.Extract(recs[i%len(recs)]); !ok {
			b.Fatal("no key")
		}
		i++
	}
}
