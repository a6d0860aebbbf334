package central

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestDefaultBudgetMapping(t *testing.T) {
	t.Parallel()
	b := DefaultBudgets()
	for _, tc := range []struct {
		app          App
		method, path string
		want         string
		scope        Scope
		family       string // GLP API family of a catch-all bucket
	}{
		{AppCentral, "GET", "/network-monitoring/v1/aps", BudgetCentral, ScopeAccount, ""},
		{AppCentral, "POST", "anything", BudgetCentral, ScopeAccount, ""},
		{AppGLP, "GET", "devices/v1/devices", BudgetGLPDevices, ScopeWorkspace, ""},
		{AppGLP, "GET", "/devices/v1/devices/abc", BudgetGLPDevices, ScopeWorkspace, ""},
		{AppGLP, "PATCH", "/devices/v1/devices", BudgetGLP, ScopeWorkspace, "devices"},
		{AppGLP, "GET", "/devices/v1/devicesX", BudgetGLP, ScopeWorkspace, "devices"},
		{AppGLP, "GET", "/subscriptions/v1/subscriptions", BudgetGLPSubscriptions, ScopeWorkspace, ""},
		{AppGLP, "GET", "/workspaces/v1/msp-tenants", BudgetGLP, ScopeWorkspace, "workspaces"},
		{AppGLP, "GET", "/audit-log/v1/logs", BudgetGLP, ScopeWorkspace, "audit-log"},
		{AppGLP, "POST", "/authorization/v2/oauth2/abc/token", BudgetGLPToken, ScopeAccount, ""},
	} {
		bk := b.bucketFor(tc.app, tc.method, tc.path, "acct", "ws")
		wantKey := "acct"
		if tc.scope == ScopeWorkspace {
			wantKey = "ws"
		}
		if tc.family != "" {
			wantKey = tc.family + "|" + wantKey
		}
		if bk.name != tc.want || bk.key != wantKey {
			t.Errorf("%s %s %s -> %s/%s, want %s/%s", tc.app, tc.method, tc.path, bk.name, bk.key, tc.want, wantKey)
		}
	}
	if s, ok := b.Spec(BudgetCentral); !ok || s.Rate != 8 {
		t.Errorf("central spec %+v", s)
	}
	if s, _ := b.Spec(BudgetGLPDevices); s.Rate != rate.Limit(160.0/60) {
		t.Errorf("devices rate %v", s.Rate)
	}
	if s, _ := b.Spec(BudgetGLPSubscriptions); s.Rate != 1 {
		t.Errorf("subscriptions rate %v", s.Rate)
	}
}

func TestBudgetScopes(t *testing.T) {
	t.Parallel()
	b := DefaultBudgets()
	a1 := b.bucketFor(AppCentral, "GET", "/x", "msp", "tenant1")
	a2 := b.bucketFor(AppCentral, "GET", "/x", "msp", "tenant2")
	if a1 != a2 {
		t.Error("account scope: tenants must share one bucket")
	}
	b.SetScope(BudgetCentral, ScopeWorkspace)
	w1 := b.bucketFor(AppCentral, "GET", "/x", "msp", "tenant1")
	w2 := b.bucketFor(AppCentral, "GET", "/x", "msp", "tenant2")
	if w1 == w2 || w1 == a1 {
		t.Error("workspace scope: tenants must have their own buckets")
	}
	b.SetRate(BudgetCentral, 2, 1)
	if w1.lim.Limit() != 2 || w1.lim.Burst() != 1 {
		t.Errorf("SetRate not applied to existing bucket: %v %d", w1.lim.Limit(), w1.lim.Burst())
	}
}

