package central

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unicode/utf8"
)

// rawDecoder is implemented by decode targets with their own decoding of a
// 2xx body (Do uses it instead of json.Unmarshal).
type rawDecoder interface {
	decodeRaw(raw []byte) error
}

// decodeRaw decodes a list page. A page of json.RawMessage items (what the
// collector streams) takes a fast path: one strict scan validates the body
// and splits the items, which alias raw, instead of json.Valid, then
// encoding/json's second pass and a copy of every item. Anything the fast
// path does not handle, and every body it does not find valid, goes through
// json.Unmarshal, so results and errors are encoding/json's (FuzzRawPage
// checks the two agree on acceptance and items).
func (e *pageEnvelope[T]) decodeRaw(raw []byte) error {
	if p, ok := any(e).(*pageEnvelope[json.RawMessage]); ok && splitRawPage(raw, p) {
		return nil
	}
	*e = pageEnvelope[T]{}
	return json.Unmarshal(raw, e)
}

// Envelope fields splitRawPage fills; a repeated one sends the page to
// encoding/json (which keeps the last).
const (
	fieldItems = 1 << iota
	fieldCount
	fieldTotal
	fieldOffset
	fieldNext
)

// maxScanDepth bounds the strict scanner's nesting (and recursion); a
// deeper body goes to encoding/json, which has its own limit.
const maxScanDepth = 256

// scanState is what the strict scan notes of the strings and items it
// passes, for Page.Plain: it never changes what the scan accepts.
type scanState struct {
	escapes int  // escape sequences in strings
	badUTF8 bool // a string holds bytes that are not UTF-8
	names   bool // an object item has a member name that begins with '_' or holds an escape
}

// envelopeField sets the page envelope's count, total, offset or next from
// a member's raw value; other members are ignored (field 0).
func envelopeField(env *pageEnvelope[json.RawMessage], key, val []byte) (int, error) {
	switch {
	case equalFoldASCII(key, "count"):
		return fieldCount, env.Count.UnmarshalJSON(val)
	case equalFoldASCII(key, "total"):
		return fieldTotal, env.Total.UnmarshalJSON(val)
	case equalFoldASCII(key, "offset"):
		return fieldOffset, env.Offset.UnmarshalJSON(val)
	case equalFoldASCII(key, "next"):
		return fieldNext, env.Next.UnmarshalJSON(val)
	}
	return 0, nil
}

// splitRawPage fills env from raw when raw is valid JSON by the strict scan
// (which accepts only what json.Valid accepts), or reports false (env then
// holds partial results) for what it leaves to encoding/json: an invalid
// body or one nested deeper than maxScanDepth, a body that is not an
// object, keys with escapes or non-ASCII bytes (encoding/json folds some
// non-ASCII letters onto field names), a repeated envelope key, items that
// are not an array, or a field decoder's error. It also sets env.plain
// (see Page.Plain).
func splitRawPage(raw []byte, env *pageEnvelope[json.RawMessage]) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipSpace(raw, i+1)
	var seen int
	var st scanState
	lines := false
	if i < len(raw) && raw[i] == '}' {
		return false // no items: encoding/json's
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return false
		}
		end := scanString(raw, i, &st)
		if end < 0 {
			return false
		}
		key := raw[i+1 : end-1]
		for _, c := range key {
			if c == '\\' || c >= 0x80 {
				return false
			}
		}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = skipSpace(raw, i+1)
		var field int
		var err error
		if equalFoldASCII(key, "items") {
			if i >= len(raw) || raw[i] != '[' {
				return false
			}
			var items []json.RawMessage
			start := i
			if i, items = splitArray(raw, i, &st, env.Items[:0]); i < 0 {
				return false
			}
			field, env.Items = fieldItems, items
			lines = hasLineBreak(raw[start:i], items)
		} else {
			vEnd := scanValue(raw, i, 1, &st)
			if vEnd < 0 {
				return false
			}
			field, err = envelopeField(env, key, raw[i:vEnd:vEnd])
			i = vEnd
		}
		if err != nil || seen&field != 0 {
			return false
		}
		seen |= field
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
			continue
		case '}':
			env.plain = !lines && !st.badUTF8 && !st.names
			return seen&fieldItems != 0 && skipSpace(raw, i+1) == len(raw)
		}
		return false
	}
}

