package central

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/httpcore"
)

// seq serves the given handlers in order, repeating the last.
func seq(hs ...http.HandlerFunc) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(hs) {
			i = len(hs) - 1
		}
		hs[i](w, r)
	}
}

func status(code int, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		writeJSON(w, code, map[string]any{"httpStatusCode": code, "errorCode": "E" + strconv.Itoa(code), "message": "m", "debugId": "d"})
	}
}

func ok(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{"ok": true}) }

func TestRetry429Hints(t *testing.T) {
	t.Parallel()
	clk := newClock()
	reset := clk.Now().Add(7 * time.Second).Format(time.RFC3339)
	cases := []struct {
		name string
		h    http.HandlerFunc
		want time.Duration
	}{
		{"glp ratelimit-reset seconds", status(429, "ratelimit-limit", "160", "ratelimit-remaining", "0", "ratelimit-reset", "3"), 3 * time.Second},
		{"central X-RateLimit-Reset RFC3339", status(429, "X-RateLimit-Reset", reset), 7 * time.Second},
		{"Retry-After seconds", status(429, "Retry-After", "5"), 5 * time.Second},
		{"no hint: full jitter backoff", status(429), 125 * time.Millisecond}, // 0.5 * 250ms
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t)
			clk := newClock()
			c := testClient(t, api, clk)
			api.setAPI(seq(tc.h, ok))
			stats := &CallStats{}
			resp, err := c.Command(WithCallStats(t.Context(), stats), Request{App: AppGLP, Method: "POST", Path: "devices/v1/devices"})
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%v %v", resp, err)
			}
			if s := clk.Sleeps(); len(s) != 1 || s[0] != tc.want {
				t.Errorf("sleeps = %v, want [%v]", s, tc.want)
			}
			if stats.RateLimited.Load() != 1 || stats.Retries.Load() != 1 || stats.Requests.Load() != 2 || time.Duration(stats.Wait.Load()) != tc.want {
				t.Errorf("stats: 429=%d retries=%d req=%d wait=%v", stats.RateLimited.Load(), stats.Retries.Load(), stats.Requests.Load(), time.Duration(stats.Wait.Load()))
			}
		})
	}
}