// TestBudgetRate shows the token bucket spacing requests out (fake clock).
func TestBudgetRate(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	c := testClient(t, api, clk, func(o *Options) {
		o.Budgets = NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: 2, Burst: 1})
	})
	stats := &CallStats{}
	ctx := WithCallStats(t.Context(), stats)
	for range 3 {
		if _, err := c.Command(ctx, Request{Path: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	// Burst 1 at 2/s: the 2nd and 3rd wait 500ms each (the clock only moves
	// when the client sleeps).
	if s := clk.Sleeps(); len(s) != 2 || s[0] != 500*time.Millisecond || s[1] != 500*time.Millisecond {
		t.Errorf("sleeps = %v", s)
	}
	if time.Duration(stats.Wait.Load()) != time.Second {
		t.Errorf("wait = %v", time.Duration(stats.Wait.Load()))
	}
}

// TestBudget429SlowsEveryRequestSharingTheBudget: a 429 seen by one request
// (client c1, tenant t1) pauses the account bucket, so a request of another
// client (tenant t2) sharing the *Budgets waits out the same reset.
func TestBudget429SlowsEveryRequestSharingTheBudget(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	shared := NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: rate.Inf, Burst: 1, Scope: ScopeAccount})
	c1 := testClient(t, api, clk, func(o *Options) { o.Budgets = shared; o.Account = "msp"; o.Workspace = "t1" })
	c2 := testClient(t, api, clk, func(o *Options) { o.Budgets = shared; o.Account = "msp"; o.Workspace = "t2" })
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/central/first" && bearer(r) != "" && api.apiCalls.Load() == 1 {
			status(429, "X-RateLimit-Reset", clk.Now().Add(20*time.Second).Format(time.RFC3339))(w, r)
			return
		}
		ok(w, r)
	})
	stats2 := &CallStats{}
	// c1's first budget wait after the 429 runs c2's call before sleeping:
	// c2 must find the bucket paused and wait the full 20 s itself.
	ran := false
	c1.retry.Sleep = func(ctx context.Context, d time.Duration) error {
		if !ran {
			ran = true
			if _, err := c2.Command(WithCallStats(ctx, stats2), Request{Path: "second"}); err != nil {
				return err
			}
		}
		return clk.Sleep(ctx, d)
	}
	resp, err := c1.Command(t.Context(), Request{Path: "first"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if w := time.Duration(stats2.Wait.Load()); w != 20*time.Second {
		t.Errorf("other tenant's request waited %v, want 20s", w)
	}
}

func TestBudgetRemainingHeadersSlowDown(t *testing.T) {
	t.Parallel()
	api := newTestAPI(t)
	clk := newClock()
	c := testClient(t, api, clk, func(o *Options) {
		o.Budgets = NewBudgets(BudgetSpec{Name: "glp", App: AppGLP, Rate: rate.Inf, Burst: 1})
	})
	// remaining 0, reset in 12 s: the next request waits 12 s, no 429 needed.
	api.setAPI(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ratelimit-remaining", "0")
		w.Header().Set("ratelimit-reset", "12")
		ok(w, r)
	})
	for range 2 {
		if _, err := c.Command(t.Context(), Request{App: AppGLP, Path: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if s := clk.Sleeps(); len(s) != 1 || s[0] != 12*time.Second {
		t.Errorf("sleeps = %v", s)
	}
	// remaining 5 over 10 s: limiter drops to 0.5/s until the reset.
	bk := c.budgets.bucketFor(AppGLP, "GET", "/x", c.account, c.workspace)
	h := http.Header{}
	h.Set("X-RateLimit-Remaining", "5")
	h.Set("X-RateLimit-Reset", clk.Now().Add(10*time.Second).Format(time.RFC3339))
	bk.observe(h, clk.Now(), 0)
	if got := bk.lim.Limit(); got != 0.5 {
		t.Errorf("limit = %v, want 0.5", got)
	}
	clk.Advance(11 * time.Second)
	if _, _, err := bk.wait(t.Context(), clk.Now, clk.Sleep); err != nil {
		t.Fatal(err)
	}
	if got := bk.lim.Limit(); got != rate.Inf {
		t.Errorf("limit not restored after reset: %v", got)
	}
}

func TestBudgetDeadlineGivesUpEarly(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: rate.Inf, Burst: 1})
	bk := b.bucketFor(AppCentral, "GET", "/x", "a", "w")
	bk.pause(clk.Now().Add(time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, _, err := bk.wait(ctx, clk.Now, clk.Sleep)
	var rle *RateLimitError
	if !errors.As(err, &rle) || rle.RetryAfter != time.Hour || rle.Budget != "central" {
		t.Errorf("err = %v", err)
	}
}

func TestParseReset(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"48": 48 * time.Second, "2026-01-01T00:01:00Z": time.Minute, "1767225660": time.Minute,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
	} {
		got, ok := parseReset(v, now)
		if !ok || got.Sub(now) != want {
			t.Errorf("parseReset(%q) = %v %v, want +%v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "-1", "soon", "NaN"} {
		if _, ok := parseReset(v, now); ok {
			t.Errorf("parseReset(%q) ok", v)
		}
	}
}

// TestBudgetPauseSetWhileSleepingIsHonoured: a request that reserved a slot
// and sleeps towards it must not send when a response that arrived meanwhile
// paused the budget (remaining=0 or a 429): the server's window is closed.
func TestBudgetPauseSetWhileSleepingIsHonoured(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: 8, Burst: 1})
	bk := b.bucketFor(AppCentral, "GET", "/x", "acct", "ws")
	if _, _, err := bk.wait(t.Context(), clk.Now, clk.Sleep); err != nil { // takes the burst token
		t.Fatal(err)
	}
	paused := false
	sleep := func(ctx context.Context, d time.Duration) error {
		if !paused { // another request's response arrives during this sleep
			paused = true
			bk.pause(clk.Now().Add(time.Second))
		}
		return clk.Sleep(ctx, d)
	}
	waited, _, err := bk.wait(t.Context(), clk.Now, sleep)
	if err != nil {
		t.Fatal(err)
	}
	// 125 ms for the reserved slot, then the rest of the 1 s pause, then a
	// fresh slot: it must not have gone out after the first 125 ms.
	if waited < time.Second {
		t.Fatalf("request sent after %v, inside the pause that ends at 1s", waited)
	}
}

// TestBudgetOwnPaceDoesNotSlowDown: at our own pace a window's first response
// shows remaining = rate-1 with about a second left; that is no reason to slow
// down (doing so loses one slot per window). Less remaining than our own pace
// would use means someone else spends the budget, and then it slows.
func TestBudgetOwnPaceDoesNotSlowDown(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: 8, Burst: 1})
	bk := b.bucketFor(AppCentral, "GET", "/x", "acct", "ws")
	h := http.Header{}
	h.Set("X-RateLimit-Remaining", "7")
	h.Set("X-RateLimit-Reset", clk.Now().Add(time.Second).Format(time.RFC3339))
	bk.observe(h, clk.Now(), 0)
	if got := bk.lim.Limit(); got != 8 {
		t.Errorf("own pace: limit = %v, want 8 (unchanged)", got)
	}
	h.Set("X-RateLimit-Remaining", "2")
	bk.observe(h, clk.Now(), 0)
	if got := bk.lim.Limit(); got != 2 {
		t.Errorf("shared budget: limit = %v, want 2 (remaining over the time left)", got)
	}
}