// hasLineBreak reports whether an item holds a CR or LF byte (whitespace
// between its tokens: strings cannot hold them raw). One search of the
// whole array answers for the usual page without any.
func hasLineBreak(array []byte, items []json.RawMessage) bool {
	if bytes.IndexByte(array, '\n') < 0 && bytes.IndexByte(array, '\r') < 0 {
		return false
	}
	for _, it := range items {
		if bytes.IndexByte(it, '\n') >= 0 || bytes.IndexByte(it, '\r') >= 0 {
			return true
		}
	}
	return false
}

// splitArray scans the array starting at raw[i] == '[' strictly and
// returns the index just past it and its elements, each aliasing raw with
// its capacity cut at its end (an append never overwrites the next
// element), appended to dst (a slice to reuse, or nil); an empty array
// gives an empty, non-nil slice. The index is -1 when the array is not
// valid JSON. Object elements are items: st notes their member names
// (scanState.names).
func splitArray(raw []byte, i int, st *scanState, dst []json.RawMessage) (int, []json.RawMessage) {
	items := dst
	if items == nil {
		items = make([]json.RawMessage, 0, 64)
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return i + 1, items
	}
	for {
		if i >= len(raw) {
			return -1, nil
		}
		var end int
		if raw[i] == '{' {
			end = scanObject(raw, i, 2, st, true)
		} else {
			end = scanValue(raw, i, 2, st)
		}
		if end < 0 {
			return -1, nil
		}
		items = append(items, json.RawMessage(raw[i:end:end]))
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return -1, nil
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
			continue
		case ']':
			return i + 1, items
		}
		return -1, nil
	}
}

// scanValue returns the index just past the JSON value starting at raw[i]
// (no whitespace before it), or -1 when none does, it is invalid, or it
// nests deeper than maxScanDepth. It accepts exactly RFC 8259's grammar, as
// json.Valid does (invalid UTF-8 in strings is accepted, also as
// json.Valid, and noted in st).
func scanValue(raw []byte, i, depth int, st *scanState) int {
	if i >= len(raw) {
		return -1
	}
	switch c := raw[i]; c {
	case '"':
		return scanString(raw, i, st)
	case '{':
		return scanObject(raw, i, depth, st, false)
	case '[':
		return scanArray(raw, i, depth, st)
	case 't':
		return scanLiteral(raw, i, "true")
	case 'f':
		return scanLiteral(raw, i, "false")
	case 'n':
		return scanLiteral(raw, i, "null")
	default:
		if c == '-' || ('0' <= c && c <= '9') {
			return scanNumber(raw, i)
		}
	}
	return -1
}

// scanObject is scanValue for raw[i] == '{'. For an item (a top-level
// element of the items array) it notes in st a member name that begins
// with '_' or holds an escape.
func scanObject(raw []byte, i, depth int, st *scanState, item bool) int {
	if depth >= maxScanDepth {
		return -1
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(raw) || raw[i] != '"' {
			return -1
		}
		if item {
			esc := st.escapes
			if i+1 < len(raw) && raw[i+1] == '_' {
				st.names = true
			}
			i = scanString(raw, i, st)
			if st.escapes != esc {
				st.names = true
			}
		} else {
			i = scanString(raw, i, st)
		}
		if i < 0 {
			return -1
		}
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] != ':' {
			return -1
		}
		if i = skipSpace(raw, i+1); i < len(raw) && raw[i] == '"' {
			i = scanString(raw, i, st) // the usual member: no call through scanValue
		} else {
			i = scanValue(raw, i, depth+1, st)
		}
		if i < 0 {
			return -1
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return -1
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
			continue
		case '}':
			return i + 1
		}
		return -1
	}
}

