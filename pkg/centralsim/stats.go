package centralsim

import (
	"encoding/json"
	"maps"
	"net/http"
	"sync"
)

// Stats is the simulator's accounting, from Server.Stats or GET /_sim/stats.
// Tenant keys are workspace ids (32 hex); the MSP's own workspace is counted
// under its id too.
type Stats struct {
	Requests          int64                       `json:"requests"`
	ByEndpoint        map[string]int64            `json:"byEndpoint"`
	ByTenant          map[string]int64            `json:"byTenant"`
	ByEndpointTenant  map[string]map[string]int64 `json:"byEndpointTenant"`
	ByStatus          map[int]int64               `json:"byStatus"`
	TokensIssued      int64                       `json:"tokensIssued"`
	TokensByKind      map[string]int64            `json:"tokensByKind"`
	Exchanges         int64                       `json:"exchanges"`
	ExchangesByTenant map[string]int64            `json:"exchangesByTenant"`
	Unauthorized      int64                       `json:"unauthorized"`
	RateLimited       int64                       `json:"rateLimited"`
	RateLimitedBy     map[string]int64            `json:"rateLimitedByEndpoint"`
	ServerErrors      int64                       `json:"serverErrors"`
	Resets            int64                       `json:"resets"`
	Malformed         int64                       `json:"malformed"`
	Revocations       int64                       `json:"revocations"`
	// BodyBytes is the size of every answer's body (headers not counted).
	BodyBytes int64 `json:"bodyBytes"`
}

type statsRec struct {
	mu sync.Mutex
	st Stats
}

func newStatsRec() *statsRec {
	return &statsRec{st: Stats{
		ByEndpoint: map[string]int64{}, ByTenant: map[string]int64{}, ByEndpointTenant: map[string]map[string]int64{},
		ByStatus: map[int]int64{}, TokensByKind: map[string]int64{}, ExchangesByTenant: map[string]int64{},
		RateLimitedBy: map[string]int64{},
	}}
}

func (r *statsRec) request(endpoint, tenant string) {
	r.mu.Lock()
	r.st.Requests++
	r.st.ByEndpoint[endpoint]++
	if tenant != "" {
		r.st.ByTenant[tenant]++
		m := r.st.ByEndpointTenant[endpoint]
		if m == nil {
			m = map[string]int64{}
			r.st.ByEndpointTenant[endpoint] = m
		}
		m[tenant]++
	}
	r.mu.Unlock()
}

func (r *statsRec) status(endpoint string, code int, bodyBytes int64) {
	r.mu.Lock()
	r.st.ByStatus[code]++
	r.st.BodyBytes += bodyBytes
	switch {
	case code == http.StatusUnauthorized:
		r.st.Unauthorized++
	case code == http.StatusTooManyRequests:
		r.st.RateLimited++
		r.st.RateLimitedBy[endpoint]++
	case code >= 500:
		r.st.ServerErrors++
	}
	r.mu.Unlock()
}

func (r *statsRec) tokenIssued(kind, _ string) {
	r.mu.Lock()
	r.st.TokensIssued++
	r.st.TokensByKind[kind]++
	r.mu.Unlock()
}

func (r *statsRec) exchanged(tenant string) {
	r.mu.Lock()
	r.st.Exchanges++
	r.st.ExchangesByTenant[tenant]++
	r.mu.Unlock()
}

func (r *statsRec) add(f func(*Stats)) {
	r.mu.Lock()
	f(&r.st)
	r.mu.Unlock()
}

func (r *statsRec) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.ByEndpoint = maps.Clone(s.ByEndpoint)
	s.ByTenant = maps.Clone(s.ByTenant)
	s.ByStatus = maps.Clone(s.ByStatus)
	s.TokensByKind = maps.Clone(s.TokensByKind)
	s.ExchangesByTenant = maps.Clone(s.ExchangesByTenant)
	s.RateLimitedBy = maps.Clone(s.RateLimitedBy)
	s.ByEndpointTenant = make(map[string]map[string]int64, len(r.st.ByEndpointTenant))
	for k, v := range r.st.ByEndpointTenant {
		s.ByEndpointTenant[k] = maps.Clone(v)
	}
	return s
}

// Stats returns a snapshot of the accounting.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// ResetStats zeroes the accounting.
func (s *Server) ResetStats() {
	n := newStatsRec()
	s.stats.mu.Lock()
	s.stats.st = n.st
	s.stats.mu.Unlock()
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b, _ := json.MarshalIndent(s.Stats(), "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
