package central

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/internal/httpcore"
)

// Scope says who shares a budget's bucket.
type Scope int

const (
	// ScopeAccount: one bucket per MSP account, shared by the MSP and all its
	// tenants (Options.Account).
	ScopeAccount Scope = iota
	// ScopeWorkspace: one bucket per workspace, i.e. per tenant
	// (Options.Workspace).
	ScopeWorkspace
)

// String returns "account" or "workspace".
func (s Scope) String() string {
	if s == ScopeWorkspace {
		return "workspace"
	}
	return "account"
}

// BudgetSpec describes one client-side API budget. A request belongs to the
// spec of its App whose PathPrefix (segment-wise) is the longest match and
// whose Method is empty or equal to the request's.
type BudgetSpec struct {
	Name       string
	App        App
	PathPrefix string     // "" matches every path of App
	Rate       rate.Limit // requests per second; rate.Inf = unlimited
	Burst      int
	Scope      Scope
	Method     string // "" matches every method
	// Window is the length of the server's counting window the documented
	// Rate derives from (0: unknown). When a rate-limit header states the
	// limit, the budget's rate becomes a safe share of limit/window (see
	// Budgets.observe); a longer window seen in the reset headers wins.
	Window time.Duration
	// DetectScope lets the budget learn its scope from the answers of
	// different workspaces (see ScopeReport) until SetScope pins it.
	DetectScope bool
}

// Default budget names.
const (
	BudgetCentral          = "central"
	BudgetGLP              = "glp"
	BudgetGLPDevices       = "glp-devices"
	BudgetGLPSubscriptions = "glp-subscriptions"
	// BudgetGLPToken is the GLP token endpoint (tenant token exchanges):
	// a family of its own, never paced by what other GLP APIs answer.
	BudgetGLPToken = "glp-token"
)

// Budgets is a registry of token-bucket limiters shared by every Client given
// the same *Budgets. It is safe for concurrent use.
type Budgets struct {
	mu      sync.Mutex
	specs   []BudgetSpec
	buckets map[bucketKey]*bucket
	learned map[string]*learnState // by spec name
}

type bucketKey struct{ name, key string }

// DefaultBudgets returns HPE's documented defaults
// (developer.arubanetworks.com/new-central, developer.greenlake.hpe.com): New Central 8 requests/s
// per account (its scope is detected from the answers until SetScope pins
// it); GLP devices 160/min and subscriptions 60/min per workspace; the GLP
// token endpoint unlimited per account; every other GLP API unlimited, with
// one window per API family (first path segment) and workspace, so that the
// headers of one family never pace another. New Central's burst is 1: its
// quota is counted in fixed windows, and a burst on top of the rate lets one
// window receive more than the quota. Every budget learns the limit the
// server states in its rate-limit headers (see docs/budgets.md).
func DefaultBudgets() *Budgets {
	return NewBudgets(
		BudgetSpec{Name: BudgetCentral, App: AppCentral, Rate: 8, Burst: 1, Scope: ScopeAccount, Window: time.Second, DetectScope: true},
		BudgetSpec{Name: BudgetGLPDevices, App: AppGLP, Method: http.MethodGet, PathPrefix: "/devices/v1/devices", Rate: rate.Limit(160.0 / 60), Burst: 4, Scope: ScopeWorkspace, Window: time.Minute},
		BudgetSpec{Name: BudgetGLPSubscriptions, App: AppGLP, Method: http.MethodGet, PathPrefix: "/subscriptions/v1/subscriptions", Rate: rate.Limit(60.0 / 60), Burst: 2, Scope: ScopeWorkspace, Window: time.Minute},
		BudgetSpec{Name: BudgetGLPToken, App: AppGLP, PathPrefix: "/authorization", Rate: rate.Inf, Burst: 1, Scope: ScopeAccount},
		BudgetSpec{Name: BudgetGLP, App: AppGLP, Rate: rate.Inf, Burst: 1, Scope: ScopeWorkspace},
	)
}

// NewBudgets returns a registry holding specs. Requests matching no spec use an
// unlimited bucket named after their app.
func NewBudgets(specs ...BudgetSpec) *Budgets {
	b := &Budgets{buckets: map[bucketKey]*bucket{}, learned: map[string]*learnState{}}
	for _, s := range specs {
		s.PathPrefix = cleanPrefix(s.PathPrefix)
		if s.Burst < 1 {
			s.Burst = 1
		}
		b.specs = append(b.specs, s)
	}
	return b
}

