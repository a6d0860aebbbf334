package centralsim

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults is the fault configuration. Every rule whose Endpoint and Tenant
// match a request applies. Decisions are deterministic: the n-th matching
// request of a given endpoint and tenant gets the same outcome on every run
// with the same Seed, whatever the interleaving of other tenants.
type Faults struct {
	// Seed for fault decisions; 0 uses Options.Seed.
	Seed  int64
	Rules []FaultRule
}

// FaultRule describes faults injected into matching requests.
type FaultRule struct {
	// Endpoint is an Endpoint* name or a path prefix ("" matches all).
	Endpoint string
	// Tenant is a workspace id, 32 hex ("" matches all).
	Tenant string

	// Latency and Jitter delay matching requests before they are handled.
	Latency, Jitter time.Duration
	// ServerErrorRate is the probability of a 5xx (ServerErrorStatus, default
	// 500) in the documented error shape.
	ServerErrorRate   float64
	ServerErrorStatus int
	// ResetRate is the probability the connection is reset without a response.
	ResetRate float64
	// MalformedRate is the probability a 200 body is cut in half (invalid
	// JSON with a consistent Content-Length).
	MalformedRate float64
	// TruncateRate is the probability a 200 body announces its full
	// Content-Length but the connection closes half-way.
	TruncateRate float64
	// SlowBody delays the second half of every matching 200 body.
	SlowBody time.Duration
	// TooManyRequestsRate is the probability of a 429 (window exhausted).
	TooManyRequestsRate float64
	// TooManyRequestsFirst makes the first N matching requests 429 (a storm).
	TooManyRequestsFirst int
	// RevokeAfterPages revokes the caller's token once, when the tenant
	// has received N successful pages from matching endpoints (a
	// mid-pagination revocation). Tokens issued later are not revoked, so a
	// client that exchanges again carries on, however many of its requests
	// were in flight.
	RevokeAfterPages int
	// DriftAfterPages advances the tenant's data generation (see
	// Server.Drift) after every N successful pages from matching endpoints:
	// data that changes in the middle of a paginated read or between runs.
	DriftAfterPages int
}

// SetFaults replaces the fault configuration and resets its counters.
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	s.faults = f
	s.fstate = newFaultState()
	s.faultMu.Unlock()
}

type faultState struct {
	mu    sync.Mutex
	n     map[string]int64 // per rule|endpoint|tenant request counter
	pages map[string]int   // per rule|jti page counter
}

func newFaultState() *faultState {
	return &faultState{n: map[string]int64{}, pages: map[string]int{}}
}

// plan is the set of faults decided for one request.
type plan struct {
	latency    time.Duration
	status5xx  int
	reset      bool
	tooMany    bool
	malformed  bool
	truncate   bool
	slow       time.Duration
	revokeRule []int // rules with RevokeAfterPages
	revokeN    []int
	driftRule  []int // rules with DriftAfterPages
	driftN     []int
}

func (r *FaultRule) matches(endpoint, path, tenant string) bool {
	if r.Tenant != "" && r.Tenant != tenant {
		return false
	}
	return r.Endpoint == "" || r.Endpoint == endpoint || strings.HasPrefix(path, r.Endpoint)
}

// decide computes the plan of one request.
func (s *Server) decide(endpoint, path, tenant string) plan {
	var p plan
	s.faultMu.RLock()
	f := s.faults
	st := s.fstate
	s.faultMu.RUnlock()
	if s.opts.Latency > 0 || s.opts.Jitter > 0 {
		p.latency = s.opts.Latency
		if s.opts.Jitter > 0 {
			key := "lat|" + endpoint + "|" + tenant
			st.mu.Lock()
			n := st.n[key]
			st.n[key] = n + 1
			st.mu.Unlock()
			p.latency += jitter(s.opts.Seed, s.opts.Jitter, key, strconv.FormatInt(n, 10))
		}
	}
	if len(f.Rules) == 0 {
		return p
	}
	seed := f.Seed
	if seed == 0 {
		seed = s.opts.Seed
	}
	for i := range f.Rules {
		r := &f.Rules[i]
		if !r.matches(endpoint, path, tenant) {
			continue
		}
		key := strconv.Itoa(i) + "|" + endpoint + "|" + tenant
		st.mu.Lock()
		n := st.n[key]
		st.n[key] = n + 1
		st.mu.Unlock()
		ns := strconv.FormatInt(n, 10)
		u := func(what string) float64 {
			return float64(hash64(seed, key, ns, what)>>11) / float64(1<<53)
		}
		p.latency += r.Latency + jitter(seed, r.Jitter, key, ns)
		if r.TooManyRequestsFirst > 0 && n < int64(r.TooManyRequestsFirst) || r.TooManyRequestsRate > 0 && u("429") < r.TooManyRequestsRate {
			p.tooMany = true
		}
		if r.ResetRate > 0 && u("reset") < r.ResetRate {
			p.reset = true
		}
		if r.ServerErrorRate > 0 && u("5xx") < r.ServerErrorRate {
			p.status5xx = cmpOr(r.ServerErrorStatus, http.StatusInternalServerError)
		}
		if r.MalformedRate > 0 && u("malformed") < r.MalformedRate {
			p.malformed = true
		}
		if r.TruncateRate > 0 && u("truncate") < r.TruncateRate {
			p.truncate = true
		}
		p.slow += r.SlowBody
		if r.DriftAfterPages > 0 {
			p.driftRule = append(p.driftRule, i)
			p.driftN = append(p.driftN, r.DriftAfterPages)
		}
		if r.RevokeAfterPages > 0 {
			p.revokeRule = append(p.revokeRule, i)
			p.revokeN = append(p.revokeN, r.RevokeAfterPages)
		}
	}
	return p
}

// pageServed counts a successful page for the revoke-after-pages rules and
// revokes the token when a threshold is reached.
func (s *Server) pageServed(p plan, c *Claims) {
	if len(p.revokeRule)+len(p.driftRule) == 0 || c == nil {
		return
	}
	s.faultMu.RLock()
	st := s.fstate
	s.faultMu.RUnlock()
	for i, rule := range p.driftRule {
		key := "drift|" + strconv.Itoa(rule) + "|" + c.Workspace
		st.mu.Lock()
		st.pages[key]++
		hit := st.pages[key]%p.driftN[i] == 0
		st.mu.Unlock()
		if hit {
			s.Drift(c.Workspace)
		}
	}
	for i, rule := range p.revokeRule {
		key := "revoke|" + strconv.Itoa(rule) + "|" + c.Workspace
		st.mu.Lock()
		st.pages[key]++
		hit := st.pages[key] == p.revokeN[i]
		st.mu.Unlock()
		if hit {
			s.RevokeToken(c.ID)
			s.stats.add(func(st *Stats) { st.Revocations++ })
		}
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func jitter(seed int64, j time.Duration, parts ...string) time.Duration {
	if j <= 0 {
		return 0
	}
	u := float64(hash64(seed, parts...)>>11) / float64(1<<53)
	return time.Duration(math.Floor(u * float64(j)))
}

// resetConn aborts the connection without a response (a TCP RST when the
// connection can be hijacked).
func resetConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
