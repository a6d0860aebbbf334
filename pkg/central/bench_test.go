package central

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchServer answers every request with a small New Central list page.
func benchServer(b *testing.B) *httptest.Server {
	body, _ := json.Marshal(map[string]any{
		"items": []any{
			map[string]any{"serialNumber": "CN0001", "deviceName": "ap-1", "status": "ONLINE", "model": "AP-635"},
			map[string]any{"serialNumber": "CN0002", "deviceName": "ap-2", "status": "OFFLINE", "model": "AP-655"},
		},
		"count": 2, "total": 2, "next": nil,
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/authorization/v2/oauth2/ws1/token" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"bench-token","expires_in":900}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkCommand measures a Client.Command round trip (token cache, budget,
// URL building, retry loop, JSON decoding into any).
func BenchmarkCommand(b *testing.B) {
	srv := benchServer(b)
	c, err := New(&Credentials{Unified: &Unified{ClientID: "id", ClientSecret: "s", WorkspaceID: "ws1", GLPBaseURL: srv.URL, BaseURL: srv.URL + "/central"}},
		func(o *Options) {
			o.HTTPClient = srv.Client()
			o.Logger = slog.New(slog.DiscardHandler)
			o.Budgets = NewBudgets() // unlimited: measure overhead, not the 8/s budget
		})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	req := Request{Path: "network-monitoring/v1/aps", Params: map[string]any{"limit": 100, "next": 1}}
	if _, err := c.Command(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Command(ctx, req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlainHTTP is the same call with plain net/http: build the request,
// set the bearer header, read the body and decode it into any.
func BenchmarkPlainHTTP(b *testing.B) {
	srv := benchServer(b)
	hc := srv.Client()
	ctx := b.Context()
	u := srv.URL + "/central/network-monitoring/v1/aps?limit=100&next=1"
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer bench-token")
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOverhead interleaves one Client.Command and one plain net/http call
// per iteration against the same loopback server, so machine load hits both
// alike, and reports each one's mean time and their ratio.
func BenchmarkOverhead(b *testing.B) {
	srv := benchServer(b)
	c, err := New(&Credentials{Unified: &Unified{ClientID: "id", ClientSecret: "s", WorkspaceID: "ws1", GLPBaseURL: srv.URL, BaseURL: srv.URL + "/central"}},
		func(o *Options) {
			o.HTTPClient = srv.Client()
			o.Logger = slog.New(slog.DiscardHandler)
			o.Budgets = NewBudgets()
		})
	if err != nil {
		b.Fatal(err)
	}
	hc := srv.Client()
	ctx := b.Context()
	req := Request{Path: "network-monitoring/v1/aps", Params: map[string]any{"limit": 100, "next": 1}}
	u := srv.URL + "/central/network-monitoring/v1/aps?limit=100&next=1"
	plain := func() {
		hreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		hreq.Header.Set("Authorization", "Bearer bench-token")
		hreq.Header.Set("Accept", "application/json")
		resp, err := hc.Do(hreq)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := c.Command(ctx, req); err != nil {
		b.Fatal(err)
	}
	var tc, tp time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.Command(ctx, req); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		plain()
		tp += time.Since(t1)
		tc += t1.Sub(t0)
		n++
	}
	b.ReportMetric(float64(tc.Nanoseconds())/float64(n), "client-ns/call")
	b.ReportMetric(float64(tp.Nanoseconds())/float64(n), "plain-ns/call")
	b.ReportMetric(float64(tc)/float64(tp), "ratio")
}
