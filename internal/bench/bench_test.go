package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
	"github.com/centralmsp/centralmsp/pkg/central"
)

// TestMain lets this test binary serve as the simulator and collector
// children of the benchmarks.
func TestMain(m *testing.M) {
	if ok, err := Child(context.Background(), os.Getenv, os.Stdout); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// self is the command that starts this test binary as a child.
func self(tb testing.TB) Command {
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	return Command{Path: exe, Args: []string{"-test.run=^$"}}
}

// benchScenarios are the bench command's scenarios (see internal/cli/bench.go)
// for the given number of tenants.
func benchScenarios(tenants int) []Config {
	return []Config{
		{Name: "account-200rps-cold", Tenants: tenants, Latency: DefaultLatency, CentralScope: central.ScopeAccount, CentralRate: 200, Concurrency: DefaultConcurrency},
		{Name: "account-200rps-warm", Tenants: tenants, Latency: DefaultLatency, CentralScope: central.ScopeAccount, CentralRate: 200, Concurrency: DefaultConcurrency, Warm: true},
		{Name: "workspace-8rps-cold", Tenants: tenants, Latency: DefaultLatency, CentralScope: central.ScopeWorkspace, Concurrency: DefaultConcurrency},
		{Name: "workspace-8rps-warm", Tenants: tenants, Latency: DefaultLatency, CentralScope: central.ScopeWorkspace, Concurrency: DefaultConcurrency, Warm: true},
	}
}

// BenchmarkCollect runs the scenarios with 100 tenants of about 300 devices
// (a tenth of the bench command's) and reports its figures as metrics:
//
//	go test -run '^$' -bench Collect -benchtime 1x ./internal/bench
func BenchmarkCollect(b *testing.B) {
	for _, cfg := range benchScenarios(100) {
		b.Run(cfg.Name, func(b *testing.B) {
			var last *Result
			for b.Loop() {
				res, err := Run(b.Context(), cfg, self(b))
				if err != nil {
					b.Fatal(err)
				}
				last = res
			}
			b.ReportMetric(last.Ratio, "wall/bound")
			b.ReportMetric(float64(last.PeakRSS)/1e6, "peak-RSS-MB")
			b.ReportMetric(last.ExchangesPerTenant, "exchanges/tenant")
			b.ReportMetric(float64(last.RateLimited), "429s")
			b.ReportMetric(float64(last.Records), "records")
		})
	}
}

// TestRunSmall runs a tiny scenario through the child processes and checks
// the accounting: every tenant collected, one exchange per tenant cold and
// none warm, no 429, a positive bound.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, warm := range []bool{false, true} {
		cfg := Config{Name: fmt.Sprintf("small-warm-%v", warm), Tenants: 12, DevicesPerTenant: 30,
			Latency: 2 * time.Millisecond, CentralRate: 100, Warm: warm}
		if warm {
			cfg.FunctionMemoryMB = 256 // the collector runs as a 256 MB Lambda would
		}
		res, err := Run(t.Context(), cfg, self(t))
		if err != nil {
			t.Fatal(err)
		}
		if want := functionMemoryLimit(cfg.FunctionMemoryMB); os.Getenv("GOMEMLIMIT") == "" && res.MemoryLimit != want {
			t.Errorf("%s: the collector's soft memory limit was %d, want %d", cfg.Name, res.MemoryLimit, want)
		}
		want := 1.0
		if warm {
			want = 0
		}
		if !res.Complete || res.TenantsOK != 12 || res.ExchangesPerTenant != want || res.RateLimited != 0 {
			t.Errorf("%s: %+v", cfg.Name, res)
		}
		if res.LowerBound <= 0 || res.Ratio <= 0 || res.PeakRSS <= 0 || res.Records == 0 {
			t.Errorf("%s: bound %s ratio %.2f rss %d records %d", cfg.Name, res.LowerBound, res.Ratio, res.PeakRSS, res.Records)
		}
		// The I/O floor counts the answers the simulator sent and the
		// objects the gzip floor read.
		if threadCPU() != 0 {
			f := res.IOFloor
			if f == nil || f.Answers != res.Requests || res.BodyBytes <= 0 || f.AnswerBytes != res.BodyBytes/res.Requests ||
				f.Objects != res.GzipFloor.Objects || f.Objects < 12*8 || res.IOPerMillion <= 0 ||
				!strings.Contains(strings.Join(res.Verdicts(), "\n"), "gzip and I/O floors") {
				t.Errorf("%s: I/O floor %+v, gzip floor %+v, %d requests of %d bytes", cfg.Name, f, res.GzipFloor, res.Requests, res.BodyBytes)
			}
		}
		var sb strings.Builder
		if err := WriteTable(&sb, []*Result{res}); err != nil {
			t.Fatal(err)
		}
		t.Log("\n" + sb.String())
	}
}

// TestRSSVerdict: with a function's memory the verdict says whether the
// peak fits in it, the size at which Lambda would stop the invocation.
func TestRSSVerdict(t *testing.T) {
	for _, c := range []struct {
		rss  int64
		mb   int
		want string
	}{
		{100e6, 0, "peak RSS 100 MB (target <= 150 MB): met"},
		{200e6, 0, "peak RSS 200 MB (target <= 150 MB): MISSED"},
		{100e6, 512, "which it fits: met"},
		{200e6, 512, "which it fits: MISSED"},
		{200e6, 128, "which it does NOT fit: MISSED"},
		{0, 512, "does NOT fit: MISSED"},
	} {
		r := &Result{Config: Config{FunctionMemoryMB: c.mb}, PeakRSS: c.rss, MemoryLimit: functionMemoryLimit(c.mb)}
		if got := r.rssVerdict(); !strings.Contains(got, c.want) {
			t.Errorf("rss %d, %d MB: %q, want it to contain %q", c.rss, c.mb, got, c.want)
		}
	}
}

// TestFunctionMemoryLimit: the bench gives its collector the limit the
// Lambda's rule gives (85 %), none without a size, and defers to
// GOMEMLIMIT as the function does.
func TestFunctionMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	size := int64(512 << 20)
	if got, want := functionMemoryLimit(512), int64(float64(size)*envconf.MemoryLimitShare); got != want {
		t.Errorf("512 MB: %d, want %d", got, want)
	}
	if got := functionMemoryLimit(0); got != 0 {
		t.Errorf("no size: %d, want 0", got)
	}
	t.Setenv("GOMEMLIMIT", "100MiB")
	if got := functionMemoryLimit(512); got != 0 {
		t.Errorf("with GOMEMLIMIT: %d, want 0 (the runtime applies it)", got)
	}
}
