package central

import (
	"encoding/json"
)

// rawDecoder is implemented by decode targets with their own decoding of a
// 2xx body (Do uses it instead of json.Unmarshal).
type rawDecoder interface {
	decodeRaw(raw []byte) error
}

// decodeRaw decodes a list page. A page of json.RawMessage items (what the
// collector streams) takes a fast path: after json.Valid, one scan splits
// the items, which alias raw, instead of encoding/json's second pass and a
// copy of every item. Anything the fast path does not handle, and every
// invalid body, goes through json.Unmarshal, so results and errors are
// encoding/json's (FuzzRawPage checks the two agree).
func (e *pageEnvelope[T]) decodeRaw(raw []byte) error {
	if p, ok := any(e).(*pageEnvelope[json.RawMessage]); ok && json.Valid(raw) && splitRawPage(raw, p) {
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

// splitRawPage fills env from valid JSON raw, or reports false (env then
// holds partial results) for what it leaves to encoding/json: a body that
// is not an object, keys with escapes or non-ASCII bytes (encoding/json
// folds some non-ASCII letters onto field names), a repeated envelope key,
// items that are not an array, or a field decoder's error.
func splitRawPage(raw []byte, env *pageEnvelope[json.RawMessage]) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i++
	var seen int
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case '}':
			return seen&fieldItems != 0
		case ',':
			i = skipSpace(raw, i+1)
		}
		if i >= len(raw) || raw[i] != '"' {
			return false
		}
		end := i + 1
		for end < len(raw) && raw[end] != '"' {
			if raw[end] == '\\' || raw[end] >= 0x80 {
				return false
			}
			end++
		}
		key := raw[i+1 : min(end, len(raw))]
		i = skipSpace(raw, end+1)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = skipSpace(raw, i+1)
		vEnd := valueEnd(raw, i)
		if vEnd <= i {
			return false
		}
		val := raw[i:vEnd:vEnd]
		i = vEnd
		var field int
		var err error
		switch {
		case equalFoldASCII(key, "items"):
			field = fieldItems
			if val[0] != '[' {
				return false
			}
			env.Items = splitArray(val)
		case equalFoldASCII(key, "count"):
			field, err = fieldCount, env.Count.UnmarshalJSON(val)
		case equalFoldASCII(key, "total"):
			field, err = fieldTotal, env.Total.UnmarshalJSON(val)
		case equalFoldASCII(key, "offset"):
			field, err = fieldOffset, env.Offset.UnmarshalJSON(val)
		case equalFoldASCII(key, "next"):
			field, err = fieldNext, env.Next.UnmarshalJSON(val)
		default:
			continue // ignored, as by encoding/json
		}
		if err != nil || seen&field != 0 {
			return false
		}
		seen |= field
	}
}

// splitArray returns the elements of a valid JSON array, each aliasing
// arr with its capacity cut at its end (an append never overwrites the
// next element). An empty array gives an empty, non-nil slice.
func splitArray(arr []byte) []json.RawMessage {
	items := []json.RawMessage{}
	i := skipSpace(arr, 1)
	for i < len(arr) && arr[i] != ']' {
		end := valueEnd(arr, i)
		if end <= i {
			return items // not reached for valid JSON
		}
		items = append(items, json.RawMessage(arr[i:end:end]))
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return items
}

// valueEnd returns the index just past the JSON value starting at raw[i]
// (raw valid JSON), or i when none starts there.
func valueEnd(raw []byte, i int) int {
	if i >= len(raw) {
		return i
	}
	switch raw[i] {
	case '"':
		return stringEnd(raw, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); j++ {
			switch raw[j] {
			case '"':
				j = stringEnd(raw, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(raw)
	}
	j := i
	for j < len(raw) {
		switch raw[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// stringEnd returns the index just past the string starting at raw[i] == '"'.
// A byte loop, not bytes.IndexByte: strings in API items are short.
func stringEnd(raw []byte, i int) int {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(raw)
}

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
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
