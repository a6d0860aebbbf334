package centralsim

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchClient returns a keep-alive client for parallel loopback requests.
func benchClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: tr}
}

func benchServer(b *testing.B) *Server {
	s := NewServer(func(o *Options) {
		o.Tenants = 4
		o.RateLimits = RateLimits{}
		o.DevicesPerTenant = func(int) int { return 5000 }
	})
	b.Cleanup(s.Close)
	return s
}

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkTokenEndpoint measures client_credentials token calls over real
// HTTP on loopback with parallel clients.
func BenchmarkTokenEndpoint(b *testing.B) {
	s := benchServer(b)
	hc := benchClient()
	m := s.MSP()
	u := s.TokenURL(m.WorkspaceID)
	b.SetParallelism(8)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(m.ClientID, m.ClientSecret)
			res, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
	reportRate(b, start)
}

// BenchmarkPage100 measures 100-item Central cursor pages (tenant token)
// over real HTTP on loopback with parallel clients.
func BenchmarkPage100(b *testing.B) {
	s := benchServer(b)
	hc := benchClient()
	tn := s.Tenants()[0]
	m := s.MSP()
	tok, _ := s.issue(KindTenant, tn.HexID, m.WorkspaceID, m.ClientID)
	s.Records(tn.HexID, DatasetAPs) // generate outside the timer
	base := s.CentralURL() + "/network-monitoring/v1/aps?limit=100&next="
	var page atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := page.Add(1)%35 + 1
			req, _ := http.NewRequest(http.MethodGet, base+strconv.FormatInt(n, 10), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
	reportRate(b, start)
}
