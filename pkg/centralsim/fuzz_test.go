package centralsim

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"workspaceName eq 'O''Brien & Sons'",
		"createdAt ge '2024-02-16T07:54:55.0Z' and category in ('a','b')",
		"deviceOwnership in ('MSP')",
		"hasDetails eq true and count gt 3.5",
		"a eq 'unterminated",
		"x or y",
		"(a eq 1)",
		"name eq 'Ærø Straße'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			return
		}
		if len(flt.Clauses) == 0 {
			t.Fatal("no clauses without error")
		}
		for _, c := range flt.Clauses {
			if c.Field == "" || len(c.Values) == 0 {
				t.Fatalf("bad clause %+v", c)
			}
		}
		flt.Match(map[string]any{"workspaceName": s, "a": 1.0})
		// A quoted value always round-trips.
		q, err := ParseFilter("f eq " + QuoteODataString(s))
		if err != nil || q.Clauses[0].Values[0] != s {
			t.Fatalf("quote round trip of %q: %v %+v", s, err, q)
		}
	})
}

func FuzzTokenForm(f *testing.F) {
	f.Add("grant_type=client_credentials", "application/x-www-form-urlencoded", "Basic YTpi")
	f.Add("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=x.y.z&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token", "application/x-www-form-urlencoded; charset=utf-8", "")
	f.Add("grant_type=client_credentials&client_id=a&client_id=b", "application/x-www-form-urlencoded", "")
	f.Add("%zz", "application/x-www-form-urlencoded", "Basic !!!")
	s := NewUnstartedServer(func(o *Options) { o.Tenants = 2 })
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body, ct, auth string) {
		for _, path := range []string{"/authorization/v2/oauth2/" + s.MSP().WorkspaceID + "/token", EndpointStandaloneToken} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Content-Type", ct)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 && rec.Code != 400 && rec.Code != 401 {
				t.Fatalf("status %d for %q", rec.Code, body)
			}
			if rec.Code == 200 && !strings.Contains(rec.Body.String(), "access_token") {
				t.Fatal("200 without token")
			}
		}
	})
}