// TestBudgetInFlightRequestsCountAgainstTheWindow: three requests were sent;
// the first one's answer says the window admits 2 more. The two sent after it
// may reach the same window, so the next request must wait for the window to
// end instead of overrunning it; a late answer from an older window changes
// nothing, and after the reset requests flow again.
func TestBudgetInFlightRequestsCountAgainstTheWindow(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: rate.Inf, Burst: 1})
	bk := b.bucketFor(AppCentral, "GET", "/x", "acct", "ws")
	var seqs []uint64
	for range 3 {
		_, seq, err := bk.wait(t.Context(), clk.Now, clk.Sleep)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	reset := clk.Now().Add(time.Second)
	h := http.Header{}
	h.Set("X-RateLimit-Remaining", "2")
	h.Set("X-RateLimit-Reset", reset.Format(time.RFC3339))
	bk.observe(h, clk.Now(), seqs[0])
	old := http.Header{}
	old.Set("X-RateLimit-Remaining", "50")
	old.Set("X-RateLimit-Reset", clk.Now().Add(-time.Second).Format(time.RFC3339))
	bk.observe(old, clk.Now(), seqs[1])

	waited, _, err := bk.wait(t.Context(), clk.Now, clk.Sleep)
	if err != nil {
		t.Fatal(err)
	}
	if waited != time.Second {
		t.Fatalf("4th request waited %v, want the 1s until the window ends (2 left - 2 in flight = 0)", waited)
	}
	if waited, _, _ := bk.wait(t.Context(), clk.Now, clk.Sleep); waited != 0 {
		t.Errorf("after the reset a request waited %v", waited)
	}
}

// TestRateChangeReschedulesWaiters: a request queued behind a slot reserved
// at the old rate moves to the new rate's slot when the budget learns a
// higher limit, instead of sleeping out the old, slower schedule (which
// costs a learning budget most of its first window).
func TestRateChangeReschedulesWaiters(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: 1, Burst: 1})
	bk := b.bucketFor(AppCentral, "GET", "/x", "acct", "ws")
	if _, _, err := bk.wait(t.Context(), clk.Now, clk.Sleep); err != nil { // takes the burst token
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	var sleeps []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		if len(sleeps) == 1 { // the slot reserved at 1/s: block until woken or released
			close(started)
			select {
			case <-ctx.Done():
			case <-release:
			}
			return ctx.Err()
		}
		return clk.Sleep(ctx, d)
	}
	type result struct {
		waited time.Duration
		err    error
	}
	done := make(chan result, 1)
	go func() {
		waited, _, err := bk.wait(t.Context(), clk.Now, sleep)
		done <- result{waited, err}
	}()
	<-started
	bk.setRate(clk.Now(), 100, 1)
	close(release) // without rescheduling the first sleep ends here, a full second
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(sleeps) != 2 || sleeps[0] != time.Second || sleeps[1] != 10*time.Millisecond {
		t.Errorf("sleeps %v, want [1s 10ms]: the queued request must move to the new rate's slot", sleeps)
	}
	if res.waited != 10*time.Millisecond {
		t.Errorf("waited %v, want 10ms", res.waited)
	}
}

