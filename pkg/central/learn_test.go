package central

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func centralHeaders(limit, remaining int, reset time.Time) http.Header {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", reset.UTC().Format(time.RFC3339))
	return h
}

// TestLearnMovesToTheStatedLimit: the budget moves up to a stated 10/s and
// down to 5/s, a safe margin under each (limit - burst + 1/2 per window),
// logs each change once, and existing buckets follow.
func TestLearnMovesToTheStatedLimit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	var logs syncBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	b := DefaultBudgets()
	bk := b.bucketFor(AppCentral, "GET", "/x", "acct", "ws")
	for range 3 {
		reset := clk.Now().Truncate(time.Second).Add(time.Second)
		b.observe(bk, "ws", centralHeaders(10, 9, reset), clk.Now(), 0, log)
		clk.Advance(time.Second)
	}
	if s, _ := b.Spec(BudgetCentral); s.Rate != 9.5 {
		t.Fatalf("rate %v, want 9.5", s.Rate)
	}
	if got := bk.lim.Limit(); got != 9.5 {
		t.Fatalf("existing bucket at %v, want 9.5", got)
	}
	b.observe(bk, "ws", centralHeaders(5, 4, clk.Now().Truncate(time.Second).Add(time.Second)), clk.Now(), 0, log)
	if s, _ := b.Spec(BudgetCentral); s.Rate != 4.5 {
		t.Fatalf("rate %v, want 4.5", s.Rate)
	}
	if n := strings.Count(logs.String(), "rate limit learned"); n != 2 {
		t.Errorf("logged %d changes, want 2:\n%s", n, logs.String())
	}
	// A configured rate is a ceiling: a lower stated limit still lowers it,
	// a higher one does not raise it (shards share an account's rate).
	b.SetRate(BudgetCentral, 2, 1)
	b.observe(bk, "ws", centralHeaders(10, 4, clk.Now().Truncate(time.Second).Add(time.Second)), clk.Now(), 0, log)
	if s, _ := b.Spec(BudgetCentral); s.Rate != 2 {
		t.Fatalf("configured 2/s, server says 10: rate %v, want 2", s.Rate)
	}
	b.observe(bk, "ws", centralHeaders(1, 0, clk.Now().Truncate(time.Second).Add(time.Second)), clk.Now(), 0, log)
	if s, _ := b.Spec(BudgetCentral); s.Rate != 0.5 {
		t.Fatalf("configured 2/s, server says 1: rate %v, want 0.5 (half the limit)", s.Rate)
	}
}

// TestLearnLongerWindow: a limit stated per hour (the reset an hour away)
// is not taken per second.
func TestLearnLongerWindow(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := DefaultBudgets()
	bk := b.bucketFor(AppCentral, "GET", "/x", "acct", "ws")
	b.observe(bk, "ws", centralHeaders(36000, 35999, clk.Now().Add(time.Hour)), clk.Now(), 0, slog.New(slog.DiscardHandler))
	s, _ := b.Spec(BudgetCentral)
	if want := rate.Limit((36000 - 0.5) / 3600.0); s.Rate != want {
		t.Errorf("rate %v, want %v", s.Rate, want)
	}
}

// TestFreshGLPWindowDoesNotPace: an unlimited GLP family told 299 of 300
// are left for 60 s keeps its burst (it is not spread to 5/s); it spreads
// only when the window runs low, and other families are untouched.
func TestFreshGLPWindowDoesNotPace(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := DefaultBudgets()
	log := slog.New(slog.DiscardHandler)
	bk := b.bucketFor(AppGLP, "GET", "/workspaces/v1/msp-tenants", "msp", "msp")
	h := http.Header{}
	h.Set("ratelimit-limit", "300")
	h.Set("ratelimit-remaining", "299")
	h.Set("rateLimit-reset", "60")
	b.observe(bk, "msp", h, clk.Now(), 0, log)
	if got := bk.lim.Limit(); got != rate.Inf {
		t.Fatalf("fresh window paced to %v/s", got)
	}
	h.Set("ratelimit-remaining", "30")
	b.observe(bk, "msp", h, clk.Now(), 0, log)
	if got := bk.lim.Limit(); got != 0.5 {
		t.Fatalf("low window: %v/s, want 30/60 s = 0.5", got)
	}
	for _, p := range []string{"/audit-log/v1/logs", "/authorization/v2/oauth2/t/token"} {
		if r := b.Rate(AppGLP, "GET", p, "msp", "msp"); r != rate.Inf {
			t.Errorf("%s paced to %v/s by the workspaces family", p, r)
		}
	}
	if s, _ := b.Spec(BudgetGLP); s.Rate != rate.Inf {
		t.Errorf("unlimited budget learned a rate: %v", s.Rate)
	}
}

