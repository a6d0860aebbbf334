package httpcore

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// A client's own transport keeps its connections to a host between
// bursts of concurrent requests: the second burst of 120 reuses the
// first's connections instead of dialling (over TLS: handshaking) again.
func TestNewTransportKeepsConnections(t *testing.T) {
	const burst = 120
	var dials atomic.Int64
	var arrived sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // every request of the burst in flight at once
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	hc := &http.Client{Transport: NewTransport()}
	defer hc.CloseIdleConnections()
	round := func() int64 {
		before := dials.Load()
		arrived.Add(burst)
		var wg sync.WaitGroup
		for range burst {
			wg.Go(func() {
				resp, err := hc.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		wg.Wait()
		return dials.Load() - before
	}
	if n := round(); n != burst {
		t.Fatalf("first burst opened %d connections, want %d", n, burst)
	}
	if n := round(); n != 0 {
		t.Errorf("second burst opened %d new connections, want 0 (the first burst's kept)", n)
	}
}
