package central

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRejectedURLPasswordRedacted: a base URL rejected in a credentials
// file is shown with its password redacted.
func TestRejectedURLPasswordRedacted(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"https://user:CANARYpw@glp.example.com", "http://user:CANARYpw@glp.example.com/x", "user:CANARYpw@glp.example.com?q=1", "https://user:CANARYpw@h%zz"} {
		doc := "glp:\n  client_id: a\n  client_secret: b\n  base_url: \"" + u + "\"\n"
		_, err := ParseCredentials([]byte(doc), FormatYAML, "creds.yaml")
		if err == nil {
			t.Fatalf("%s accepted", u)
		}
		if strings.Contains(err.Error(), "CANARYpw") || !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestTokenResponseJSONWithOtherContentType: a JSON token answer with a
// text/plain, missing or other non-JSON content type is parsed as JSON, as
// oauthlib does.
func TestTokenResponseJSONWithOtherContentType(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"text/plain", "", "text/html; charset=utf-8", "application/x-www-form-urlencoded", "application/octet-stream"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = []string{ct}
			_, _ = w.Write([]byte(` {"access_token":"abc","token_type":"Bearer","expires_in":900}`))
		}))
		tok, err := ClientCredentials(t.Context(), srv.Client(), srv.URL+"/tok", "id", "secret")
		srv.Close()
		if err != nil || tok.AccessToken != "abc" || tok.ExpiresIn != 900 {
			t.Errorf("content type %q: %+v %v", ct, tok, err)
		}
	}
	// Form encoding still works.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(`access_token=xyz&token_type=bearer&expires_in=60`))
	}))
	defer srv.Close()
	tok, err := ClientCredentials(t.Context(), srv.Client(), srv.URL+"/tok", "id", "secret")
	if err != nil || tok.AccessToken != "xyz" {
		t.Errorf("form: %+v %v", tok, err)
	}
}
