package tokencache

import (
	"encoding/json"
	"time"
)

// Layout sizes the secrets.
type Layout struct {
	// TargetBytes caps a secret's budgeted size when tenants are assigned
	// (default 57,344 = 56 KiB, leaving 8 KiB of the 65,536-byte limit as
	// headroom for tokens that grow).
	TargetBytes int
	// ReserveTokenBytes is the token size budgeted for every entry, whatever
	// its current token (a failed entry has none), so a secret still fits when
	// all its tenants succeed again (default 1,600; GLP JWTs measure about
	// 1.1-1.5 KB, see SampleToken).
	ReserveTokenBytes int
	// MaxEntries optionally caps entries per secret (0: size decides).
	MaxEntries int
}

// DefaultLayout returns the default secret sizing.
func DefaultLayout() Layout {
	return Layout{TargetBytes: 56 * 1024, ReserveTokenBytes: 1600}
}

func (l Layout) withDefaults() Layout {
	d := DefaultLayout()
	if l.TargetBytes <= 0 {
		l.TargetBytes = d.TargetBytes
	}
	if l.TargetBytes > MaxSecretBytes {
		l.TargetBytes = MaxSecretBytes
	}
	if l.ReserveTokenBytes <= 0 {
		l.ReserveTokenBytes = d.ReserveTokenBytes
	}
	return l
}

// entryBudget is the encoded size of e (plus its separating comma) with the
// token counted at no less than ReserveTokenBytes.
func (l Layout) entryBudget(e Entry) int {
	b, _ := json.Marshal(e)
	n := len(b) + 1
	if e.Status != StatusOK || e.Token == "" {
		// Budget the fields an ok entry adds.
		ok := e
		ok.Status, ok.Token, ok.TokenType, ok.ErrorClass = StatusOK, "", "Bearer", ""
		if ok.Expiry.IsZero() {
			ok.Expiry = time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)
		}
		b2, _ := json.Marshal(ok)
		n = max(n, len(b2)+1)
	}
	if len(e.Token) < l.ReserveTokenBytes {
		n += l.ReserveTokenBytes - len(e.Token)
	}
	return n
}

// headerBudget is the encoded size of a secret with no entries.
func headerBudget() int {
	t := time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)
	b, _ := json.Marshal(CacheSecret{Format: FormatName, Version: FormatVersion, Kind: KindTenants, Index: 99999, WrittenAt: t, Window: t, Entries: []Entry{}})
	return len(b)
}

// fits reports whether an entry of budget eb can join a secret of budget
// used and n entries.
func (l Layout) fits(used, n, eb int) bool {
	if l.MaxEntries > 0 && n >= l.MaxEntries {
		return false
	}
	return used+eb <= l.TargetBytes
}