// TestHostileRateHeaders: negative, huge, non-numeric and far-future values
// are ignored; a remaining above the limit drops the limit.
func TestHostileRateHeaders(t *testing.T) {
	t.Parallel()
	now := time.Unix(1800000000, 0)
	for _, tc := range []struct {
		limit, remaining, reset string
		wantOK, wantWindow      bool
		wantLimit               int64
	}{
		{"10", "9", "1", true, true, 10},
		{"-10", "9", "1", true, true, 0},
		{"0", "0", "1", true, true, 0},
		{"99999999999999999999", "5", "1", true, true, 0},
		{"10", "-1", "1", true, false, 10},
		{"10", "9", "-5", true, false, 10},
		{"10", "9", "99999999999", true, false, 10},
		{"10", "9", "NaN", true, false, 10},
		{"10", "20", "1", true, true, 0},
		{"ten", "nine", "soon", false, false, 0},
		{"1e3", "0x10", "", false, false, 0},
		{"", "", "", false, false, 0},
	} {
		h := http.Header{}
		h.Set("X-RateLimit-Limit", tc.limit)
		h.Set("X-RateLimit-Remaining", tc.remaining)
		h.Set("X-RateLimit-Reset", tc.reset)
		hn, ok := parseRateHeaders(h, now)
		if ok != tc.wantOK || hn.hasWindow != tc.wantWindow || hn.limit != tc.wantLimit {
			t.Errorf("%+v: got ok %v window %v limit %d", tc, ok, hn.hasWindow, hn.limit)
		}
		if hn.hasWindow && hn.reset.Sub(now) > maxHeaderReset {
			t.Errorf("%+v: reset %v out of bounds", tc, hn.reset)
		}
	}
	h := http.Header{}
	h.Set("Retry-After", "9999999")
	if d, ok := retryAfterHint(h, now); !ok || d != maxHeaderReset {
		t.Errorf("Retry-After capped to %v %v, want %v", d, ok, maxHeaderReset)
	}
}

// TestScopeProbe: answers for different workspaces that repeat used counts
// within a window count independently; distinct counts share one window.
func TestScopeProbe(t *testing.T) {
	t.Parallel()
	for _, perWorkspace := range []bool{true, false} {
		clk := newClock()
		b := DefaultBudgets()
		log := slog.New(slog.DiscardHandler)
		for w := range 4 {
			reset := clk.Now().Truncate(time.Second).Add(time.Second)
			used := 0
			for _, ws := range []string{"t1", "t2", "t3"} {
				for range 3 {
					if perWorkspace {
						used = used%3 + 1
					} else {
						used++
					}
					bk := b.bucketFor(AppCentral, "GET", "/x", "acct", ws)
					b.observe(bk, ws, centralHeaders(10, 10-used, reset), clk.Now(), 0, log)
				}
			}
			clk.Advance(time.Second)
			_ = w
		}
		rep := b.Report()[0]
		want, scope := "account", ScopeAccount
		if perWorkspace {
			want, scope = "workspace", ScopeWorkspace
		}
		if rep.DetectedScope != want || rep.ScopeSource != "detected" || len(rep.FirstAnswers) != 3 {
			t.Errorf("per workspace %v: report %+v", perWorkspace, rep)
		}
		if s, _ := b.Spec(BudgetCentral); s.Scope != scope {
			t.Errorf("per workspace %v: scope %s", perWorkspace, s.Scope)
		}
	}
}

// FuzzRateHeaders: whatever the headers say, parsing never panics, counts
// stay within bounds, resets lie in [now, now+24h], and feeding them to a
// budget never sets a negative, NaN or runaway rate.
func FuzzRateHeaders(f *testing.F) {
	f.Add("10", "9", "2026-01-01T00:00:01Z", "")
	f.Add("300", "299", "60", "")
	f.Add("-1", "-1", "-1", "-1")
	f.Add("99999999999999999999", "1", "1e308", "Thu, 01 Jan 2026 00:00:30 GMT")
	f.Add("5", "0", "1767225660", "120")
	now := time.Unix(1800000000, 0)
	f.Fuzz(func(t *testing.T, limit, remaining, reset, retryAfter string) {
		for _, set := range rateHeaderSets {
			h := http.Header{}
			h.Set(set[0], limit)
			h.Set(set[1], remaining)
			h.Set(set[2], reset)
			h.Set("Retry-After", retryAfter)
			hn, ok := parseRateHeaders(h, now)
			if ok {
				if hn.limit < 0 || hn.limit > maxHeaderLimit || hn.remaining < 0 || hn.remaining > maxHeaderLimit {
					t.Fatalf("counts out of bounds: %+v", hn)
				}
				if hn.limit > 0 && hn.hasWindow && hn.remaining > hn.limit {
					t.Fatalf("remaining above limit: %+v", hn)
				}
				if hn.hasWindow && (hn.reset.Sub(now) < -maxHeaderReset || hn.reset.Sub(now) > maxHeaderReset) {
					t.Fatalf("reset out of bounds: %v", hn.reset)
				}
			}
			if d, ok := retryAfterHint(h, now); ok && (d < 0 || d > maxHeaderReset) {
				t.Fatalf("retry after %v", d)
			}
			b := DefaultBudgets()
			bk := b.bucketFor(AppCentral, "GET", "/x", "acct", "ws")
			b.observe(bk, "ws", h, now, 0, slog.New(slog.DiscardHandler))
			s, _ := b.Spec(BudgetCentral)
			if !(s.Rate > 0) || s.Rate > 8*maxRaise || s.Rate < 8.0/maxLower {
				t.Fatalf("rate %v", s.Rate)
			}
			if bk.pausedUntil.Sub(now) > maxHeaderReset {
				t.Fatalf("paused until %v", bk.pausedUntil)
			}
		}
	})
}
