package centralsim

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter implements fixed windows aligned to multiples of the window length
// since the Unix epoch (so a fake clock gives exact, repeatable windows).
type limiter struct {
	mu sync.Mutex
	w  map[string]*window
}

type window struct {
	start int64 // window index
	count int
}

func newLimiter() *limiter { return &limiter{w: map[string]*window{}} }

// rlResult is the outcome of one limiter check.
type rlResult struct {
	limit     int
	remaining int
	reset     time.Time // end of the current window
	allowed   bool
}

func (l *limiter) take(key string, lim Limit, now time.Time) rlResult {
	win := lim.Window
	if win <= 0 {
		win = time.Minute
	}
	idx := now.UnixNano() / int64(win)
	reset := time.Unix(0, (idx+1)*int64(win))
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.w[key]
	if w == nil {
		w = &window{}
		l.w[key] = w
	}
	if w.start != idx {
		w.start, w.count = idx, 0
	}
	res := rlResult{limit: lim.Requests, reset: reset}
	if w.count >= lim.Requests {
		return res
	}
	w.count++
	res.allowed = true
	res.remaining = lim.Requests - w.count
	return res
}

// exhaust uses up the rest of the window of key (429 storms).
func (l *limiter) exhaust(key string, lim Limit, now time.Time) rlResult {
	res := l.take(key, lim, now)
	l.mu.Lock()
	if w := l.w[key]; w != nil {
		w.count = lim.Requests
	}
	l.mu.Unlock()
	res.remaining, res.allowed = 0, false
	return res
}

// setGLPHeaders writes the documented lower-case GLP headers verbatim.
func setGLPHeaders(h http.Header, res rlResult, now time.Time) {
	secs := int64((res.reset.Sub(now) + time.Second - 1) / time.Second)
	h["ratelimit-limit"] = []string{strconv.Itoa(res.limit)}
	h["ratelimit-remaining"] = []string{strconv.Itoa(res.remaining)}
	h["rateLimit-reset"] = []string{strconv.FormatInt(max(secs, 0), 10)}
}

// setCentralHeaders writes X-RateLimit-* with an RFC 3339 reset (seconds,
// UTC, at most 20 characters as the spec requires).
func setCentralHeaders(h http.Header, res rlResult) {
	reset := res.reset.UTC()
	if reset.Nanosecond() != 0 {
		reset = reset.Truncate(time.Second).Add(time.Second)
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(res.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(res.remaining))
	h.Set("X-RateLimit-Reset", reset.Format("2006-01-02T15:04:05Z"))
}
