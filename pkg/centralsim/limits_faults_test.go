package centralsim

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

func TestGLPRateLimitPerWorkspace(t *testing.T) {
	h := newSim(t, func(o *Options) { o.RateLimits = DefaultRateLimits() })
	a, b := h.Tenants()[0], h.Tenants()[1]
	ta, tb := h.tenantToken(a.HexID), h.tenantToken(b.HexID)
	u := h.URL + EndpointSubscriptions
	// The fake clock starts on a minute boundary: the window resets in 60 s.
	for i := range 60 {
		r := h.get(u, ta)
		if r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
		if i == 0 && (r.header.Get("ratelimit-limit") != "60" || r.header.Get("ratelimit-remaining") != "59" || r.header.Get("ratelimit-reset") != "60") {
			t.Fatalf("headers %v", r.header)
		}
	}
	r := h.get(u, ta)
	if r.status != 429 || r.header.Get("ratelimit-remaining") != "0" {
		t.Fatalf("61st request: %d %v", r.status, r.header)
	}
	var body struct {
		HTTPStatusCode int
		ErrorCode      string
		Message        string
		DebugID        string
		ErrorDetails   []struct {
			Type     string
			Metadata map[string]string
		}
	}
	json.Unmarshal(r.body, &body)
	if body.HTTPStatusCode != 429 || body.ErrorCode != "HPE_GL_ERROR_TOO_MANY_REQUESTS" || body.DebugID == "" ||
		len(body.ErrorDetails) != 1 || body.ErrorDetails[0].Metadata["apiRateLimit"] == "" {
		t.Fatalf("429 body %s", r.body)
	}
	// Another workspace has its own budget; devices have their own too.
	if r := h.get(u, tb); r.status != 200 {
		t.Fatalf("tenant B: %d", r.status)
	}
	if r := h.get(h.URL+EndpointGLPDevices, ta); r.status != 200 || r.header.Get("ratelimit-limit") != "160" {
		t.Fatalf("devices budget: %d %v", r.status, r.header)
	}
	h.clock.Advance(20 * time.Second)
	if r := h.get(u, ta); r.status != 429 || r.header.Get("ratelimit-reset") != "40" {
		t.Fatalf("after 20s: %d reset %s", r.status, r.header.Get("ratelimit-reset"))
	}
	h.clock.Advance(40 * time.Second)
	if r := h.get(u, ta); r.status != 200 {
		t.Fatalf("next window: %d", r.status)
	}
	if st := h.Stats(); st.RateLimited != 2 || st.RateLimitedBy[EndpointSubscriptions] != 2 {
		t.Fatalf("429 accounting %+v", st)
	}
}

func TestCentralRateLimitScopes(t *testing.T) {
	for _, scope := range []Scope{ScopeAccount, ScopeWorkspace} {
		t.Run(scope.String(), func(t *testing.T) {
			h := newSim(t, func(o *Options) {
				o.RateLimits = DefaultRateLimits()
				o.RateLimits.Central.Scope = scope
			})
			ta, tb := h.tenantToken(h.Tenants()[0].HexID), h.tenantToken(h.Tenants()[1].HexID)
			u := h.CentralURL() + "/network-monitoring/v1/aps"
			for i := range 8 {
				r := h.get(u, ta)
				if r.status != 200 {
					t.Fatalf("request %d: %d", i, r.status)
				}
				if r.header.Get("X-RateLimit-Limit") != "8" || r.header.Get("X-RateLimit-Reset") != "2026-11-24T12:00:01Z" {
					t.Fatalf("headers %v", r.header)
				}
			}
			r := h.get(u, tb)
			wantB := 200
			if scope == ScopeAccount {
				wantB = 429
			}
			if r.status != wantB {
				t.Fatalf("tenant B after A spent 8: %d, want %d", r.status, wantB)
			}
			if r := h.get(u, ta); r.status != 429 || r.json(t)["errorCode"] != "HPE_GL_ERROR_TOO_MANY_REQUESTS" || r.header.Get("X-RateLimit-Remaining") != "0" {
				t.Fatalf("9th: %d %s", r.status, r.body)
			}
			h.clock.Advance(time.Second)
			if r := h.get(u, ta); r.status != 200 {
				t.Fatalf("next second: %d", r.status)
			}
		})
	}
}

func statuses(h *harness, u, tok string, n int) []int {
	var out []int
	for range n {
		req := must(newGet(u, tok))
		res, err := h.hc.Do(req)
		if err != nil {
			out = append(out, -1)
			continue
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case err != nil:
			out = append(out, -2)
		case res.StatusCode == 200 && !json.Valid(b):
			out = append(out, -3)
		default:
			out = append(out, res.StatusCode)
		}
	}
	return out
}

func TestFaultsDeterministicPerTenant(t *testing.T) {
	run := func() ([]int, []int) {
		h := newSim(t)
		a, b := h.Tenants()[0], h.Tenants()[1]
		h.SetFaults(Faults{Rules: []FaultRule{{Endpoint: EndpointGLPDevices, Tenant: a.HexID, ServerErrorRate: 0.3, ServerErrorStatus: 503}}})
		ta, tb := h.tenantToken(a.HexID), h.tenantToken(b.HexID)
		sa := statuses(h, h.URL+EndpointGLPDevices, ta, 40)
		sb := statuses(h, h.URL+EndpointGLPDevices, tb, 10)
		return sa, sb
	}
	a1, b1 := run()
	a2, _ := run()
	if !slices.Equal(a1, a2) {
		t.Fatalf("fault sequence differs between runs:\n%v\n%v", a1, a2)
	}
	if n := count(a1, 503); n < 4 || n > 24 {
		t.Fatalf("%d/40 503s for a 0.3 rate: %v", n, a1)
	}
	if count(b1, 200) != 10 {
		t.Fatalf("other tenant affected: %v", b1)
	}
}

