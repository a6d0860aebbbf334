package central

import (
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Bounds on what rate-limit headers may say. Values outside them are
// treated as absent: a server (or a proxy) that sends garbage must not stall
// or unleash the client.
const (
	// maxHeaderLimit is the largest limit or remaining count accepted.
	maxHeaderLimit = 1_000_000
	// maxHeaderReset is the furthest reset accepted (a daily quota).
	maxHeaderReset = 24 * time.Hour
	// maxRaise and maxLower bound a learned rate around the assumed one.
	maxRaise = 4
	maxLower = 1000
	// maxFirstAnswers bounds the scope evidence kept per budget.
	maxFirstAnswers = 1000
	// scopeWindows is how many windows of evidence decide a scope.
	scopeWindows = 3
)

// rateHeaders is what one response's rate-limit headers say.
type rateHeaders struct {
	limit     int64 // 0: not stated
	remaining int64
	reset     time.Time
	hasWindow bool // remaining and reset are valid
}

// rateHeaderSets are the header names servers use: GLP's documented
// lower-case ratelimit-*, New Central's (and GLP IAM's) X-RateLimit-*, and a
// common variant.
var rateHeaderSets = [...][3]string{
	{"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset"},
	{"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset"},
	{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"},
}

// parseRateHeaders reads the first set of rate-limit headers that carries a
// valid window (remaining and reset), or else a valid limit alone. Values are
// validated: counts are integers in [0, maxHeaderLimit] (a limit at least 1,
// and no less than the remaining count), resets lie within maxHeaderReset of
// now.
func parseRateHeaders(h http.Header, now time.Time) (rateHeaders, bool) {
	var limitOnly rateHeaders
	for _, set := range rateHeaderSets {
		lim, limOK := headerCount(h, set[0])
		if limOK && lim < 1 {
			limOK = false
		}
		rem, remOK := headerCount(h, set[1])
		var reset time.Time
		resetOK := false
		if remOK {
			reset, resetOK = parseReset(h.Get(set[2]), now)
			if d := reset.Sub(now); resetOK && (d > maxHeaderReset || d < -maxHeaderReset) {
				resetOK = false
			}
		}
		if remOK && resetOK {
			hn := rateHeaders{remaining: rem, reset: reset, hasWindow: true}
			if limOK && rem <= lim {
				hn.limit = lim
			}
			return hn, true
		}
		if limOK && limitOnly.limit == 0 {
			limitOnly.limit = lim
		}
	}
	return limitOnly, limitOnly.limit > 0
}

// headerCount parses a non-negative integer header of at most
// maxHeaderLimit; the first value of a repeated header counts.
func headerCount(h http.Header, key string) (int64, bool) {
	v := strings.TrimSpace(h.Get(key))
	if v == "" || len(v) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxHeaderLimit {
		return 0, false
	}
	return n, true
}

// niceWindows are the window lengths a server is assumed to count in; an
// observed time-to-reset is rounded up to the next one.
var niceWindows = [...]time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
	15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// niceWindow is the shortest assumed window that holds d (2% tolerance for
// clock and rounding skew); 0 for d <= 0.
func niceWindow(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	for _, w := range niceWindows {
		if d <= w+w/50 {
			return w
		}
	}
	return niceWindows[len(niceWindows)-1]
}

// learnState is what a budget learned from the server.
type learnState struct {
	pinned  bool       // the scope was set by the user
	capped  bool       // the rate was set by SetRate: learning only lowers it
	assumed rate.Limit // the configured rate, before learning (0: not yet seen)
	limit   int64      // the last limit stated (0: none)
	window  time.Duration
	rate    rate.Limit // the learned rate (0: none)
	maxLeft time.Duration
	logged  bool // an unlimited budget's stated limit was logged
	probe   scopeProbe
}

func (b *Budgets) learnLocked(name string) *learnState {
	ls := b.learned[name]
	if ls == nil {
		ls = &learnState{}
		b.learned[name] = ls
	}
	return ls
}

func (b *Budgets) specIndexLocked(name string) int {
	for i := range b.specs {
		if b.specs[i].Name == name {
			return i
		}
	}
	return -1
}

// observe feeds one response's rate-limit headers to the budget that sent
// it: the bucket's window (pause, pacing), the budget's learned limit, and
// the scope evidence. workspace is the workspace the request was made for;
// log receives the changes learned (Info, once per change).
func (b *Budgets) observe(bk *bucket, workspace string, h http.Header, now time.Time, seq uint64, log *slog.Logger) {
	bk.answered()
	hn, ok := parseRateHeaders(h, now)
	if !ok {
		return
	}
	if hn.hasWindow && hn.reset.After(now) {
		bk.observeWindow(hn.remaining, hn.limit, hn.reset, now, seq)
	}
	if hn.limit > 0 {
		b.learn(bk.name, workspace, hn, now, log)
	}
}

// learn moves a budget to the limit the server states, staying a safe margin
// under it: limit - burst + 1/2 requests per window (at least half the
// limit), the most a token bucket can run at without ever putting more than
// the limit into one of the server's fixed windows (it admits at most burst
// + rate x window in any window): 9.5/s for 10 a second with burst 1. The
// window is the spec's documented one or the longer one the resets show; the
// rate stays within [assumed/maxLower, assumed*maxRaise], and at most the
// assumed rate when SetRate configured it.
// Unlimited budgets keep no rate: their windows are guarded by the remaining
// counts alone (a window of 300 is not spread into 5 requests a second).
func (b *Budgets) learn(name, workspace string, hn rateHeaders, now time.Time, log *slog.Logger) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.specIndexLocked(name)
	if i < 0 {
		return
	}
	spec := b.specs[i]
	ls := b.learnLocked(name)
	if ls.assumed == 0 {
		ls.assumed = spec.Rate
	}
	if spec.DetectScope && hn.hasWindow {
		b.probeLocked(i, ls, workspace, hn, log)
	}
	if hn.hasWindow {
		ls.maxLeft = max(ls.maxLeft, hn.reset.Sub(now))
	}
	win := max(spec.Window, niceWindow(ls.maxLeft))
	if win <= 0 || (hn.limit == ls.limit && win == ls.window) {
		return
	}
	ls.limit, ls.window = hn.limit, win
	if log == nil {
		log = slog.Default()
	}
	if ls.assumed == rate.Inf {
		if !ls.logged {
			ls.logged = true
			log.Info("server states a rate limit for an unlimited budget; guarding its windows", "budget", name,
				"limit", hn.limit, "window", win)
		}
		return
	}
	r := safeRate(hn.limit, spec.Burst, win)
	ceiling := float64(ls.assumed) * maxRaise
	if ls.capped {
		ceiling = float64(ls.assumed)
	}
	r = math.Min(math.Max(r, float64(ls.assumed)/maxLower), ceiling)
	ls.rate = rate.Limit(r)
	old := spec.Rate
	if old > 0 && math.Abs(r-float64(old)) < 0.005*float64(old) {
		return
	}
	b.setRateLocked(name, rate.Limit(r), spec.Burst, now)
	log.Info("rate limit learned from the server", "budget", name, "limit", hn.limit, "window", win,
		"rate_before", float64(old), "rate", r)
}

// scopeProbe collects evidence on whether a budget's windows count per
// workspace or per account. Within one window of a shared quota every answer
// reports a different used count (limit - remaining); with a quota per
// workspace, each workspace counts from 1, so answers for different
// workspaces repeat used counts.
type scopeProbe struct {
	first   map[string]WindowSample
	cur     time.Time        // reset of the window being collected
	used    map[int64]string // used count -> workspace, in cur
	ws      map[string]bool  // workspaces answered in cur
	dup     bool             // two workspaces reported the same used count in cur
	indep   int              // windows with >= 2 workspaces and repeated counts
	shared  int              // windows with >= 2 workspaces and distinct counts
	decided string           // "", "account" or "workspace"
}

// WindowSample is one answer's window: remaining of limit.
type WindowSample struct {
	Remaining int64 `json:"remaining"`
	Limit     int64 `json:"limit"`
}

func (b *Budgets) probeLocked(i int, ls *learnState, workspace string, hn rateHeaders, log *slog.Logger) {
	p := &ls.probe
	if hn.remaining <= 0 || hn.remaining >= hn.limit || workspace == "" {
		return
	}
	if p.first == nil {
		p.first = map[string]WindowSample{}
	}
	if _, ok := p.first[workspace]; !ok && len(p.first) < maxFirstAnswers {
		p.first[workspace] = WindowSample{Remaining: hn.remaining, Limit: hn.limit}
	}
	if p.decided != "" {
		return
	}
	switch d := hn.reset.Sub(p.cur); {
	case d > -time.Second/2 && d < time.Second/2 && p.used != nil: // the current window
	case d < 0:
		return // a late answer of an earlier window
	default:
		p.closeWindow()
		p.cur, p.used, p.ws, p.dup = hn.reset, map[int64]string{}, map[string]bool{}, false
	}
	u := hn.limit - hn.remaining
	if w, ok := p.used[u]; ok && w != workspace {
		p.dup = true
	} else if !ok {
		p.used[u] = workspace
	}
	p.ws[workspace] = true
	var verdict Scope
	switch {
	case p.indep >= scopeWindows && p.indep >= 2*p.shared:
		p.decided, verdict = "workspace", ScopeWorkspace
	case p.shared >= scopeWindows && p.shared >= 2*p.indep:
		p.decided, verdict = "account", ScopeAccount
	default:
		return
	}
	spec := b.specs[i]
	if log == nil {
		log = slog.Default()
	}
	switch {
	case ls.pinned && spec.Scope != verdict:
		log.Warn("rate-limit windows suggest another scope than the configured one; keeping the configured scope",
			"budget", spec.Name, "configured", spec.Scope.String(), "detected", p.decided,
			"independent_windows", p.indep, "shared_windows", p.shared)
	case ls.pinned || spec.Scope == verdict:
		log.Info("rate-limit scope confirmed by the server's windows", "budget", spec.Name, "scope", p.decided,
			"independent_windows", p.indep, "shared_windows", p.shared)
	default:
		log.Info("rate-limit scope detected from the server's windows", "budget", spec.Name, "scope", p.decided,
			"was", spec.Scope.String(), "independent_windows", p.indep, "shared_windows", p.shared)
		b.setScopeLocked(spec.Name, verdict)
	}
}

func (p *scopeProbe) closeWindow() {
	if len(p.ws) < 2 {
		return
	}
	if p.dup {
		p.indep++
	} else {
		p.shared++
	}
}

// BudgetReport is what a budget learned from the server, for run manifests.
type BudgetReport struct {
	Name  string `json:"name"`
	Scope string `json:"scope"`
	// ScopeSource says where Scope comes from: "configured" (SetScope),
	// "detected" (the server's windows) or "default".
	ScopeSource string `json:"scope_source"`
	// DetectedScope is what the windows showed ("" while undecided), even
	// when a configured scope overrides it.
	DetectedScope string `json:"detected_scope,omitempty"`
	// Rate is the rate in effect (requests/s; 0 = unlimited).
	Rate float64 `json:"rate"`
	// Limit and WindowSeconds are the server's last stated limit and the
	// window it is counted in (0 when none was stated).
	Limit         int64   `json:"limit,omitempty"`
	WindowSeconds float64 `json:"window_seconds,omitempty"`
	// IndependentWindows and SharedWindows count the windows in which
	// answers for several workspaces counted independently or together.
	IndependentWindows int `json:"independent_windows,omitempty"`
	SharedWindows      int `json:"shared_windows,omitempty"`
	// FirstAnswers is each workspace's first window as answered
	// (at most 1,000 workspaces), so users can judge the scope themselves.
	FirstAnswers map[string]WindowSample `json:"first_answers,omitempty"`
}

// Report returns what the budgets learned: one entry per budget that
// detects its scope or heard a stated limit, by name.
func (b *Budgets) Report() []BudgetReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []BudgetReport
	for _, s := range b.specs {
		ls := b.learned[s.Name]
		if !s.DetectScope && (ls == nil || ls.limit == 0) {
			continue
		}
		r := BudgetReport{Name: s.Name, Scope: s.Scope.String(), ScopeSource: "default"}
		if s.Rate != rate.Inf {
			r.Rate = float64(s.Rate)
		}
		if ls != nil {
			p := &ls.probe
			r.Limit, r.WindowSeconds = ls.limit, ls.window.Seconds()
			indep, shared := p.indep, p.shared
			if p.decided == "" && len(p.ws) >= 2 { // the open window counts too
				if p.dup {
					indep++
				} else {
					shared++
				}
			}
			r.IndependentWindows, r.SharedWindows, r.DetectedScope = indep, shared, p.decided
			switch {
			case ls.pinned:
				r.ScopeSource = "configured"
			case p.decided != "":
				r.ScopeSource = "detected"
			}
			if len(p.first) > 0 {
				r.FirstAnswers = make(map[string]WindowSample, len(p.first))
				for k, v := range p.first {
					r.FirstAnswers[k] = v
				}
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// safeRate is the learned rate of a stated limit per window (see learn).
func safeRate(limit int64, burst int, win time.Duration) float64 {
	n := max(float64(limit)-float64(burst)+0.5, float64(limit)/2)
	return n / win.Seconds()
}
