package audittrail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// WatermarkVersion is the format version of the watermark object.
const WatermarkVersion = 1

// Bounds on a watermark, enforced when one is read and when one is made.
const (
	// MaxIDs bounds the ids kept at the watermark's instant.
	MaxIDs = 10_000
	// MaxIDBytes bounds one id.
	MaxIDBytes = 128
	// MaxWatermarkBytes bounds the watermark object.
	MaxWatermarkBytes = 2 << 20
)

// Mark is a position in a tenant's audit log: every event with createdAt
// before At, plus the events of IDs (whose createdAt is exactly At).
type Mark struct {
	At  time.Time `json:"createdAt"`
	IDs []string  `json:"ids"`
}

// Covers reports whether the event (createdAt at, id) is at or before m.
func (m Mark) Covers(at time.Time, id string) bool {
	return at.Before(m.At) || at.Equal(m.At) && slices.Contains(m.IDs, id)
}

// Hash is a short, stable digest of the mark (its instant and its sorted
// ids), used in object keys.
func (m Mark) Hash() string {
	ids := slices.Clone(m.IDs)
	slices.Sort(ids)
	h := sha256.New()
	h.Write([]byte(m.At.UTC().Format(time.RFC3339Nano)))
	for _, id := range ids {
		h.Write([]byte{'\n'})
		h.Write([]byte(id))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Watermark is the stored state of one tenant's audit trail.
type Watermark struct {
	Version  int    `json:"version"`
	TenantID string `json:"tenantId"`
	// API is the audit log API version that read the events ("v1" or
	// "v2beta1").
	API string `json:"api"`
	// Mark is what has been delivered.
	Mark
	// RunID and UpdatedAt say which run wrote this object, and when.
	RunID     string    `json:"runId"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Pending is a claimed, not yet committed range (Mark, Pending.Mark]:
	// its object may or may not have been written. Whoever finds it writes
	// that exact range again to the same key, then commits it.
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is a claimed range's end.
type Pending struct {
	Mark
	RunID     string    `json:"runId"`
	ClaimedAt time.Time `json:"claimedAt"`
	// Key is the object the range is written to (ObjectKey of the
	// watermark's Mark).
	Key string `json:"key"`
}

// WatermarkError reports a stored watermark that cannot be used.
type WatermarkError struct {
	Key    string
	Reason string
}

func (e *WatermarkError) Error() string {
	return fmt.Sprintf("audittrail: watermark %s: %s", e.Key, e.Reason)
}

var runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// DecodeWatermark reads a stored watermark and checks it belongs to
// tenantID and is well formed: one JSON object with known fields only, the
// version, valid times, at most MaxIDs distinct printable ids of at most
// MaxIDBytes each, and a pending range that does not end before the mark.
// key only labels errors.
func DecodeWatermark(data []byte, key, tenantID string) (*Watermark, error) {
	bad := func(format string, a ...any) (*Watermark, error) {
		return nil, &WatermarkError{Key: key, Reason: fmt.Sprintf(format, a...)}
	}
	if len(data) > MaxWatermarkBytes {
		return bad("%d bytes, more than %d", len(data), MaxWatermarkBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w Watermark
	if err := dec.Decode(&w); err != nil {
		return bad("not a watermark object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("data after the object")
	}
	if w.Version != WatermarkVersion {
		return bad("version %d, want %d", w.Version, WatermarkVersion)
	}
	if w.TenantID != tenantID {
		return bad("written for tenant %q, not %q", w.TenantID, tenantID)
	}
	if w.API != APIv1 && w.API != APIv2beta1 {
		return bad("unknown api %q", w.API)
	}
	if !runIDRE.MatchString(w.RunID) {
		return bad("invalid run id %q", w.RunID)
	}
	if err := checkMark(w.Mark); err != nil {
		return bad("%v", err)
	}
	if p := w.Pending; p != nil {
		if err := checkMark(p.Mark); err != nil {
			return bad("pending: %v", err)
		}
		if !runIDRE.MatchString(p.RunID) || p.Key == "" || len(p.Key) > 1024 {
			return bad("pending: invalid run id or key")
		}
		if p.At.Before(w.At) || p.At.Equal(w.At) && !subset(w.IDs, p.IDs) {
			return bad("pending range ends before the mark")
		}
	}
	return &w, nil
}

func checkMark(m Mark) error {
	if m.At.IsZero() || m.At.Year() < 2000 || m.At.Year() > 9999 {
		return fmt.Errorf("createdAt %v out of range", m.At)
	}
	if len(m.IDs) > MaxIDs {
		return fmt.Errorf("%d ids, more than %d", len(m.IDs), MaxIDs)
	}
	seen := make(map[string]bool, len(m.IDs))
	for _, id := range m.IDs {
		if err := checkID(id); err != nil {
			return err
		}
		if seen[id] {
			return fmt.Errorf("id %q repeated", id)
		}
		seen[id] = true
	}
	return nil
}

func checkID(id string) error {
	if id == "" || len(id) > MaxIDBytes {
		return fmt.Errorf("id of %d bytes (want 1 to %d)", len(id), MaxIDBytes)
	}
	if strings.ContainsFunc(id, func(r rune) bool { return !unicode.IsPrint(r) || r == unicode.ReplacementChar }) {
		return fmt.Errorf("id %q has unprintable characters", id)
	}
	return nil
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// Encode renders the watermark (ids sorted, times in UTC).
func (w *Watermark) Encode() ([]byte, error) {
	c := *w
	c.Mark = normal(c.Mark)
	c.UpdatedAt = c.UpdatedAt.UTC()
	if c.Pending != nil {
		p := *c.Pending
		p.Mark = normal(p.Mark)
		p.ClaimedAt = p.ClaimedAt.UTC()
		c.Pending = &p
	}
	if err := checkMark(c.Mark); err != nil {
		return nil, err
	}
	if c.Pending != nil {
		if err := checkMark(c.Pending.Mark); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return nil, err
	}
	if len(b) > MaxWatermarkBytes {
		return nil, errors.New("audittrail: watermark too large")
	}
	return b, nil
}

func normal(m Mark) Mark {
	ids := slices.Clone(m.IDs)
	if ids == nil {
		ids = []string{}
	}
	slices.Sort(ids)
	return Mark{At: m.At.UTC(), IDs: ids}
}
