package centralsim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestClientCredentials(t *testing.T) {
	h := newSim(t)
	m := h.MSP()
	u := h.TokenURL(m.WorkspaceID)
	cc := url.Values{"grant_type": {GrantClientCredentials}}
	withCreds := url.Values{"grant_type": {GrantClientCredentials}, "client_id": {m.ClientID}, "client_secret": {m.ClientSecret}}
	cases := []struct {
		name       string
		url        string
		form       url.Values
		id, secret string
		status     int
		errCode    string
	}{
		{"basic raw (PyCentral)", u, cc, m.ClientID, m.ClientSecret, 200, ""},
		{"basic form-encoded (x/oauth2)", u, cc, url.QueryEscape(m.ClientID), url.QueryEscape(m.ClientSecret), 200, ""},
		{"form credentials", u, withCreds, "", "", 200, ""},
		{"wrong secret", u, cc, m.ClientID, "nope", 401, "invalid_client"},
		{"no credentials", u, cc, "", "", 401, "invalid_client"},
		{"other workspace", h.TokenURL(h.Tenants()[0].HexID), cc, m.ClientID, m.ClientSecret, 401, "invalid_client"},
		{"dashed workspace", h.TokenURL(dashed(m.WorkspaceID)), cc, m.ClientID, m.ClientSecret, 400, "invalid_request"},
		{"missing grant_type", u, url.Values{}, m.ClientID, m.ClientSecret, 400, "invalid_request"},
		{"unsupported grant", u, url.Values{"grant_type": {"password"}}, m.ClientID, m.ClientSecret, 400, "unsupported_grant_type"},
		{"two auth methods", u, withCreds, m.ClientID, m.ClientSecret, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.postForm(tc.url, tc.form, tc.id, tc.secret)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			body := r.json(t)
			if tc.errCode != "" {
				if body["error"] != tc.errCode || body["error_description"] == "" {
					t.Fatalf("error body %s, want error %q", r.body, tc.errCode)
				}
				if strings.Contains(string(r.body), m.ClientSecret) {
					t.Fatal("error body leaks the secret")
				}
				return
			}
			if body["token_type"] != "Bearer" || body["expires_in"] != float64(899) {
				t.Fatalf("token body %s", r.body)
			}
			c, err := h.ParseToken(body["access_token"].(string))
			if err != nil || c.Kind != KindMSP || c.Workspace != m.WorkspaceID {
				t.Fatalf("claims %+v, %v", c, err)
			}
		})
	}
	t.Run("json content type refused", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(`{"grant_type":"client_credentials"}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(m.ClientID, m.ClientSecret)
		if r := h.do(req); r.status != 400 {
			t.Fatalf("status %d", r.status)
		}
	})
	t.Run("GET refused", func(t *testing.T) {
		if r := h.get(u, ""); r.status != http.StatusMethodNotAllowed {
			t.Fatalf("status %d", r.status)
		}
	})
}

func TestTokenExchange(t *testing.T) {
	h := newSim(t)
	tn := h.Tenants()[1]
	msp := h.mspToken()
	m := h.MSP()

	r := h.postForm(h.TokenURL(tn.HexID), exchangeForm(msp), "", "")
	if r.status != 200 {
		t.Fatalf("exchange: %d %s", r.status, r.body)
	}
	body := r.json(t)
	c, err := h.ParseToken(body["access_token"].(string))
	if err != nil || c.Kind != KindTenant || c.Workspace != tn.HexID || c.Account != m.WorkspaceID {
		t.Fatalf("tenant claims %+v %v", c, err)
	}
	if body["issued_token_type"] != TokenTypeAccessToken {
		t.Fatalf("issued_token_type missing: %s", r.body)
	}
	// PyCentral's shape: the same three fields plus Basic with the MSP client.
	if r := h.postForm(h.TokenURL(tn.HexID), exchangeForm(msp), m.ClientID, m.ClientSecret); r.status != 200 {
		t.Fatalf("exchange with basic: %d %s", r.status, r.body)
	}

	tenantTok := body["access_token"].(string)
	extra := exchangeForm(msp)
	extra.Set("audience", tn.HexID)
	noType := exchangeForm(msp)
	noType.Del("subject_token_type")
	cases := []struct {
		name       string
		url        string
		form       url.Values
		id, secret string
		status     int
		errCode    string
	}{
		{"dashed tenant id", h.TokenURL(tn.ID), exchangeForm(msp), "", "", 400, "invalid_request"},
		{"upper-case hex", h.TokenURL(strings.ToUpper(tn.HexID)), exchangeForm(msp), "", "", 400, "invalid_request"},
		{"extra field", h.TokenURL(tn.HexID), extra, "", "", 400, "invalid_request"},
		{"missing subject_token_type", h.TokenURL(tn.HexID), noType, "", "", 400, "invalid_request"},
		{"subject is a tenant token", h.TokenURL(tn.HexID), exchangeForm(tenantTok), "", "", 400, "invalid_grant"},
		{"not a tenant of the MSP", h.TokenURL(strings.Repeat("ab", 16)), exchangeForm(msp), "", "", 400, "invalid_grant"},
		{"the MSP's own workspace", h.TokenURL(m.WorkspaceID), exchangeForm(msp), "", "", 400, "invalid_grant"},
		{"forged subject", h.TokenURL(tn.HexID), exchangeForm(msp[:len(msp)-4] + "AAAA"), "", "", 401, "invalid_token"},
		{"wrong basic", h.TokenURL(tn.HexID), exchangeForm(msp), m.ClientID, "bad", 401, "invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.postForm(tc.url, tc.form, tc.id, tc.secret)
			if r.status != tc.status || r.json(t)["error"] != tc.errCode {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.errCode)
			}
		})
	}
	st := h.Stats()
	if st.Exchanges != 2 || st.ExchangesByTenant[tn.HexID] != 2 {
		t.Fatalf("exchanges %d by tenant %v", st.Exchanges, st.ExchangesByTenant)
	}
	if st.TokensByKind[KindMSP] != 1 || st.TokensByKind[KindTenant] != 2 {
		t.Fatalf("tokens by kind %v", st.TokensByKind)
	}
}

func TestTokenExpiryAndRevocation(t *testing.T) {
	h := newSim(t, func(o *Options) { o.TokenTTL = 2 * time.Second })
	tn := h.Tenants()[0]
	msp := h.mspToken()
	tok := h.tenantToken(tn.HexID)
	u := h.URL + EndpointGLPDevices
	if r := h.get(u, tok); r.status != 200 {
		t.Fatalf("fresh token: %d %s", r.status, r.body)
	}
	h.clock.Advance(1999 * time.Millisecond)
	if r := h.get(u, tok); r.status != 200 {
		t.Fatalf("token 1ms before expiry: %d", r.status)
	}
	h.clock.Advance(time.Millisecond)
	r := h.get(u, tok)
	if r.status != 401 || r.json(t)["errorCode"] != "HPE_GL_ERROR_UNAUTHORIZED" {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	if r.header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	// An expired MSP token cannot be exchanged.
	if r := h.postForm(h.TokenURL(tn.HexID), exchangeForm(msp), "", ""); r.status != 401 || r.json(t)["error"] != "invalid_token" {
		t.Fatalf("exchange with expired subject: %d %s", r.status, r.body)
	}

	// Millisecond TTLs; expires_in is rounded up.
	h.SetTokenTTL(300 * time.Millisecond)
	m := h.MSP()
	r = h.postForm(h.TokenURL(m.WorkspaceID), url.Values{"grant_type": {GrantClientCredentials}}, m.ClientID, m.ClientSecret)
	if r.json(t)["expires_in"] != float64(1) {
		t.Fatalf("expires_in for 300ms: %s", r.body)
	}
	short := r.json(t)["access_token"].(string)
	h.clock.Advance(299 * time.Millisecond)
	if _, err := h.ParseToken(short); err != nil {
		t.Fatalf("valid short token: %v", err)
	}
	h.clock.Advance(time.Millisecond)
	if _, err := h.ParseToken(short); err == nil {
		t.Fatal("short token still valid")
	}

	// Revocation.
	h.SetTokenTTL(time.Hour)
	tok = h.tenantToken(tn.HexID)
	h.RevokeTokens()
	if r := h.get(u, tok); r.status != 401 {
		t.Fatalf("revoked token: %d", r.status)
	}
	if r := h.get(u, h.tenantToken(tn.HexID)); r.status != 200 {
		t.Fatalf("token issued after revocation: %d", r.status)
	}
	if h.Stats().Unauthorized < 2 {
		t.Fatalf("401s not counted: %+v", h.Stats())
	}
}

func TestStandaloneToken(t *testing.T) {
	h := newSim(t)
	sa := h.Standalone()
	r := h.postForm(h.URL+EndpointStandaloneToken, url.Values{"grant_type": {GrantClientCredentials},
		"client_id": {sa.ClientID}, "client_secret": {sa.ClientSecret}}, "", "")
	if r.status != 200 || r.json(t)["expires_in"] != float64(7200) {
		t.Fatalf("standalone token: %d %s", r.status, r.body)
	}
	tok := r.json(t)["access_token"].(string)
	if r := h.get(h.CentralURL()+"/network-monitoring/v1/devices", tok); r.status != 200 {
		t.Fatalf("standalone on Central: %d %s", r.status, r.body)
	} else if items, _ := pageItems(t, r); !equalRaw(items, h.Records(sa.WorkspaceID, DatasetDevices)) {
		t.Fatal("standalone sees other data than its own")
	}
	if r := h.get(h.URL+EndpointGLPDevices, tok); r.status != 401 {
		t.Fatalf("Central-only token on GLP: %d", r.status)
	}
	m := h.MSP()
	if r := h.postForm(h.URL+EndpointStandaloneToken, url.Values{"grant_type": {GrantClientCredentials}}, m.ClientID, m.ClientSecret); r.status != 401 {
		t.Fatalf("unified client on the standalone issuer: %d", r.status)
	}
}