// Spec returns the spec named name.
func (b *Budgets) Spec(name string) (BudgetSpec, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.specs {
		if s.Name == name {
			return s, true
		}
	}
	return BudgetSpec{}, false
}

// SetScope changes a budget's scope and pins it: a user's choice always
// wins over detection. Buckets created under the old scope are dropped.
func (b *Budgets) SetScope(name string, s Scope) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.learnLocked(name).pinned = true
	b.setScopeLocked(name, s)
}

// setScopeLocked changes a budget's scope; b.mu must be held.
func (b *Budgets) setScopeLocked(name string, s Scope) {
	for i := range b.specs {
		if b.specs[i].Name == name {
			b.specs[i].Scope = s
		}
	}
	for k := range b.buckets {
		if k.name == name {
			delete(b.buckets, k)
		}
	}
}

// SetRate changes a budget's rate and burst, including existing buckets. A
// rate set here is a ceiling: a limit the server states may lower the budget
// below it but never raise it above (a user's rate, or an account's rate
// divided between shards, stays what was configured).
func (b *Budgets) SetRate(name string, r rate.Limit, burst int) {
	if burst < 1 {
		burst = 1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ls := b.learnLocked(name)
	ls.assumed, ls.capped = r, true
	ls.limit, ls.window, ls.rate = 0, 0, 0
	b.setRateLocked(name, r, burst, time.Now())
}

// setRateLocked changes the rate of a spec and its buckets at now; b.mu must
// be held.
func (b *Budgets) setRateLocked(name string, r rate.Limit, burst int, now time.Time) {
	for i := range b.specs {
		if b.specs[i].Name == name {
			b.specs[i].Rate, b.specs[i].Burst = r, burst
		}
	}
	for k, bk := range b.buckets {
		if k.name == name {
			bk.setRate(now, r, burst)
		}
	}
}

func cleanPrefix(p string) string {
	p = strings.TrimRight(p, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// Wait blocks until the budget that a request of app, method and path draws
// on admits one more, for callers that send requests outside a Client (such
// as token exchanges). account and workspace key the bucket by its Scope.
// It returns the time waited; a *RateLimitError when the context's deadline
// would pass first; or the context's error.
func (b *Budgets) Wait(ctx context.Context, app App, method, path, account, workspace string) (time.Duration, error) {
	waited, _, err := b.bucketFor(app, method, path, account, workspace).wait(ctx, time.Now, httpcore.Sleep)
	return waited, err
}

// Rate returns the rate the bucket of a request of app, method and path
// admits now (requests/s; rate.Inf when unlimited), including any slowdown
// the server's headers caused.
func (b *Budgets) Rate(app App, method, path, account, workspace string) rate.Limit {
	bk := b.bucketFor(app, method, path, account, workspace)
	bk.mu.Lock()
	defer bk.mu.Unlock()
	return bk.lim.Limit()
}

// bucketFor returns the bucket of a request.
func (b *Budgets) bucketFor(app App, method, path, account, workspace string) *bucket {
	path = "/" + strings.TrimLeft(path, "/")
	b.mu.Lock()
	defer b.mu.Unlock()
	best := -1
	for i, s := range b.specs {
		if s.App != app || (s.Method != "" && !strings.EqualFold(s.Method, method)) {
			continue
		}
		if s.PathPrefix != "" && path != s.PathPrefix && !strings.HasPrefix(path, s.PathPrefix+"/") {
			continue
		}
		if best < 0 || len(s.PathPrefix) > len(b.specs[best].PathPrefix) {
			best = i
		}
	}
	spec := BudgetSpec{Name: string(app), App: app, Rate: rate.Inf, Burst: 1, Scope: ScopeAccount}
	if best >= 0 {
		spec = b.specs[best]
	}
	key := account
	if spec.Scope == ScopeWorkspace {
		key = workspace
	}
	if spec.PathPrefix == "" && app == AppGLP {
		// GLP counts the calls of each API family on its own.
		key = glpFamily(path) + "|" + key
	}
	k := bucketKey{spec.Name, key}
	bk := b.buckets[k]
	if bk == nil {
		bk = &bucket{name: spec.Name, key: key, base: spec.Rate, lim: rate.NewLimiter(spec.Rate, spec.Burst)}
		b.buckets[k] = bk
	}
	return bk
}

// glpFamily is a GLP path's API family: its first segment ("workspaces",
// "devices", "audit-log", ...).
func glpFamily(path string) string {
	path = strings.TrimLeft(path, "/")
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[:i]
	}
	return path
}

// bucket is one token bucket plus the server's hints.
type bucket struct {
	name, key string

	mu          sync.Mutex
	lim         *rate.Limiter
	base        rate.Limit
	pausedUntil time.Time // nobody sends before this (429 or remaining=0)
	slowUntil   time.Time // lim runs below base until this

	// The server's current window, as its rate-limit headers describe it:
	// until winEnd it admits winLeft more requests from us. Requests already
	// sent when a response was produced count against it (seq numbers them),
	// so requests in flight cannot overrun a window the server is closing.
	seq     uint64
	winEnd  time.Time
	winLeft int
	// winAnswered counts the answers seen in the current window and
	// inflight the requests admitted and not yet answered: together they
	// bound how much of a window this bucket itself used.
	winAnswered int
	inflight    int

	// waiters hold reservations made at the rate in force when they were
	// made, in the order made. A rate change cancels the ones still in the
	// future and wakes their holders to reserve again, so a budget that
	// learns a higher limit does not send its first window's worth of queued
	// requests at the old, slower pace (or a slowed one at the old, faster).
	waiters []*waiter
}

// waiter is one request sleeping on a reservation.
type waiter struct {
	r           *rate.Reservation
	wake        context.CancelFunc
	rescheduled bool // its reservation was cancelled by a rate change
}

func (bk *bucket) setRate(now time.Time, r rate.Limit, burst int) {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	bk.base = r
	bk.retimeLocked(now, r, burst)
	bk.slowUntil = time.Time{}
}

// setLimitLocked changes the limiter's rate at t, rescheduling the waiters.
// bk.mu must be held.
func (bk *bucket) setLimitLocked(t time.Time, r rate.Limit) {
	if bk.lim.Limit() == r {
		return
	}
	bk.retimeLocked(t, r, bk.lim.Burst())
}

// retimeLocked moves the bucket to rate r and burst at t. The reservations
// still in the future are dropped and their holders woken to reserve again
// at the new rate, and the limiter is rebuilt holding the tokens it would
// hold had they never been made. (x/time/rate's CancelAt gives a slot back
// only when no later one is outstanding, comparing float-rounded times:
// cancelling a queue of 40 newest first gave back a random part of it, and
// the rest stayed a phantom debt of up to 5 s in which nothing was sent.)
// bk.mu must be held.
func (bk *bucket) retimeLocked(t time.Time, r rate.Limit, burst int) {
	tokens := float64(bk.lim.Burst())
	if bk.lim.Limit() != rate.Inf {
		tokens = bk.lim.TokensAt(t)
	}
	for _, w := range bk.waiters {
		if w.rescheduled || w.r.DelayFrom(t) <= 0 {
			continue
		}
		w.rescheduled = true
		tokens++
		if w.wake != nil {
			w.wake()
		}
	}
	bk.lim = limiterAt(t, r, burst, tokens)
}

// limiterAt returns a limiter of rate r and burst that holds tokens at t
// (at most burst; below zero is a debt of reservations still to be served).
func limiterAt(t time.Time, r rate.Limit, burst int, tokens float64) *rate.Limiter {
	lim := rate.NewLimiter(r, burst)
	if r == rate.Inf || r <= 0 || !(tokens < float64(burst)) {
		return lim // full (also for a NaN count)
	}
	// Empty it at t0 and owe debt whole tokens more, so that what it
	// earns from t0 to t brings it to tokens.
	debt := math.Ceil(max(0, -tokens))
	t0 := t.Add(-time.Duration((tokens + debt) / float64(r) * float64(time.Second)))
	lim.ReserveN(t0, burst)
	for range int(debt) {
		lim.ReserveN(t0, 1)
	}
	return lim
}

// removeWaiterLocked forgets w; bk.mu must be held.
func (bk *bucket) removeWaiterLocked(w *waiter) {
	if i := slices.Index(bk.waiters, w); i >= 0 {
		bk.waiters = slices.Delete(bk.waiters, i, i+1)
	}
}

// sleepFunc waits d or until ctx ends.
type sleepFunc func(ctx context.Context, d time.Duration) error

// wait blocks until the bucket admits one request. It returns the time
// waited and the request's sequence number (for observe). When the context
// deadline would pass first it returns a *RateLimitError at once instead of
// waiting in vain.
func (bk *bucket) wait(ctx context.Context, now func() time.Time, sleep sleepFunc) (time.Duration, uint64, error) {
	var waited time.Duration
	for {
		if err := ctx.Err(); err != nil {
			return waited, 0, err
		}
		bk.mu.Lock()
		t := now()
		if !bk.slowUntil.IsZero() && !t.Before(bk.slowUntil) {
			bk.setLimitLocked(t, bk.base)
			bk.slowUntil = time.Time{}
		}
		if bk.pausedUntil.After(t) {
			d := bk.pausedUntil.Sub(t)
			bk.mu.Unlock()
			if httpcore.ExceedsDeadline(ctx, d) {
				return waited, 0, &RateLimitError{Budget: bk.name, RetryAfter: d}
			}
			if err := sleep(ctx, d); err != nil {
				return waited, 0, err
			}
			waited += d
			continue
		}
		r := bk.lim.ReserveN(t, 1)
		if !r.OK() {
			bk.mu.Unlock()
			return waited, 0, &RateLimitError{Budget: bk.name}
		}
		d := r.DelayFrom(t)
		if d <= 0 {
			if seq, ok := bk.admitLocked(t); ok {
				bk.mu.Unlock()
				return waited, seq, nil
			}
			bk.mu.Unlock()
			continue
		}
		if httpcore.ExceedsDeadline(ctx, d) {
			r.CancelAt(t) // the newest reservation: its slot comes back whole
			bk.mu.Unlock()
			return waited, 0, &RateLimitError{Budget: bk.name, RetryAfter: d}
		}
		w := &waiter{r: r}
		bk.waiters = append(bk.waiters, w)
		bk.mu.Unlock()
		again, err := bk.sleepOn(ctx, w, d, now, sleep)
		if err != nil {
			return waited, 0, err
		}
		if again {
			waited += now().Sub(t)
			continue // the rate changed while it slept: reserve again
		}
		waited += d
		// A response that arrived while this request slept may have paused
		// the budget (429 or remaining=0) or used up the server's window:
		// honour it before sending, or the request lands in a window the
		// server already closed.
		bk.mu.Lock()
		t = now()
		if !bk.pausedUntil.After(t) {
			if seq, ok := bk.admitLocked(t); ok {
				bk.mu.Unlock()
				return waited, seq, nil
			}
		}
		bk.mu.Unlock()
	}
}

// sleepOn sleeps d on w's reservation, which w must be registered with. again
// reports that a rate change cancelled the reservation and woke it early: the
// caller reserves anew. On an error the reservation is cancelled.
func (bk *bucket) sleepOn(ctx context.Context, w *waiter, d time.Duration, now func() time.Time, sleep sleepFunc) (again bool, err error) {
	wctx, wake := context.WithCancel(ctx)
	bk.mu.Lock()
	w.wake = wake
	if w.rescheduled { // rescheduled before it could sleep
		wake()
	}
	bk.mu.Unlock()
	err = sleep(wctx, d)
	wake()
	bk.mu.Lock()
	defer bk.mu.Unlock()
	bk.removeWaiterLocked(w)
	switch {
	case w.rescheduled && ctx.Err() != nil:
		return false, ctx.Err()
	case w.rescheduled:
		return true, nil
	case err != nil:
		w.r.CancelAt(now())
	}
	return false, err
}

// admitLocked counts a request against the server's current window. When the
// window is used up it pauses the bucket until the window ends and reports
// false. bk.mu must be held.
func (bk *bucket) admitLocked(t time.Time) (uint64, bool) {
	if t.Before(bk.winEnd) {
		if bk.winLeft <= 0 {
			if bk.winEnd.After(bk.pausedUntil) {
				bk.pausedUntil = bk.winEnd
			}
			return 0, false
		}
		bk.winLeft--
	}
	bk.seq++
	bk.inflight++
	return bk.seq, true
}

// pause stops the whole bucket until t (a 429 seen by one request slows
// every request sharing the budget).
func (bk *bucket) pause(t time.Time) {
	bk.mu.Lock()
	if t.After(bk.pausedUntil) {
		bk.pausedUntil = t
	}
	bk.mu.Unlock()
}

// observe reads the remaining-budget headers of a response and slows the
// limiter before the server has to answer 429: at remaining=0 the bucket
// pauses until the reset. Otherwise a bucket running at its own pace is left
// alone while plenty of the window is left; it runs no faster than
// remaining/time-left when the window of an unlimited budget runs low (a
// quarter or less of the stated limit; without one, at most lowRemaining),
// or when
// someone else spends the same window (less remains than this bucket would
// use on its own before the reset).
//
// seq is the answered request's number from wait: the requests admitted after
// it may reach the same window, so they count against its remaining count.
func (bk *bucket) observe(h http.Header, now time.Time, seq uint64) {
	hn, ok := parseRateHeaders(h, now)
	if !ok || !hn.hasWindow || !hn.reset.After(now) {
		return
	}
	bk.observeWindow(hn.remaining, hn.limit, hn.reset, now, seq)
}

// lowRemaining is the remaining count under which a window without a stated
// limit counts as running low.
const lowRemaining = 10

// answered counts an answer to one of the bucket's requests.
func (bk *bucket) answered() {
	bk.mu.Lock()
	bk.inflight = max(0, bk.inflight-1)
	bk.mu.Unlock()
}

func (bk *bucket) observeWindow(remaining, limit int64, reset, now time.Time, seq uint64) {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	if seq > 0 {
		left := int(remaining) - int(bk.seq-seq)
		switch {
		case reset.After(bk.winEnd): // a new window
			bk.winEnd, bk.winLeft, bk.winAnswered = reset, left, 1
		case reset.Equal(bk.winEnd):
			bk.winLeft = min(bk.winLeft, left)
			bk.winAnswered++
		} // an earlier window's late answer says nothing about this one
	}
	if remaining <= 0 {
		if reset.After(bk.pausedUntil) {
			bk.pausedUntil = reset
		}
		return
	}
	left := reset.Sub(now).Seconds()
	r := rate.Limit(float64(remaining) / left)
	low := false
	if bk.base == rate.Inf { // a paced bucket has the shared rule below
		low = remaining <= lowRemaining
		if limit > 0 {
			low = remaining*4 <= limit
		}
	}
	// At our own pace a window's first response shows one less than the
	// rate; slowing to remaining/left then would waste a slot a window.
	shared := bk.base != rate.Inf && float64(remaining) < float64(bk.base)*left-1
	if shared && seq > 0 && limit > 0 && reset.Equal(bk.winEnd) {
		// Our own requests may account for all the window used (several
		// sent at once when the window opened, answers out of order): only
		// a window used beyond those answered in it and those in flight was
		// spent by someone else.
		shared = limit-remaining > int64(bk.winAnswered+bk.inflight)
	}
	if (low || shared) && r < bk.base {
		bk.setLimitLocked(now, r)
		bk.slowUntil = reset
	} else if !bk.slowUntil.IsZero() {
		bk.setLimitLocked(now, bk.base)
		bk.slowUntil = time.Time{}
	}
}

// rateHints returns the remaining count and the reset time of a response's
// rate-limit headers: GLP ratelimit-remaining/ratelimit-reset (seconds) or
// Central X-RateLimit-Remaining/X-RateLimit-Reset (RFC 3339).
func rateHints(h http.Header, now time.Time) (remaining int64, reset time.Time, ok bool) {
	hn, ok := parseRateHeaders(h, now)
	if !ok || !hn.hasWindow {
		return 0, time.Time{}, false
	}
	return hn.remaining, hn.reset, true
}

// parseReset reads a reset header: RFC 3339 time, Unix epoch seconds, or
// seconds from now.
func parseReset(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || f != f {
			return time.Time{}, false
		}
		if f > 1e9 { // epoch seconds
			return time.Unix(int64(f), 0), true
		}
		if f > 366*24*3600 {
			return time.Time{}, false
		}
		return now.Add(time.Duration(f * float64(time.Second))), true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// retryAfterHint returns the wait a 429/503 answer asks for: GLP
// ratelimit-reset (seconds), Central X-RateLimit-Reset (RFC 3339), or
// Retry-After (seconds or HTTP date). ok is false when none is usable.
func retryAfterHint(h http.Header, now time.Time) (time.Duration, bool) {
	for _, k := range [...]string{"Ratelimit-Reset", "X-Ratelimit-Reset", "X-Rate-Limit-Reset", "Retry-After"} {
		if t, ok := parseReset(h.Get(k), now); ok {
			d := t.Sub(now)
			if d < 0 {
				d = 0
			}
			return min(d, maxHeaderReset), true
		}
	}
	return 0, false
}
