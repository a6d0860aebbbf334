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

	"github.com/buger/jsonparser"
	"github.com/klauspost/compress/gzip"
)

// BaselineVersion is the version of the baseline format written. Version 2
// is two gzip members: a header line (JSON, with the item count), then one
// line per item sorted by key, ["key","value",...] in the order of Fields.
// Version 1 (one JSON object with an items map) is still read.
const BaselineVersion = 2

// baselineV1 is the first format's version.
const baselineV1 = 1

// Limits on a baseline read back from storage (hostile input).
const (
	// MaxBaselineBytes caps a baseline's decompressed size.
	MaxBaselineBytes = 256 << 20
	// MaxBaselineItems caps its number of items.
	MaxBaselineItems = 2_000_000
	maxKeyLen        = 256
	maxFields        = 64
)

// Baseline is the compact state of one tenant's dataset after a complete
// collection: per natural key, the compared fields' values in the order of
// Fields. It is stored gzip compressed at BaselineKey (see BaselineVersion).
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

// headerV2 is the first line of a version 2 baseline.
type headerV2 struct {
	Version    int       `json:"version"`
	TenantID   string    `json:"tenant_id"`
	TenantName string    `json:"tenant_name"`
	Dataset    string    `json:"dataset"`
	RunID      string    `json:"run_id"`
	Time       time.Time `json:"time"`
	Fields     []string  `json:"fields"`
	Items      int       `json:"items"`
}

// lines is a snapshot's items in their stored form: the keys sorted, and
// body with one line per key (ends[i] is the end of line i, after its
// newline). Equal values encode to equal lines, so an unchanged item costs
// one byte comparison with its stored line.
type lines struct {
	keys []string
	body []byte
	ends []int
}

// encodeLines encodes items as sorted lines.
func encodeLines(items map[string][]string) *lines {
	e := &lines{keys: make([]string, 0, len(items)), ends: make([]int, len(items))}
	size := 0
	for k, vs := range items {
		e.keys = append(e.keys, k)
		size += len(k) + 4
		for _, v := range vs {
			size += len(v) + 3
		}
	}
	slices.Sort(e.keys)
	e.body = make([]byte, 0, size+size/16)
	for i, k := range e.keys {
		e.body = appendLine(e.body, k, items[k])
		e.ends[i] = len(e.body)
	}
	return e
}

// line returns line i without its newline.
func (e *lines) line(i int) []byte {
	start := 0
	if i > 0 {
		start = e.ends[i-1]
	}
	return e.body[start : e.ends[i]-1]
}

// appendLine appends an item's line: ["key","v1",...] and a newline.
func appendLine(b []byte, key string, vals []string) []byte {
	b = append(b, '[')
	b = appendJSONString(b, key)
	for _, v := range vals {
		b = append(b, ',')
		b = appendJSONString(b, v)
	}
	return append(b, ']', '\n')
}

// EncodeBaseline returns b in the stored form (version 2, whatever
// b.Version says).
func EncodeBaseline(b *Baseline) ([]byte, error) {
	return assembleBaseline(b, encodeLines(b.Items))
}