func count(xs []int, v int) int {
	n := 0
	for _, x := range xs {
		if x == v {
			n++
		}
	}
	return n
}

func TestFaultKinds(t *testing.T) {
	h := newSim(t)
	tn := h.Tenants()[1]
	tok := h.tenantToken(tn.HexID)
	u := h.CentralURL() + "/network-monitoring/v1/aps?limit=5"
	cases := []struct {
		name string
		rule FaultRule
		want []int
	}{
		{"reset", FaultRule{ResetRate: 1}, []int{-1, -1}},
		{"malformed", FaultRule{MalformedRate: 1}, []int{-3, -3}},
		{"truncated", FaultRule{TruncateRate: 1}, []int{-2, -2}},
		{"429 storm", FaultRule{TooManyRequestsFirst: 3}, []int{429, 429, 429, 200, 200}},
		{"500", FaultRule{ServerErrorRate: 1}, []int{500}},
		{"slow body", FaultRule{SlowBody: 5 * time.Millisecond}, []int{200}},
		{"other endpoint", FaultRule{Endpoint: EndpointGLPDevices, ResetRate: 1}, []int{200}},
		{"other tenant", FaultRule{Tenant: h.Tenants()[0].HexID, ResetRate: 1}, []int{200}},
		{"path prefix", FaultRule{Endpoint: "/central/network-monitoring/", ServerErrorRate: 1}, []int{500}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.SetFaults(Faults{Rules: []FaultRule{tc.rule}})
			if got := statuses(h, u, tok, len(tc.want)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	h.SetFaults(Faults{})
	st := h.Stats()
	if st.Resets < 2 || st.Malformed < 4 || st.ServerErrors < 2 || st.RateLimited < 3 {
		t.Fatalf("fault accounting %+v", st)
	}
}

func TestRevokeAfterPages(t *testing.T) {
	h := newSim(t)
	big := h.tenantWith(func(tn Tenant) bool { return tn.Devices > 5000 })
	h.SetFaults(Faults{Rules: []FaultRule{{Endpoint: EndpointAPs, RevokeAfterPages: 2}}})
	tok := h.tenantToken(big.HexID)
	u := h.CentralURL() + "/network-monitoring/v1/aps?limit=100&next="
	if got := statuses(h, u+"1", tok, 1); got[0] != 200 {
		t.Fatal(got)
	}
	if got := statuses(h, u+"2", tok, 1); got[0] != 200 {
		t.Fatal(got)
	}
	r := h.get(u+"3", tok)
	if r.status != 401 {
		t.Fatalf("third page after revocation: %d", r.status)
	}
	// A fresh token continues where the client left off.
	if r := h.get(u+"3", h.tenantToken(big.HexID)); r.status != 200 {
		t.Fatalf("fresh token: %d", r.status)
	}
	if h.Stats().Revocations != 1 {
		t.Fatalf("revocations %d", h.Stats().Revocations)
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	h := newSim(t)
	tok := h.tenantToken(h.Tenants()[0].HexID)
	h.SetFaults(Faults{Rules: []FaultRule{{Endpoint: EndpointGLPDevices, Latency: time.Hour}}})
	h.hc.Timeout = 50 * time.Millisecond
	_, err := h.hc.Do(must(newGet(h.URL+EndpointGLPDevices, tok)))
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want a client timeout, got %v", err)
	}
	h.hc.Timeout = 0
}

func TestTokenRateLimit(t *testing.T) {
	h := newSim(t, func(o *Options) { o.RateLimits.Token = Limit{Requests: 2, Window: time.Minute} })
	m := h.MSP()
	form := map[string][]string{"grant_type": {GrantClientCredentials}}
	for i := range 2 {
		if r := h.postForm(h.TokenURL(m.WorkspaceID), form, m.ClientID, m.ClientSecret); r.status != 200 {
			t.Fatalf("token %d: %d", i, r.status)
		}
	}
	r := h.postForm(h.TokenURL(m.WorkspaceID), form, m.ClientID, m.ClientSecret)
	if r.status != 429 || r.json(t)["error"] != "too_many_requests" || r.header.Get("ratelimit-remaining") != "0" {
		t.Fatalf("third token: %d %s", r.status, r.body)
	}
	h.clock.Advance(time.Minute)
	if r := h.postForm(h.TokenURL(m.WorkspaceID), form, m.ClientID, m.ClientSecret); r.status != 200 {
		t.Fatalf("next window: %d", r.status)
	}
}

func TestDriftAfterPages(t *testing.T) {
	h := newSim(t)
	tn := h.Tenants()[1]
	tok := h.tenantToken(tn.HexID)
	h.SetFaults(Faults{Rules: []FaultRule{{Endpoint: EndpointDevices, Tenant: tn.HexID, DriftAfterPages: 2}}})
	u := h.CentralURL() + "/network-monitoring/v1/devices?limit=10&next=1"
	statuses(h, u, tok, 3)
	if g, _ := h.Tenant(tn.HexID); g.Generation != 1 {
		t.Fatalf("generation %d after 3 pages with DriftAfterPages 2", g.Generation)
	}
	statuses(h, u, tok, 1)
	if g, _ := h.Tenant(tn.HexID); g.Generation != 2 {
		t.Fatalf("generation %d after 4 pages", g.Generation)
	}
}