// TestBudgetOwnWindowUseIsNotShared: a per-workspace bucket whose own
// requests (answered, or still in flight) account for what the server's
// window used is not slowed as if someone else shared it, even when they
// went out together at the window's start; a window used beyond them is.
func TestBudgetOwnWindowUseIsNotShared(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: 7.5, Burst: 1})
	bk := b.bucketFor(AppCentral, "GET", "/x", "acct", "ws")
	var seqs []uint64
	for range 3 {
		_, seq, err := bk.wait(t.Context(), clk.Now, clk.Sleep)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	answer := func(seq uint64, remaining int) {
		h := http.Header{}
		h.Set("Ratelimit-Limit", "8")
		h.Set("Ratelimit-Remaining", strconv.Itoa(remaining))
		h.Set("Ratelimit-Reset", "1") // the window has just opened
		b.observe(bk, "ws", h, clk.Now(), seq, nil)
	}
	// The third request's answer comes first: the window used 3, all ours.
	answer(seqs[2], 5)
	if got := bk.lim.Limit(); got != 7.5 {
		t.Fatalf("own requests only: limit = %v, want 7.5 (unchanged)", got)
	}
	// Another answer of the same window: 6 used, only 3 of them ours.
	answer(seqs[0], 2)
	if got := bk.lim.Limit(); got >= 7.5 {
		t.Errorf("window spent by others too: limit = %v, want below 7.5", got)
	}
}

// TestRateChangeRestoresTheWholeQueue: when a budget with 40 requests
// queued at 8/s learns 9.5/s, every queued slot is given back, so the
// requests reserve again from where the queue began. x/time/rate's
// CancelAt gives a slot back only when no later one is outstanding and
// compares float-rounded times, so cancelling the queue newest first gave
// back a random part of it: the rest stayed a phantom debt of up to 5 s
// during which the budget sent nothing.
func TestRateChangeRestoresTheWholeQueue(t *testing.T) {
	t.Parallel()
	for _, to := range []rate.Limit{9.5, 7.3, 8} {
		clk := newClock()
		clk.Advance(123456789 * time.Nanosecond) // fractional tokens, as in real time
		b := NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: 8, Burst: 1})
		bk := b.bucketFor(AppCentral, "GET", "/x", "acct", "ws")
		if _, _, err := bk.wait(t.Context(), clk.Now, clk.Sleep); err != nil { // takes the burst token
			t.Fatal(err)
		}
		clk.Advance(37 * time.Millisecond)
		bk.mu.Lock()
		for range 40 { // what 40 waiting requests hold (see wait)
			bk.waiters = append(bk.waiters, &waiter{r: bk.lim.ReserveN(clk.Now(), 1)})
		}
		bk.mu.Unlock()
		clk.Advance(41 * time.Millisecond)
		bk.setRate(clk.Now(), to, 1)
		bk.mu.Lock()
		got := bk.lim.TokensAt(clk.Now())
		var moved int
		for _, w := range bk.waiters {
			if w.rescheduled {
				moved++
			}
		}
		bk.mu.Unlock()
		// Had nothing been queued: empty 78ms ago, refilling at 8/s.
		if want := 0.078 * 8; math.Abs(got-want) > 1e-6 || moved != 40 {
			t.Errorf("8/s -> %v/s: %d of 40 queued requests moved, the budget holds %.4f tokens, want %.4f", to, moved, got, want)
		}
		if bk.lim.Limit() != to {
			t.Errorf("limit %v, want %v", bk.lim.Limit(), to)
		}
	}
}

// TestBudgetDeadlineGivesItsSlotBack: a request that gives up because its
// slot lies beyond the deadline leaves nothing queued behind: no waiter
// (a rate change would otherwise give its slot back a second time) and
// no slot held.
func TestBudgetDeadlineGivesItsSlotBack(t *testing.T) {
	t.Parallel()
	clk := newClock()
	b := NewBudgets(BudgetSpec{Name: "central", App: AppCentral, Rate: 1, Burst: 1})
	bk := b.bucketFor(AppCentral, "GET", "/x", "a", "w")
	if _, _, err := bk.wait(t.Context(), clk.Now, clk.Sleep); err != nil { // takes the burst token
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	var rle *RateLimitError
	if _, _, err := bk.wait(ctx, clk.Now, clk.Sleep); !errors.As(err, &rle) {
		t.Fatalf("err = %v, want a *RateLimitError", err)
	}
	bk.mu.Lock()
	defer bk.mu.Unlock()
	if n, tokens := len(bk.waiters), bk.lim.TokensAt(clk.Now()); n != 0 || tokens != 0 {
		t.Errorf("after giving up: %d waiters (want 0), %v tokens (want 0)", n, tokens)
	}
}