func TestRetry429Exhausted(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	c := testClient(t, api, clk, func(o *Options) { o.Retry.MaxAttempts = 3 })
	api.setAPI(status(429, "ratelimit-reset", "1"))
	resp, err := c.Command(t.Context(), Request{App: AppGLP, Path: "devices/v1/devices"})
	if err != nil || resp.StatusCode != 429 || api.apiCalls.Load() != 3 || resp.Attempts != 3 {
		t.Errorf("Command: %v %v calls=%d", resp, err, api.apiCalls.Load())
	}
	_, err = c.Do(t.Context(), Request{App: AppGLP, Path: "devices/v1/devices"}, nil)
	var rle *RateLimitError
	if !errors.As(err, &rle) || rle.Budget != "glp" || rle.RetryAfter != time.Second || !errors.Is(err, ErrRateLimited) {
		t.Errorf("Do: %#v", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 429 {
		t.Errorf("RateLimitError does not wrap the APIError: %v", err)
	}
	// A hint beyond MaxWait ends the call at once.
	api2 := newTestAPI(t)
	c2 := testClient(t, api2, newClock(), func(o *Options) { o.Retry.MaxWait = time.Minute })
	api2.setAPI(status(429, "Retry-After", "3600"))
	resp, err = c2.Command(t.Context(), Request{Path: "x"})
	if err != nil || resp.StatusCode != 429 || api2.apiCalls.Load() != 1 || resp.Attempts != 1 {
		t.Errorf("long hint: %v %v calls=%d", resp, err, api2.apiCalls.Load())
	}
	// Do reports the attempts actually made, not the configured maximum.
	if _, err = c2.Do(t.Context(), Request{Path: "x"}, nil); !errors.As(err, &rle) || rle.Attempts != 1 {
		t.Errorf("long hint, Do: attempts %d, want 1 (%v)", rle.Attempts, err)
	}
	// A context deadline shorter than the hint ends the call at once.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	api3 := newTestAPI(t)
	c3 := testClient(t, api3, newClock())
	api3.setAPI(status(429, "Retry-After", "100"))
	if resp, err := c3.Command(ctx, Request{Path: "x"}); err != nil || resp.StatusCode != 429 || api3.apiCalls.Load() != 1 {
		t.Errorf("deadline: %v %v", resp, err)
	}
}

func TestRetry5xx(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	c := testClient(t, api, clk)
	api.setAPI(seq(status(503), status(502), ok))
	resp, err := c.Command(t.Context(), Request{Path: "x"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	// Full jitter with rand 0.5: 0.5*250ms, 0.5*500ms.
	if s := clk.Sleeps(); fmt.Sprint(s) != "[125ms 250ms]" {
		t.Errorf("sleeps = %v", s)
	}
	// POST is not retried on 5xx.
	api.setAPI(seq(status(500), ok))
	before := api.apiCalls.Load()
	resp, err = c.Command(t.Context(), Request{Method: "POST", Path: "x"})
	if err != nil || resp.StatusCode != 500 || api.apiCalls.Load()-before != 1 {
		t.Errorf("POST: %v %v", resp, err)
	}
	// Bounded attempts, then the 5xx is returned / APIError from Do.
	api.setAPI(status(500))
	before = api.apiCalls.Load()
	_, err = c.Do(t.Context(), Request{Path: "x"}, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 500 || api.apiCalls.Load()-before != 5 {
		t.Errorf("Do 500: %v calls=%d", err, api.apiCalls.Load()-before)
	}
}

func hijackClose(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func truncated(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "100")
	w.WriteHeader(200)
	_, _ = io.WriteString(w, `{"items":[`)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	hijackClose(w, r)
}

func malformed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"items": [1, 2,, }`)
}

func TestRetryTransportAndBodyErrors(t *testing.T) {
	t.Parallel()
	for name, h := range map[string]http.HandlerFunc{"reset": hijackClose, "truncated": truncated, "malformed": malformed} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t)
			c := testClient(t, api, newClock(), func(o *Options) { o.Retry.MaxAttempts = 3 })
			api.setAPI(seq(h, ok))
			resp, err := c.Command(t.Context(), Request{Path: "x"})
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET not retried: %v %v", resp, err)
			}
			api.setAPI(h)
			before := api.apiCalls.Load()
			_, err = c.Command(t.Context(), Request{Path: "x"})
			var re *ResponseError
			// net/http itself may re-send an idempotent request once when a
			// reused connection dies, so the server can see more than 3.
			if calls := api.apiCalls.Load() - before; !errors.As(err, &re) || re.Attempts != 3 || calls < 3 || calls > 6 {
				t.Errorf("GET exhausted: %v calls=%d", err, api.apiCalls.Load()-before)
			}
			before = api.apiCalls.Load()
			_, err = c.Command(t.Context(), Request{Method: "POST", Path: "x", Body: map[string]int{"a": 1}})
			if !errors.As(err, &re) || api.apiCalls.Load()-before != 1 {
				t.Errorf("POST retried or no error: %v calls=%d", err, api.apiCalls.Load()-before)
			}
		})
	}
}

func TestRetryConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	clk := newClock()
	c, err := New(&Credentials{GLP: &AppCreds{BaseURL: "http://" + addr, AccessToken: "t"}}, func(o *Options) {
		o.Retry = RetryPolicy{Sleep: clk.Sleep, Rand: func() float64 { return 0 }, MaxAttempts: 2}
		o.Logger = slog.New(slog.DiscardHandler)
	})
	if err != nil {
		t.Fatal(err)
	}
	stats := &CallStats{}
	_, err = c.Command(WithCallStats(t.Context(), stats), Request{App: AppGLP, Path: "x"})
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != 0 || stats.Requests.Load() != 2 {
		t.Errorf("err = %v requests=%d", err, stats.Requests.Load())
	}
}

func TestRetryRespectsContext(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	api.setAPI(status(503))
	ctx, cancel := context.WithCancel(t.Context())
	c := testClient(t, api, newClock(), func(o *Options) {
		o.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
			cancel()
			return httpcore.Sleep(ctx, time.Hour)
		}
	})
	_, err := c.Command(ctx, Request{Path: "x"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, Rand: func() float64 { return 1 }}
	var got []time.Duration
	for i := range 6 {
		got = append(got, p.Backoff(i).Round(time.Millisecond))
	}
	if fmt.Sprint(got) != "[100ms 200ms 400ms 800ms 1s 1s]" {
		t.Errorf("backoff = %v", got)
	}
	p.Rand = func() float64 { return 0 }
	if p.Backoff(3) != 0 {
		t.Error("zero rand must give zero wait")
	}
	if d := DefaultRetryPolicy(); d.MaxAttempts != 5 || d.MaxWait != 2*time.Minute {
		t.Errorf("defaults %+v", d)
	}
	if d := (RetryPolicy{}).Backoff(100); d > 20*time.Second {
		t.Errorf("cap exceeded %v", d)
	}
}

func TestRetry503RetryAfter(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	c := testClient(t, api, clk)
	api.setAPI(seq(status(503, "Retry-After", "4"), ok))
	if resp, err := c.Command(t.Context(), Request{Path: "x"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if s := clk.Sleeps(); len(s) != 1 || s[0] != 4*time.Second {
		t.Errorf("sleeps = %v", s)
	}
}