// scanArray is scanValue for raw[i] == '['.
func scanArray(raw []byte, i, depth int, st *scanState) int {
	if depth >= maxScanDepth {
		return -1
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return i + 1
	}
	for {
		if i = scanValue(raw, i, depth+1, st); i < 0 {
			return -1
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return -1
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
			continue
		case ']':
			return i + 1
		}
		return -1
	}
}

func scanLiteral(raw []byte, i int, lit string) int {
	if len(raw)-i < len(lit) || string(raw[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanNumber returns the index just past the number at raw[i], or -1:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(raw []byte, i int) int {
	if raw[i] == '-' {
		i++
	}
	switch {
	case i < len(raw) && raw[i] == '0':
		i++
	case i < len(raw) && '1' <= raw[i] && raw[i] <= '9':
		i = digits(raw, i+1)
	default:
		return -1
	}
	if i < len(raw) && raw[i] == '.' {
		j := digits(raw, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			i++
		}
		j := digits(raw, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(raw []byte, i int) int {
	for i < len(raw) && '0' <= raw[i] && raw[i] <= '9' {
		i++
	}
	return i
}

// plainString marks the bytes a string holds as themselves, ASCII only:
// not a quote, a backslash, a control character or a byte of a UTF-8
// sequence (which scanString checks).
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString returns the index just past the valid string starting at
// raw[i] == '"', or -1. Plain bytes are skipped eight at a time up to the
// next quote, backslash, control character or non-ASCII byte; a
// non-ASCII byte starts a UTF-8 sequence, checked as utf8.Valid does
// (an invalid one is noted in st, not rejected: json.Valid accepts it).
func scanString(raw []byte, i int, st *scanState) int {
	j := i + 1
	for {
		if len(raw)-j >= 8 {
			m := specialBytes(binary.LittleEndian.Uint64(raw[j:]))
			if m == 0 {
				j += 8
				continue
			}
			j += bits.TrailingZeros64(m) >> 3 // the lowest flagged byte is exact
		} else {
			for j < len(raw) && plainString[raw[j]] {
				j++
			}
			if j >= len(raw) {
				return -1
			}
		}
		switch c := raw[j]; {
		case c == '"':
			return j + 1
		case c == '\\':
			st.escapes++
			j++
			if j >= len(raw) {
				return -1
			}
			switch raw[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
			case 'u':
				if len(raw)-j <= 4 || !isHex(raw[j+1]) || !isHex(raw[j+2]) || !isHex(raw[j+3]) || !isHex(raw[j+4]) {
					return -1
				}
				j += 5
			default:
				return -1
			}
		case c >= utf8.RuneSelf:
			// A valid sequence holds no byte below 0x80, so none of the
			// bytes it skips can end the string.
			r, n := utf8.DecodeRune(raw[j:])
			if r == utf8.RuneError && n == 1 {
				st.badUTF8 = true
			}
			j += n
		default:
			return -1 // a control character
		}
	}
}

// specialBytes flags (high bit) the bytes of v that are a quote, a
// backslash, a control character or not ASCII. Borrows can flag a byte
// above a flagged one, never below: the lowest flagged byte is exact.
func specialBytes(v uint64) uint64 {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q := v ^ (lsb * '"')
	b := v ^ (lsb * '\\')
	// v-0x20 sets the high bit of a byte below 0x20 (it wraps), and v
	// that of a non-ASCII byte; no printable ASCII byte has either.
	return ((q-lsb)&^q | (b-lsb)&^b | (v - lsb*0x20) | v) & msb
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipSpace returns the index of the first non-whitespace byte at or after
// i. Whitespace is below '!': one comparison passes the usual compact text.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) && raw[i] <= ' ' {
		if c := raw[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
		i++
	}
	return i
}

// equalFoldASCII reports whether ASCII b equals lower-case name, ignoring case.
func equalFoldASCII(b []byte, name string) bool {
	if len(b) != len(name) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}
