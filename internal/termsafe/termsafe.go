// Package termsafe makes untrusted text (tenant names, ids and messages
// from an API) safe to print on a terminal or in a log line, and bounds how
// much of it is stored.
//
// String escapes every rune a terminal acts on instead of printing: C0
// controls (including ESC, so ANSI/OSC escape sequences are inert), DEL, C1
// controls, the bidirectional overrides, embeddings and isolates (which can
// reorder what a reader sees), and the other invisible format characters
// (zero-width spaces and joiners, the BOM). Each becomes a visible \uXXXX
// (or \t, \n, \r); invalid UTF-8 becomes U+FFFD. Printable text, accented
// and non-Latin letters included, passes unchanged.
package termsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxName is the most bytes of a tenant name that is stored (shards, plans,
// shard messages, manifests): a name from the API is cut there, on a rune
// boundary.
const MaxName = 256

// Unsafe reports whether r must be escaped before it reaches a terminal.
func Unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true // C0, DEL, C1
	case r == utf8.RuneError:
		return false // printed as the replacement character itself
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // bidi embeddings, overrides, isolates and marks
	case r == 0x2028, r == 0x2029:
		return true // line and paragraph separators
	}
	return unicode.Is(unicode.Cf, r) // other format characters (ZWSP, ZWJ, BOM, ...)
}

// String returns s with every unsafe rune escaped and invalid UTF-8 replaced
// by U+FFFD. It returns s itself when nothing needs escaping.
func String(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || Unsafe(r) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for _, r := range s[i:] { // a range over a string yields U+FFFD for invalid bytes
		switch {
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case Unsafe(r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b' or '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Cell is String cut to at most width runes for a table column; a cut value
// ends in "…". width <= 0 means no cut.
func Cell(s string, width int) string {
	s = String(s)
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	if width == 1 {
		return "…"
	}
	n := 0
	for i := range s {
		if n == width-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// Cap returns s cut to at most max bytes on a rune boundary, with invalid
// UTF-8 replaced by U+FFFD: what is stored of a name from the API. Control
// characters are kept (they are escaped when printed, and JSON escapes
// them when stored).
func Cap(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Name is Cap(s, MaxName).
func Name(s string) string { return Cap(s, MaxName) }

// JSON escapes, in JSON text made by encoding/json (valid UTF-8, control
// characters below 0x20 already escaped), the other runes String escapes:
// DEL, C1 controls, bidi controls and format characters, written as
// \uXXXX, which JSON reads back as the same text. Outside strings JSON
// holds only ASCII, so the result is the same JSON value.
func JSON(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < 0x7f {
		i++
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	const hex = "0123456789abcdef"
	for _, r := range string(b[i:]) {
		if r >= 0x7f && Unsafe(r) {
			units := []rune{r}
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				units = []rune{r1, r2}
			}
			for _, u := range units {
				out = append(out, '\\', 'u', hex[u>>12&0xf], hex[u>>8&0xf], hex[u>>4&0xf], hex[u&0xf])
			}
			continue
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

// Text is String for multi-line text (error messages): line feeds and tabs
// are kept, everything else String escapes is escaped.
func Text(s string) string {
	if !strings.ContainsAny(s, "\n\t") {
		return String(s)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		parts := strings.Split(l, "\t")
		for j, p := range parts {
			parts[j] = String(p)
		}
		lines[i] = strings.Join(parts, "\t")
	}
	return strings.Join(lines, "\n")
}
