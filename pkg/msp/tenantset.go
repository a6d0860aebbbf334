package msp

import "github.com/centralmsp/centralmsp/internal/termsafe"

// TenantSet de-duplicates tenant ids read from an untrusted list (the tenant
// listing, a plan, a shard message, the refresher's list): ids are compared
// in normalised form, so "5F0C...", "5f0c..." and the dashed UUID form are
// the same tenant. The zero value is ready to use.
type TenantSet struct {
	seen map[string]struct{}
	// Duplicates counts the ids Add refused.
	Duplicates int
}

// Add reports whether id (normalised when it is a workspace id, as it is)
// is new, and records it. A repeated id counts in Duplicates.
func (s *TenantSet) Add(id string) bool {
	if n, err := NormalizeTenantID(id); err == nil {
		id = n
	}
	return s.AddRaw(id)
}

// AddRaw is Add without normalisation (for values that are not workspace
// ids, so each counts once).
func (s *TenantSet) AddRaw(id string) bool {
	if s.seen == nil {
		s.seen = map[string]struct{}{}
	}
	if _, ok := s.seen[id]; ok {
		s.Duplicates++
		return false
	}
	s.seen[id] = struct{}{}
	return true
}

// Has reports whether id was added.
func (s *TenantSet) Has(id string) bool {
	if n, err := NormalizeTenantID(id); err == nil {
		id = n
	}
	_, ok := s.seen[id]
	return ok
}

// Len is the number of distinct ids added.
func (s *TenantSet) Len() int { return len(s.seen) }

// Unique returns ids without repeats (normalised comparison, first
// occurrence kept, in order) and how many were dropped. keep, when not
// nil, is called with the index of each kept id, so parallel slices (names)
// can follow.
func Unique(ids []string, keep func(i int)) ([]string, int) {
	var set TenantSet
	out := make([]string, 0, len(ids))
	for i, id := range ids {
		if set.Add(id) {
			out = append(out, id)
			if keep != nil {
				keep(i)
			}
		}
	}
	return out, set.Duplicates
}

// LogID is a tenant id made safe for a log line: escaped and cut.
func LogID(id string) string { return termsafe.Cell(id, 80) }
