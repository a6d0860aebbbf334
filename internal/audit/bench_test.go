package audit

import (
	"context"
	"log/slog"
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
