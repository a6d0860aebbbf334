package httpcore

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Redacted replaces every secret found in text taken from a server answer.
const Redacted = "[REDACTED]"

// Secrets is the set of secret values a client sent on one request (bearer
// token, client secret, Basic credentials, subject token, password ...),
// each in every form a server may echo it in: as sent, URL-escaped (query
// and path escaping, upper- and lower-case hex), JSON-escaped, and
// base64-encoded. The zero value is empty; a nil *Secrets scrubs nothing.
type Secrets struct {
	forms []string // longest first
}

// Add records secret values (empty ones are ignored).
func (s *Secrets) Add(vals ...string) {
	for _, v := range vals {
		if v == "" {
			continue
		}
		s.addForms(v, url.QueryEscape(v), url.PathEscape(v), lowerHex(url.QueryEscape(v)), lowerHex(url.PathEscape(v)),
			jsonEscaped(v), strings.ReplaceAll(jsonEscaped(v), "/", `\/`),
			base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v)))
	}
}

// AddBasic records HTTP Basic credentials: the secret, and the base64 of
// id:secret that travels in the Authorization header.
func (s *Secrets) AddBasic(id, secret string) {
	s.Add(secret)
	if id != "" || secret != "" {
		s.Add(base64.StdEncoding.EncodeToString([]byte(id + ":" + secret)))
	}
}

// AddAuthorization records an Authorization header value and its
// credentials part ("Bearer <token>": the token).
func (s *Secrets) AddAuthorization(v string) {
	if _, cred, ok := strings.Cut(v, " "); ok {
		s.Add(strings.TrimSpace(cred))
	}
	s.Add(v)
}

// Merge records every secret of o.
func (s *Secrets) Merge(o *Secrets) {
	if o != nil {
		s.addForms(o.forms...)
	}
}

// Empty reports whether no secret is recorded.
func (s *Secrets) Empty() bool { return s == nil || len(s.forms) == 0 }

func (s *Secrets) addForms(forms ...string) {
	for _, f := range forms {
		if f != "" && !slices.Contains(s.forms, f) {
			s.forms = append(s.forms, f)
		}
	}
	slices.SortStableFunc(s.forms, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
}

// Scrub replaces every recorded secret in str with Redacted.
func (s *Secrets) Scrub(str string) string {
	if s == nil || str == "" {
		return str
	}
	for _, f := range s.forms {
		if strings.Contains(str, f) {
			str = strings.ReplaceAll(str, f, Redacted)
		}
	}
	return str
}

// ScrubBytes is Scrub for a body; b is returned unchanged (not copied)
// when it holds no secret.
func (s *Secrets) ScrubBytes(b []byte) []byte {
	if s == nil || len(b) == 0 {
		return b
	}
	for _, f := range s.forms {
		if strings.Contains(string(b), f) {
			return []byte(s.Scrub(string(b)))
		}
	}
	return b
}

// ScrubHeader scrubs every header value in place.
func (s *Secrets) ScrubHeader(h http.Header) {
	if s == nil {
		return
	}
	for k, vs := range h {
		for i, v := range vs {
			if c := s.Scrub(v); c != v {
				h[k][i] = c
			}
		}
	}
}

// ScrubAny returns v with every string in it scrubbed (a decoded JSON
// value: map[string]any, []any, string; other values are returned as is).
func (s *Secrets) ScrubAny(v any) any {
	if s.Empty() {
		return v
	}
	switch x := v.(type) {
	case string:
		return s.Scrub(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[s.Scrub(k)] = s.ScrubAny(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = s.ScrubAny(e)
		}
		return out
	}
	return v
}

func jsonEscaped(v string) string {
	b, _ := json.Marshal(v)
	return string(b[1 : len(b)-1])
}

// lowerHex turns the %XX escapes of s to lower case (%2f), as some servers
// re-encode.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if b[j] >= 'A' && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
		}
	}
	return string(b)
}

// RedactURL returns raw with the password of its user information
// replaced by "xxxxx" (url.URL.Redacted); in text that does not parse as a
// URL with a host, what follows the first ':' of the user information is
// replaced.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Opaque == "" {
		return u.Redacted()
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + 3
	}
	if j := strings.LastIndex(raw, "@"); j >= start {
		if k := strings.IndexByte(raw[start:j], ':'); k >= 0 {
			return raw[:start+k] + ":xxxxx" + raw[j:]
		}
	}
	return raw
}
