package collector

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// replayTransport answers every request it has seen once from memory: the
// first pass goes to the simulator and is recorded, later passes cost no
// server CPU, so the process CPU they take is the client's alone.
type replayTransport struct {
	next   http.RoundTripper
	mu     sync.Mutex
	seen   map[string]replayed
	misses int
}

type replayed struct {
	status int
	header http.Header
	body   []byte
	length int64
}

func (rt *replayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.Method + " " + req.URL.String()
	rt.mu.Lock()
	r, ok := rt.seen[key]
	rt.mu.Unlock()
	if !ok {
		resp, err := rt.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		r = replayed{status: resp.StatusCode, header: resp.Header, body: body, length: resp.ContentLength}
		rt.mu.Lock()
		rt.seen[key] = r
		rt.misses++
		rt.mu.Unlock()
	}
	return &http.Response{
		Status: http.StatusText(r.status), StatusCode: r.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: r.header.Clone(), Body: io.NopCloser(bytes.NewReader(r.body)), ContentLength: r.length, Request: req,
	}, nil
}

// BenchmarkCPUPerRecord measures the collector's CPU per record on the
// page→record path: the tenant client's paging (request, ReadBody, page
// decoding), the record writing and gzip, for every default dataset of
// simulated 300-device tenants, one dataset after another on one
// goroutine. Pages are replayed from memory after a first recorded pass,
// so the simulator costs nothing, and the figure is the process's CPU
// time (not wall time): other load on the machine hardly moves it.
//
// It reports cpu-s/Mrec, the gzip floor (the CPU to compress the same
// NDJSON at GzipLevel, gzip-s/Mrec, measured in the same process the same
// way) and their ratio x-floor, the budget's figure (at most
// cpuFloorBound), all from the median pass; x-floor-mean is the ratio of
// the means, and x-floor/bound is x-floor over cpuFloorBound (at most 1
// within the budget; the log says when a run is over it):
//
//	go test -run '^$' -bench CPUPerRecord -benchtime 40x ./internal/collector/
func BenchmarkCPUPerRecord(b *testing.B) {
	if processCPU() == 0 {
		b.Skip("this platform's process CPU time is not read")
	}
	const cpuFloorBound = 2.0 // the budget: CPU per record at most twice the gzip floor's
	const tenants = 4
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Seed = 7
		o.Tenants = tenants
		o.DevicesPerTenant = func(int) int { return 300 }
		o.RateLimits = centralsim.RateLimits{}
	})
	defer sim.Close()
	creds, err := central.ParseCredentials(sim.CredentialsYAML(), central.FormatYAML, "sim")
	if err != nil {
		b.Fatal(err)
	}
	hc := sim.Client()
	rt := &replayTransport{next: hc.Transport, seen: map[string]replayed{}}
	m, err := msp.New(creds, func(o *msp.Options) {
		o.HTTPClient = &http.Client{Transport: rt, Timeout: hc.Timeout}
		o.Logger = slog.New(slog.DiscardHandler)
		o.Budgets = central.NewBudgets()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	mem := sink.NewMemory()
	r, err := newRun(ctx, Config{MSP: FromMSP(m), Sink: mem, RunID: "20261128T000000Z-bench"})
	if err != nil {
		b.Fatal(err)
	}
	r.date = "2026-11-28"
	type job struct {
		t      msp.Tenant
		client *central.Client
	}
	var jobs []job
	for _, tn := range sim.Tenants() {
		t := msp.Tenant{ID: tn.HexID, Name: tn.Name}
		c, err := r.cfg.MSP.TenantClient(ctx, t.ID)
		if err != nil {
			b.Fatal(err)
		}
		jobs = append(jobs, job{t, c})
	}
	pass := func() (records int64) {
		for _, j := range jobs {
			for _, d := range r.datasets {
				res := r.dataset(ctx, j.client, j.t, d)
				if res.Status != StatusOK {
					b.Fatalf("%s %s: %+v", j.t.ID, d.Name, res.Error)
				}
				records += res.Records
			}
		}
		return records
	}
	pass() // records the pages
	warm := rt.misses

	// The gzip floor: the NDJSON of one pass, compressed at GzipLevel.
	var ndjson [][]byte
	for _, k := range mem.Keys() {
		obj, _ := mem.Object(k)
		zr, err := gzip.NewReader(bytes.NewReader(obj))
		if err != nil {
			continue // not a dataset object
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			b.Fatal(err)
		}
		ndjson = append(ndjson, raw)
	}
	zw, _ := gzip.NewWriterLevel(io.Discard, GzipLevel)
	floor := func() time.Duration {
		cpu0 := processCPU()
		for _, o := range ndjson {
			zw.Reset(io.Discard)
			_, _ = zw.Write(o)
			_ = zw.Close()
		}
		return processCPU() - cpu0
	}

	// Per pass figures; the medians resist other load on the machine
	// (which still slows a process's own CPU time through shared caches
	// and cores), the means are reported beside them.
	var cpus, gzs []time.Duration
	var records int64
	b.ResetTimer()
	for b.Loop() {
		cpu0 := processCPU()
		records = pass()
		cpus = append(cpus, processCPU()-cpu0)
		gzs = append(gzs, floor())
	}
	if rt.misses != warm {
		b.Fatalf("%d requests were not replayed", rt.misses-warm)
	}
	perM := func(d time.Duration) float64 { return d.Seconds() / (float64(records) / 1e6) }
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	mean := func(ds []time.Duration) time.Duration {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return sum / time.Duration(len(ds))
	}
	b.ReportMetric(float64(records), "rec/op")
	b.ReportMetric(perM(median(cpus)), "cpu-s/Mrec")
	b.ReportMetric(perM(median(gzs)), "gzip-s/Mrec")
	ratio := perM(median(cpus)) / perM(median(gzs))
	b.ReportMetric(ratio, "x-floor")
	b.ReportMetric(perM(mean(cpus))/perM(mean(gzs)), "x-floor-mean")
	b.ReportMetric(ratio/cpuFloorBound, "x-floor/bound")
	if ratio > cpuFloorBound {
		b.Logf("over the budget: %.2f cpu-s/Mrec is %.2fx the gzip floor's %.2f (bound %.0fx)",
			perM(median(cpus)), ratio, perM(median(gzs)), cpuFloorBound)
	}
}
