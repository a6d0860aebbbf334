package httpcore

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSecretsScrubEveryForm(t *testing.T) {
	const tok, secret = "tok+en/1=&<", "s3c+r/et="
	var s Secrets
	s.AddAuthorization("Bearer " + tok)
	s.AddBasic("id", secret)
	basic := base64.StdEncoding.EncodeToString([]byte("id:" + secret))
	for _, in := range []string{tok, url.QueryEscape(tok), url.PathEscape(tok), strings.ToLower(url.QueryEscape(tok)), `tok+en\/1=\u0026\u003c`,
		secret, url.QueryEscape(secret), basic, "Basic " + basic, base64.StdEncoding.EncodeToString([]byte(tok))} {
		got := s.Scrub("x " + in + " y")
		if got != "x "+Redacted+" y" && !strings.Contains(got, Redacted) || strings.Contains(got, "tok+en") || strings.Contains(got, "s3c+r") {
			t.Errorf("%q -> %q", in, got)
		}
	}
	h := http.Header{"X-Echo": {"Bearer " + tok}}
	s.ScrubHeader(h)
	if h.Get("X-Echo") != "Bearer "+Redacted && h.Get("X-Echo") != Redacted {
		t.Errorf("header %q", h.Get("X-Echo"))
	}
	v := s.ScrubAny(map[string]any{"a": []any{"t " + tok}, tok: 1.0})
	if m := v.(map[string]any); m["a"].([]any)[0] != "t "+Redacted || m[Redacted] != 1.0 {
		t.Errorf("any %v", v)
	}
	var nilS *Secrets
	if nilS.Scrub("a") != "a" || string(nilS.ScrubBytes([]byte("b"))) != "b" {
		t.Error("nil Secrets must scrub nothing")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:pw@h/x":   "https://u:xxxxx@h/x",
		"u:pw@h":             "u:xxxxx@h",
		"https://u:p w@h%zz": "https://u:xxxxx@h%zz",
		"https://h/a@b":      "https://h/a@b",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
