package audit

import "testing"

// FuzzDecodeFindingState: a stored finding state is refused or valid for
// its tenant, and re-encodes.
func FuzzDecodeFindingState(f *testing.F) {
	f.Add(gz(`{"version":1,"tenant_id":"` + tid + `","run_id":"r","time":"2026-01-01T00:00:00Z","rules":{"device-offline":["device-offline|devices|SN1"]},"health":{"alerts":2,"degraded_sites":1}}`))
	f.Add(gz(`{"version":1,"tenant_id":"other","rules":{}}`))
	f.Add([]byte("\x1f\x8b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeFindingState(data, tid)
		if err != nil {
			return
		}
		if s.TenantID != tid || s.Version != 1 {
			t.Fatalf("invariants: %+v", s)
		}
		if _, err := encodeFindingState(s); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseRules: any rules file gives an error or rules whose every name
// is known and whose severities are valid.
func FuzzParseRules(f *testing.F) {
	f.Add([]byte("rules:\n  subscription-expiring: {days: 60}\n"))
	f.Add([]byte(`{"rules":{"nope":{}}}`))
	f.Add([]byte(`{"rules":{"device-offline":{"severity":"info","enabled":false}}}`))
	f.Add([]byte("rules: [1, 2]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRules(data, "fuzz")
		if err != nil {
			return
		}
		for name, rule := range r.Rules {
			if _, ok := defaultRules()[name]; !ok {
				t.Fatalf("unknown rule %q accepted", name)
			}
			if _, ok := severityRank[rule.Severity]; !ok {
				t.Fatalf("severity %q accepted", rule.Severity)
			}
		}
	})
}
