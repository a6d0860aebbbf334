package central

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestRetryQuotaStopsRetryStorm: against an API that answers 500 to
// everything, calls stop retrying once the shared quota is spent, so a run
// against a dead API fails fast instead of retrying every call for minutes.
func TestRetryQuotaStopsRetryStorm(t *testing.T) {
	a := newTestAPI(t)
	a.setAPI(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "down"})
	})
	q := NewRetryQuota(2 * RetryCost) // two retries
	c := testClient(t, a, newClock(), func(o *Options) { o.Retry.Quota = q })
	call := func() *Response {
		resp, err := c.Command(t.Context(), Request{App: AppCentral, Method: "GET", Path: "/network-monitoring/v1/aps"})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := call(); r.StatusCode != 500 || r.Attempts != 3 {
		t.Fatalf("first call: status %d after %d attempts, want 500 after 3", r.StatusCode, r.Attempts)
	}
	if q.Available() != 0 {
		t.Fatalf("quota left %d", q.Available())
	}
	if r := call(); r.Attempts != 1 {
		t.Fatalf("second call: %d attempts with the quota spent, want 1", r.Attempts)
	}
	if got := a.apiCalls.Load(); got != 4 {
		t.Fatalf("server saw %d requests, want 4", got)
	}
}

// TestRetryQuotaRefilledBySuccess: a call that succeeds after a retry gives
// back what it took, and a first-time success adds one token.
func TestRetryQuotaRefilledBySuccess(t *testing.T) {
	a := newTestAPI(t)
	var mu sync.Mutex
	fail := 1
	a.setAPI(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	q := NewRetryQuota(3 * RetryCost)
	q.Take(2 * RetryCost) // one retry left
	c := testClient(t, a, newClock(), func(o *Options) { o.Retry.Quota = q })
	resp, err := c.Command(t.Context(), Request{App: AppCentral, Method: "GET", Path: "/x"})
	if err != nil || resp.StatusCode != 200 || resp.Attempts != 2 {
		t.Fatalf("call: %v %+v", err, resp)
	}
	if q.Available() != RetryCost {
		t.Fatalf("after a success on retry: %d tokens, want %d (the retry's cost given back)", q.Available(), RetryCost)
	}
	if _, err := c.Command(t.Context(), Request{App: AppCentral, Method: "GET", Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	if q.Available() != RetryCost+1 {
		t.Fatalf("after a first-time success: %d tokens, want %d", q.Available(), RetryCost+1)
	}
	// An unlimited quota never refuses.
	u := NewRetryQuota(0)
	for range 1000 {
		if !u.Take(RetryTimeoutCost) {
			t.Fatal("unlimited quota refused")
		}
	}
}

// TestRetryQuotaPerClient: each Client has its own quota
// by default; a quota set in Options is shared.
func TestRetryQuotaPerClient(t *testing.T) {
	a := newTestAPI(t)
	c1, c2 := testClient(t, a, newClock()), testClient(t, a, newClock())
	if c1.RetryPolicy().Quota == nil || c1.RetryPolicy().Quota == c2.RetryPolicy().Quota {
		t.Fatal("clients without a quota option must each get their own")
	}
	if c1.RetryPolicy().Quota.Available() != DefaultRetryQuota {
		t.Fatalf("default quota %d", c1.RetryPolicy().Quota.Available())
	}
	q := NewRetryQuota(10)
	s1 := testClient(t, a, newClock(), func(o *Options) { o.Retry.Quota = q })
	s2 := testClient(t, a, newClock(), func(o *Options) { o.Retry.Quota = q })
	if s1.RetryPolicy().Quota != q || s2.RetryPolicy().Quota != q {
		t.Fatal("a quota given in Options is not shared")
	}
}

// TestMaxResponseBytes: a body over the cap fails the call at once (no
// retry), with ErrResponseTooLarge; a body at the cap is read whole.
func TestMaxResponseBytes(t *testing.T) {
	a := newTestAPI(t)
	body := `{"items":["` + strings.Repeat("x", 1000) + `"]}`
	a.setAPI(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	})
	big := testClient(t, a, newClock(), func(o *Options) { o.MaxResponseBytes = int64(len(body)) - 1 })
	_, err := big.Command(t.Context(), Request{App: AppCentral, Method: "GET", Path: "/x"})
	var re *ResponseError
	if !errors.Is(err, ErrResponseTooLarge) || !errors.As(err, &re) || re.Attempts != 1 {
		t.Fatalf("error %v", err)
	}
	if got := a.apiCalls.Load(); got != 1 {
		t.Fatalf("%d requests: a too-large body must not be retried", got)
	}
	fits := testClient(t, a, newClock(), func(o *Options) { o.MaxResponseBytes = int64(len(body)) })
	resp, err := fits.Command(t.Context(), Request{App: AppCentral, Method: "GET", Path: "/x"})
	if err != nil || string(resp.Raw) != body {
		t.Fatalf("body at the cap: %v (%d bytes)", err, len(resp.Raw))
	}
}