// assembleBaseline returns the stored baseline of b, whose lines are e: the
// header member, then the lines compressed.
func assembleBaseline(b *Baseline, e *lines) ([]byte, error) {
	head, err := json.Marshal(headerV2{Version: BaselineVersion, TenantID: b.TenantID, TenantName: b.TenantName,
		Dataset: b.Dataset, RunID: b.RunID, Time: b.Time, Fields: b.Fields, Items: len(e.keys)})
	if err != nil {
		return nil, fmt.Errorf("audit: encoding baseline: %w", err)
	}
	var buf bytes.Buffer
	buf.Grow(len(head) + 64 + len(e.body)/4)
	if err := gzipMember(&buf, append(head, '\n')); err != nil {
		return nil, err
	}
	if err := gzipMember(&buf, e.body); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipMember appends data to w as one gzip member, at the collector's
// level.
func gzipMember(w *bytes.Buffer, data []byte) error {
	zw := getGzip(w)
	defer putGzip(zw)
	if _, err := zw.Write(data); err != nil {
		return fmt.Errorf("audit: compressing baseline: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("audit: compressing baseline: %w", err)
	}
	return nil
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

// DecodeBaseline reads a stored baseline (either version) and validates it
// against the tenant and dataset it must describe: version, tenant and
// dataset match, the decompressed size and item count are bounded, keys
// are non-empty strings of at most 256 bytes, every item has one string
// value per field, and the field names are distinct and non-empty; a
// version 2 baseline's lines are also sorted by key, without repeats, and
// as many as its header says.
func DecodeBaseline(data []byte, tenantID, dataset string) (*Baseline, error) {
	return decodeBaseline(data, tenantID, dataset, MaxBaselineBytes)
}

func decodeBaseline(data []byte, tenantID, dataset string, maxBytes int64) (*Baseline, error) {
	sb, err := readBaseline(data, tenantID, dataset, maxBytes)
	if err != nil {
		return nil, err
	}
	b := &Baseline{Version: sb.hdr.Version, TenantID: sb.hdr.TenantID, TenantName: sb.hdr.TenantName, Dataset: sb.hdr.Dataset,
		RunID: sb.hdr.RunID, Time: sb.hdr.Time, Fields: sb.hdr.Fields, Items: make(map[string][]string, sb.hdr.Items)}
	it := sb.iter()
	for {
		key, line, ok, err := it.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		vals, err := parseLine(line)
		if err != nil {
			return nil, it.bad("item %q: %v", key, err)
		}
		b.Items[string(key)] = vals[1:]
	}
	return b, nil
}

// storedBaseline is a baseline read back and its header validated; its
// lines are validated as they are iterated.
type storedBaseline struct {
	hdr  headerV2
	body []byte // the lines, decompressed
	// current: stored in the current format, so when no line changed it
	// can stay as it is.
	current bool
}

// readBaseline decompresses a stored baseline and validates its header. A
// version 1 baseline is decoded whole and converted.
func readBaseline(data []byte, tenantID, dataset string, maxBytes int64) (*storedBaseline, error) {
	bad := func(format string, a ...any) error {
		return &BaselineError{TenantID: tenantID, Dataset: dataset, Reason: fmt.Sprintf(format, a...)}
	}
	br := bytes.NewReader(data)
	zr, err := getGunzip(br)
	if err != nil {
		return nil, bad("not gzip: %v", err)
	}
	defer putGunzip(zr)
	zr.Multistream(false)
	head, err := readAllHint(zr, maxBytes, 1024)
	if err != nil {
		return nil, bad("decompressing: %v", err)
	}
	if int64(len(head)) > maxBytes {
		return nil, bad("larger than %d bytes decompressed", maxBytes)
	}
	if v, _ := jsonparser.GetInt(head, "version"); v == baselineV1 {
		return readV1(data, tenantID, dataset, maxBytes)
	}
	sb := &storedBaseline{}
	dec := json.NewDecoder(bytes.NewReader(head))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sb.hdr); err != nil {
		return nil, bad("decoding the header: %v", err)
	}
	if rest := head[dec.InputOffset():]; string(rest) != "\n" {
		return nil, bad("data after the header")
	}
	if err := checkHeader(&sb.hdr, tenantID, dataset, BaselineVersion); err != nil {
		return nil, err
	}
	start := len(data) - br.Len()
	if err := zr.Reset(br); err != nil {
		return nil, bad("no body: %v", err)
	}
	zr.Multistream(false)
	limit := maxBytes - int64(len(head))
	// The trailer's size sizes the buffer, within what BestSpeed could
	// have compressed into the stored bytes (the trailer is hostile too).
	if sb.body, err = readAllHint(zr, limit, min(gzipSize(data), 64*(len(data)-start))); err != nil {
		return nil, bad("decompressing the body: %v", err)
	}
	if int64(len(sb.body)) > limit {
		return nil, bad("larger than %d bytes decompressed", maxBytes)
	}
	if br.Len() != 0 {
		return nil, bad("data after the body")
	}
	sb.current = true
	return sb, nil
}

// readAllHint reads r to its end, at most limit+1 bytes, into a buffer of
// hint bytes at first (capped by limit: the hint comes from the data).
func readAllHint(r io.Reader, limit int64, hint int) ([]byte, error) {
	buf := make([]byte, 0, min(int64(max(hint, 0))+1, limit+1))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(int64(cap(buf)), limit+1)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) || int64(len(buf)) > limit {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// gzipSize is the uncompressed size a gzip stream's last member states in
// its trailer (modulo 4 GiB; only a hint).
func gzipSize(data []byte) int {
	if len(data) < 18 {
		return 0
	}
	t := data[len(data)-4:]
	return int(uint32(t[0]) | uint32(t[1])<<8 | uint32(t[2])<<16 | uint32(t[3])<<24)
}

// checkHeader validates a header against the tenant and dataset it must
// describe.
func checkHeader(h *headerV2, tenantID, dataset string, version int) error {
	bad := func(format string, a ...any) error {
		return &BaselineError{TenantID: tenantID, Dataset: dataset, Reason: fmt.Sprintf(format, a...)}
	}
	switch {
	case h.Version != version:
		return bad("version %d, want %d or %d", h.Version, baselineV1, BaselineVersion)
	case h.TenantID != tenantID:
		return bad("it names tenant %q", h.TenantID)
	case h.Dataset != dataset:
		return bad("it names dataset %q", h.Dataset)
	case h.Items < 0 || h.Items > MaxBaselineItems:
		return bad("%d items, want 0 to %d", h.Items, MaxBaselineItems)
	case len(h.Fields) == 0 || len(h.Fields) > maxFields:
		return bad("%d fields", len(h.Fields))
	}
	for i, f := range h.Fields {
		if f == "" || slices.Contains(h.Fields[:i], f) {
			return bad("field %d is empty or repeated", i)
		}
	}
	return nil
}

// readV1 reads a version 1 baseline (one gzip JSON object) and converts it
// to sorted lines.
func readV1(data []byte, tenantID, dataset string, maxBytes int64) (*storedBaseline, error) {
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
	var items map[string][]string
	if raw := bytes.TrimSpace(h.Items); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, bad("items: %v", err)
		}
	}
	hdr := headerV2{Version: h.Version, TenantID: h.TenantID, TenantName: h.TenantName, Dataset: h.Dataset,
		RunID: h.RunID, Time: h.Time, Fields: h.Fields, Items: len(items)}
	if err := checkHeader(&hdr, tenantID, dataset, baselineV1); err != nil {
		return nil, err
	}
	for k, v := range items {
		if k == "" || len(k) > maxKeyLen {
			return nil, bad("a key is empty or longer than %d bytes", maxKeyLen)
		}
		if len(v) != len(hdr.Fields) {
			return nil, bad("item %q has %d values for %d fields", k, len(v), len(hdr.Fields))
		}
	}
	return &storedBaseline{hdr: hdr, body: encodeLines(items).body}, nil
}

// lineIter walks a stored baseline's lines, validating each: a JSON array
// of one string per field after the key, keys of 1 to maxKeyLen bytes in
// strictly increasing order, and as many lines as the header says.
type lineIter struct {
	sb      *storedBaseline
	off, n  int
	prevKey []byte
}

func (sb *storedBaseline) iter() *lineIter { return &lineIter{sb: sb} }

func (it *lineIter) bad(format string, a ...any) error {
	return &BaselineError{TenantID: it.sb.hdr.TenantID, Dataset: it.sb.hdr.Dataset, Reason: fmt.Sprintf(format, a...)}
}

// next returns the next line's key (unescaped) and the line without its
// newline; ok is false after the last line.
func (it *lineIter) next() (key, line []byte, ok bool, err error) {
	body := it.sb.body
	if it.off == len(body) {
		if it.n != it.sb.hdr.Items {
			return nil, nil, false, it.bad("%d items, the header says %d", it.n, it.sb.hdr.Items)
		}
		return nil, nil, false, nil
	}
	end := bytes.IndexByte(body[it.off:], '\n')
	if end < 0 {
		return nil, nil, false, it.bad("line %d does not end", it.n+1)
	}
	line = body[it.off : it.off+end]
	it.off += end + 1
	it.n++
	if it.n > it.sb.hdr.Items {
		return nil, nil, false, it.bad("more items than the header's %d", it.sb.hdr.Items)
	}
	key, err = scanLine(line, 1+len(it.sb.hdr.Fields))
	switch {
	case err != nil:
		return nil, nil, false, it.bad("line %d: %v", it.n, err)
	case len(key) == 0 || len(key) > maxKeyLen:
		return nil, nil, false, it.bad("line %d: a key is empty or longer than %d bytes", it.n, maxKeyLen)
	case it.n > 1 && bytes.Compare(key, it.prevKey) <= 0:
		return nil, nil, false, it.bad("line %d: keys not sorted or repeated", it.n)
	}
	it.prevKey = append(it.prevKey[:0], key...)
	return key, line, true, nil
}

// skipIfEqual consumes the next line when it is want, the canonical line
// of key: valid by construction, so it needs no scan. key must sort after
// every key consumed so far (diffLines' merge guarantees it), which keeps
// the order check of the lines that follow.
func (it *lineIter) skipIfEqual(want []byte, key string) bool {
	rest := it.sb.body[it.off:]
	if len(rest) <= len(want) || rest[len(want)] != '\n' || !bytes.Equal(rest[:len(want)], want) || it.n >= it.sb.hdr.Items {
		return false
	}
	it.off += len(want) + 1
	it.n++
	it.prevKey = append(it.prevKey[:0], key...)
	return true
}

// scanLine checks that line is a JSON array of n strings of valid UTF-8,
// without white space, and returns the first one unescaped.
func scanLine(line []byte, n int) (first []byte, err error) {
	if len(line) < 2 || line[0] != '[' || line[len(line)-1] != ']' {
		return nil, errors.New("not an array")
	}
	i := 1
	for k := 0; k < n; k++ {
		if k > 0 {
			if i >= len(line) || line[i] != ',' {
				return nil, fmt.Errorf("%d values, want %d", k, n)
			}
			i++
		}
		end, escaped, err := scanString(line, i)
		if err != nil {
			return nil, err
		}
		if k == 0 {
			first = line[i+1 : end-1]
			if escaped {
				var s string
				if err := json.Unmarshal(line[i:end], &s); err != nil {
					return nil, err
				}
				first = []byte(s)
			}
		}
		i = end
	}
	if i != len(line)-1 {
		return nil, fmt.Errorf("more than %d values", n)
	}
	return first, nil
}

// scanString checks the JSON string starting at b[i] and returns the
// index after its closing quote and whether it holds escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, errors.New("a value is not a string")
	}
	start := i + 1
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !utf8.Valid(b[start:j]) {
				return 0, false, errors.New("invalid UTF-8")
			}
			return j + 1, escaped, nil
		case c < 0x20:
			return 0, false, errors.New("a control character in a string")
		case c == '\\':
			escaped = true
			if j+1 >= len(b) {
				return 0, false, errors.New("a string does not end")
			}
			j++
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) || !isHex4(b[j+1:j+5]) {
					return 0, false, errors.New("a bad \\u escape")
				}
				j += 4
			default:
				return 0, false, errors.New("a bad escape")
			}
		}
	}
	return 0, false, errors.New("a string does not end")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parseLine returns a line's strings, unescaped (a line scanLine accepted).
func parseLine(line []byte) ([]string, error) {
	if bytes.IndexByte(line, '\\') >= 0 {
		var out []string
		err := json.Unmarshal(line, &out)
		return out, err
	}
	// No escapes: the strings are the bytes between the quotes, and a
	// value never holds a quote.
	var out []string
	for i := 1; i < len(line)-1; {
		end := bytes.IndexByte(line[i+1:], '"') + i + 1
		out = append(out, string(line[i+1:end]))
		i = end + 2
	}
	return out, nil
}
