package httpcore

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func testHooks(tok string) *Hooks {
	return &Hooks{
		Wait:        func(context.Context, int) (time.Duration, func(*Response), error) { return 0, nil, nil },
		Token:       func(context.Context) (*oauth2.Token, error) { return &oauth2.Token{AccessToken: tok}, nil },
		RateLimited: func(*Response, int) (time.Duration, error) { return 0, nil },
		Pause:       func(time.Duration) {},
		Unauthorized: func(context.Context, *Response, *oauth2.Token) (bool, error) {
			return false, nil
		},
	}
}

// TestSwappableRetryDecision: CheckRetry and Backoff replace the retry
// decision and the waits, and error answers are scrubbed of the token.
func TestSwappableRetryDecision(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"message":"you sent ` + r.Header.Get("Authorization") + `"}`))
	}))
	defer srv.Close()
	p, err := Prepare(Target{Name: "t", RelativeTo: "base"}, "GET", srv.URL, "/x", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	pol := Policy{MaxAttempts: 4, MaxWait: time.Hour, MinDelay: time.Second, MaxDelay: time.Minute,
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
		Quota: NewRetryQuota(DefaultRetryQuota),
		CheckRetry: func(_ context.Context, resp *Response, err error) (bool, error) {
			return resp != nil && resp.StatusCode == http.StatusConflict, nil // 409 is retried
		},
		Backoff: func(lo, hi time.Duration, attempt int, resp *Response) time.Duration {
			return lo * time.Duration(attempt+1)
		},
	}
	c := Client{HTTP: srv.Client(), MaxBody: 1 << 20}
	resp, sent, err := c.Do(context.Background(), p, pol, testHooks("tok+1/="))
	if err != nil || resp.StatusCode != http.StatusConflict || resp.Attempts != 4 || hits.Load() != 4 {
		t.Fatalf("%+v %v hits=%d", resp, err, hits.Load())
	}
	if len(waits) != 3 || waits[0] != time.Second || waits[2] != 3*time.Second {
		t.Errorf("waits %v", waits)
	}
	if string(resp.Raw) != `{"message":"you sent [REDACTED]"}` || resp.Header.Get("X-Echo") != Redacted || sent.Scrub("tok+1/=") != Redacted {
		t.Errorf("not scrubbed: %s %v", resp.Raw, resp.Header)
	}
	// The default decision does not retry a 409.
	hits.Store(0)
	pol.CheckRetry = nil
	if _, _, err := c.Do(context.Background(), p, pol, testHooks("t")); err != nil || hits.Load() != 1 {
		t.Errorf("default CheckRetry: %v hits=%d", err, hits.Load())
	}
}
