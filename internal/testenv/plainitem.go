package testenv

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// PlainItem is what central.Page.Plain promises of each item of a page,
// decided the slow way: one line, valid UTF-8, and, for an object, no
// top-level member whose name (unescaped) begins with '_'. Tests of the
// scanner that sets Plain and of the collector that relies on it use it
// as their oracle.
func PlainItem(item []byte) bool {
	if bytes.ContainsAny(item, "\r\n") || !utf8.Valid(item) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(item))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return err == nil
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return false
		}
		if k, _ := kt.(string); strings.HasPrefix(k, "_") {
			return false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
	}
	return true
}
