package classic

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/centralmsp/centralmsp/pkg/central"
	"golang.org/x/time/rate"
)

// TestSharedRetryQuota: Classic clients draw on the retry quota of
// Options.Retry.Quota; two clients sharing a quota stop retrying a failing
// gateway once it is spent.
func TestSharedRetryQuota(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	q := central.NewRetryQuota(3 * central.RetryCost) // three retries in all
	clk := newClock()
	newC := func() *Client {
		cfg := &Config{BaseURL: srv.URL, Token: Token{AccessToken: "at"}}
		c, err := New(cfg, func(o *Options) {
			o.HTTPClient = srv.Client()
			o.Logger = quietLogger()
			o.Now = clk.Now
			o.Retry = central.RetryPolicy{Sleep: clk.Sleep, Rand: func() float64 { return 0 }, Quota: q}
			o.RateLimit = rate.Inf
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := newC(), newC()
	for _, c := range []*Client{a, b, a} {
		resp, err := c.Command(context.Background(), central.Request{Path: "/monitoring/v2/aps"})
		if err != nil || resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("%v %v", resp, err)
		}
	}
	// 3 first attempts + 3 retries (then the quota is dry), not 3 x 10.
	if got := hits.Load(); got != 6 || q.Available() != 0 {
		t.Errorf("%d requests, %d quota left; want 6 and 0", got, q.Available())
	}
	// Without an explicit quota each client gets its own default one.
	if newC().core.retry.Quota == nil {
		t.Error("no default quota")
	}
}
