package termsafe

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Acme Corp", "Acme Corp"},
		{"Zürich Ôffice 東京", "Zürich Ôffice 東京"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"a\tb\nc\rd", `a\tb\nc\rd`},
		{"evil\u202etxt.exe", `evil\u202etxt.exe`},
		{"\u2066iso\u2069", `\u2066iso\u2069`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"zw\u200bsp", `zw\u200bsp`},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"\x1b]0;title\x07", `\x1b]0;title\a`},
	} {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCellAndCap(t *testing.T) {
	if got := Cell("abcdef", 4); got != "abc…" {
		t.Errorf("Cell = %q", got)
	}
	if got := Cell("ab", 4); got != "ab" {
		t.Errorf("Cell = %q", got)
	}
	long := strings.Repeat("é", 200) // 400 bytes
	c := Name(long)
	if len(c) > MaxName || !utf8.ValidString(c) || len(c) != 256 {
		t.Errorf("Name: %d bytes, valid %v", len(c), utf8.ValidString(c))
	}
	c = Cap("a"+strings.Repeat("東", 100), 5) // 1 + 3 + (cut inside the 2nd)
	if c != "a東" {
		t.Errorf("Cap = %q", c)
	}
}

func TestText(t *testing.T) {
	if got := Text("line 1\n\tname \x1b[2J\u202e"); got != "line 1\n\tname \\x1b[2J\\u202e" {
		t.Fatalf("Text = %q", got)
	}
}

func TestJSON(t *testing.T) {
	in := []byte(`{"name":"a` + "\u202e\u009b\x7f" + `b","x":[1, 2]}` + "\n")
	got := JSON(in)
	if string(got) != `{"name":"a\u202e\u009b\u007fb","x":[1, 2]}`+"\n" {
		t.Fatalf("JSON = %q", got)
	}
	var a, b map[string]any
	if json.Unmarshal(in, &a) != nil || json.Unmarshal(got, &b) != nil || a["name"] != b["name"] {
		t.Fatalf("value changed: %v vs %v", a, b)
	}
}

// FuzzString: the output never holds a rune a terminal would act on, is
// valid UTF-8, and is the input itself when the input was safe.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "Acme", "\x1b[2J", "\u202e", "\xff\xfe", "a\u0085b", "\u200f", "\ufeff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !utf8.ValidString(out) {
			t.Fatalf("String(%q) = %q: invalid UTF-8", s, out)
		}
		for _, r := range out {
			if Unsafe(r) {
				t.Fatalf("String(%q) = %q holds %U", s, out, r)
			}
		}
		safe := utf8.ValidString(s)
		for _, r := range s {
			if Unsafe(r) {
				safe = false
			}
		}
		if safe && out != s {
			t.Fatalf("String(%q) = %q changed safe text", s, out)
		}
		if c := Cell(s, 10); utf8.RuneCountInString(c) > 10 {
			t.Fatalf("Cell(%q, 10) = %q", s, c)
		}
		if js, err := json.Marshal(s); err == nil {
			out := JSON(js)
			var back, want string
			json.Unmarshal(js, &want)
			if err := json.Unmarshal(out, &back); err != nil || back != want {
				t.Fatalf("JSON(%q) = %q: reads back as %q (%v)", js, out, back, err)
			}
			for _, r := range string(out) {
				if r >= 0x7f && Unsafe(r) {
					t.Fatalf("JSON(%q) = %q holds %U", js, out, r)
				}
			}
		}
		if c := Name(s); len(c) > MaxName || !utf8.ValidString(c) {
			t.Fatalf("Name(%q) = %q", s, c)
		}
	})
}
