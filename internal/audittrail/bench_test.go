package audittrail

import (
	"context"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// BenchmarkFirstRun copies a tenant's 20,000-event audit log (pages of
// 2,000) from the simulator into a memory sink with a fresh watermark
// store, and reports events/s:
//
//	go test -run '^$' -bench FirstRun -benchtime 5x ./internal/audittrail/
func BenchmarkFirstRun(b *testing.B) {
	e := newEnvTB(b, 1)
	const n = 20_000
	entries := make([]centralsim.AuditLogEntry, n)
	start := e.clk.Now().Add(-10 * time.Hour)
	for i := range entries {
		entries[i] = centralsim.AuditLogEntry{CreatedAt: start.Add(time.Duration(i) * time.Second)}
	}
	if _, err := e.sim.AppendAuditLogs(e.tenants[0].HexID, entries...); err != nil {
		b.Fatal(err)
	}
	total := len(e.sim.Records(e.tenants[0].HexID, centralsim.DatasetAuditLogs))
	var events int
	for b.Loop() {
		cfg := e.config("bench", sink.NewMemory(), newMemStore())
		cfg.PageLimit = 2000
		res, err := Run(context.Background(), cfg)
		if err != nil || res.Tenants[0].Records != total {
			b.Fatalf("%+v %v", res.Tenants, err)
		}
		events += total
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
