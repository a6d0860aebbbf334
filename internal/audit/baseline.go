package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

// BaselineVersion is the version of the baseline format written.
const BaselineVersion = 1

// Limits on a baseline read back from storage (hostile input).
const (
	// MaxBaselineBytes caps a baseline's decompressed size.
	MaxBaselineBytes = 256 << 20
	// MaxBaselineItems caps its number of items.
	MaxBaselineItems = 2_000_000
	maxKeyLen        = 256
)

// Baseline is the compact state of one tenant's dataset after a complete
// collection: per natural key, the compared fields' values in the order of
// Fields. It is stored as gzip JSON at BaselineKey.
type Baseline struct {
	Version    int                 `json:"version"`
	TenantID   string              `json:"tenant_id"`
	TenantName string              `json:"tenant_name"`
	Dataset    string              `json:"dataset"`
	RunID      string              `json:"run_id"`
	Time       time.Time           `json:"time"`
	Fields     []string            `json:"fields"`
	Items      map[string][]string `json:"items"`
}

// BaselineKey is where a tenant's dataset baseline is stored.
func BaselineKey(tenantID, dataset string) string {
	return "baseline/tenant=" + tenantID + "/dataset=" + dataset + ".json.gz"
}

// EncodeBaseline returns b as gzip JSON. The items are written directly
// (not through encoding/json's sorted maps), which is most of the cost.
func EncodeBaseline(b *Baseline) ([]byte, error) {
	hdr := *b
	hdr.Items = nil
	head, err := json.Marshal(baselineHeader{Version: hdr.Version, TenantID: hdr.TenantID, TenantName: hdr.TenantName,
		Dataset: hdr.Dataset, RunID: hdr.RunID, Time: hdr.Time, Fields: hdr.Fields})
	if err != nil {
		return nil, fmt.Errorf("audit: encoding baseline: %w", err)
	}
	out := make([]byte, 0, 64+len(b.Items)*16*(1+len(b.Fields)))
	out = append(out, head[:len(head)-1]...) // without the closing brace
	out = append(out, `,"items":{`...)
	first := true
	for k, vals := range b.Items {
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendJSONString(out, k)
		out = append(out, ':', '[')
		for i, v := range vals {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendJSONString(out, v)
		}
		out = append(out, ']')
	}
	out = append(out, '}', '}', '\n')
	var buf bytes.Buffer
	zw := getGzip(&buf)
	defer putGzip(zw)
	if _, err := zw.Write(out); err != nil {
		return nil, fmt.Errorf("audit: compressing baseline: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("audit: compressing baseline: %w", err)
	}
	return buf.Bytes(), nil
}

// baselineHeader is a Baseline without its items, which are read and
// written apart (raw).
type baselineHeader struct {
	Version    int             `json:"version"`
	TenantID   string          `json:"tenant_id"`
	TenantName string          `json:"tenant_name"`
	Dataset    string          `json:"dataset"`
	RunID      string          `json:"run_id"`
	Time       time.Time       `json:"time"`
	Fields     []string        `json:"fields"`
	Items      json.RawMessage `json:"items,omitempty"`
}

// appendJSONString appends s as a JSON string (invalid UTF-8 replaced).
func appendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// BaselineError says why a stored baseline was refused.
type BaselineError struct {
	TenantID, Dataset string
	Reason            string
}

func (e *BaselineError) Error() string {
	return fmt.Sprintf("audit: baseline of tenant %s dataset %s refused: %s", e.TenantID, e.Dataset, e.Reason)
}

// DecodeBaseline reads a stored baseline (gzip JSON) and validates it
// against the tenant and dataset it must describe: version, tenant and
// dataset match, the decompressed size and item count are bounded, keys
// are non-empty strings of at most 256 bytes, every item has one string
// value per field, and the field names are distinct and non-empty.
func DecodeBaseline(data []byte, tenantID, dataset string) (*Baseline, error) {
	return decodeBaseline(data, tenantID, dataset, MaxBaselineBytes)
}

func decodeBaseline(data []byte, tenantID, dataset string, maxBytes int64) (*Baseline, error) {
	bad := func(format string, a ...any) error {
		return &BaselineError{TenantID: tenantID, Dataset: dataset, Reason: fmt.Sprintf(format, a...)}
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, bad("not gzip: %v", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxBytes+1))
	if err != nil {
		return nil, bad("decompressing: %v", err)
	}
	if int64(len(raw)) > maxBytes {
		return nil, bad("larger than %d bytes decompressed", maxBytes)
	}
	var h baselineHeader
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, bad("decoding: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bad("data after the object")
	}
	b := Baseline{Version: h.Version, TenantID: h.TenantID, TenantName: h.TenantName, Dataset: h.Dataset,
		RunID: h.RunID, Time: h.Time, Fields: h.Fields}
	if items := bytes.TrimSpace(h.Items); len(items) > 0 && !bytes.Equal(items, []byte("null")) {
		if err := json.Unmarshal(items, &b.Items); err != nil {
			return nil, bad("items: %v", err)
		}
	}
	switch {
	case b.Version != BaselineVersion:
		return nil, bad("version %d, want %d", b.Version, BaselineVersion)
	case b.TenantID != tenantID:
		return nil, bad("it names tenant %q", b.TenantID)
	case b.Dataset != dataset:
		return nil, bad("it names dataset %q", b.Dataset)
	case len(b.Items) > MaxBaselineItems:
		return nil, bad("%d items, more than %d", len(b.Items), MaxBaselineItems)
	case len(b.Fields) == 0 || len(b.Fields) > 64:
		return nil, bad("%d fields", len(b.Fields))
	}
	for i, f := range b.Fields {
		if f == "" || slices.Contains(b.Fields[:i], f) {
			return nil, bad("field %d is empty or repeated", i)
		}
	}
	if b.Items == nil {
		b.Items = map[string][]string{}
	}
	for k, v := range b.Items {
		if k == "" || len(k) > maxKeyLen {
			return nil, bad("a key is empty or longer than %d bytes", maxKeyLen)
		}
		if len(v) != len(b.Fields) {
			return nil, bad("item %q has %d values for %d fields", k, len(v), len(b.Fields))
		}
	}
	return &b, nil
}
