package contract_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/centralsim/contract"
)

var (
	loadOnce sync.Once
	loaded   *contract.Validator
	loadErr  error
)

// validator loads the documents once. Without them the test is skipped
// (failed under CI) by testenv.OpenAPIDir; documents that are present but
// do not load always fail.
func validator(t *testing.T) *contract.Validator {
	t.Helper()
	dir := testenv.OpenAPIDir(t)
	loadOnce.Do(func() {
		loaded, loadErr = contract.Load(dir, contract.SimulatorPaths()...)
	})
	if loadErr != nil {
		t.Fatalf("OpenAPI documents in %s: %v", dir, loadErr)
	}
	return loaded
}

type fixture struct {
	t   *testing.T
	sim *centralsim.Server
	v   *contract.Validator
	hc  *http.Client
}

func (f *fixture) token(form url.Values, path, id, secret string) string {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.sim.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	res, err := f.hc.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.AccessToken == "" {
		f.t.Fatalf("token from %s: %d %v", path, res.StatusCode, err)
	}
	return body.AccessToken
}

// check performs req, asserts the status and validates request and response.
func (f *fixture) check(name string, req *http.Request, wantStatus int) {
	f.t.Helper()
	if err := f.v.ValidateRequest(req); err != nil && wantStatus < 400 {
		f.t.Errorf("%s: request: %v", name, err)
	}
	res, err := f.hc.Do(req)
	if err != nil {
		f.t.Fatalf("%s: %v", name, err)
	}
	defer res.Body.Close()
	if res.StatusCode != wantStatus {
		b, _ := io.ReadAll(res.Body)
		f.t.Fatalf("%s: status %d, want %d: %s", name, res.StatusCode, wantStatus, b)
	}
	if err := f.v.ValidateResponse(req, res); err != nil {
		f.t.Errorf("%s: response: %v", name, err)
	}
}

func get(u, tok string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

// TestSimulatorResponsesMatchSpecs validates every endpoint the simulator
// serves that the documents describe, for 200s, errors and 429s.
func TestSimulatorResponsesMatchSpecs(t *testing.T) {
	v := validator(t)
	clock := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Seed = 3
		o.Tenants = 12
		o.Now = func() time.Time { return clock }
		o.RateLimits = centralsim.DefaultRateLimits()
		o.RateLimits.Central.Requests = 1 << 30 // 429s come from faults below
	})
	defer sim.Close()
	f := &fixture{t: t, sim: sim, v: v, hc: sim.Client()}
	m := sim.MSP()
	msp := f.token(url.Values{"grant_type": {centralsim.GrantClientCredentials}}, "/authorization/v2/oauth2/"+m.WorkspaceID+"/token", m.ClientID, m.ClientSecret)
	var big, empty centralsim.Tenant
	for _, tn := range sim.Tenants() {
		if tn.Devices > 5000 && big.ID == "" {
			big = tn
		}
		if tn.Devices == 0 && empty.ID == "" {
			empty = tn
		}
	}
	exchange := func(hex string) string {
		return f.token(url.Values{"grant_type": {centralsim.GrantTokenExchange}, "subject_token": {msp},
			"subject_token_type": {centralsim.TokenTypeAccessToken}}, "/authorization/v2/oauth2/"+hex+"/token", "", "")
	}
	tb, te := exchange(big.HexID), exchange(empty.HexID)
	G, C := sim.URL, sim.CentralURL()

	// GLP workspaces.
	f.check("msp-tenants", get(G+"/workspaces/v1/msp-tenants?limit=5&offset=2", msp), 200)
	f.check("msp-tenants filter", get(G+"/workspaces/v1/msp-tenants?filter="+url.QueryEscape("workspaceName eq "+centralsim.QuoteODataString(sim.Tenants()[0].Name)), msp), 200)
	f.check("msp-tenants 401", get(G+"/workspaces/v1/msp-tenants", ""), 401)
	f.check("msp-tenants 403", get(G+"/workspaces/v1/msp-tenants", tb), 403)
	f.check("msp-tenants 422", get(G+"/workspaces/v1/msp-tenants?limit=301", msp), 422)

	// GLP devices and subscriptions.
	for _, p := range []string{"/devices/v1/devices", "/subscriptions/v1/subscriptions"} {
		f.check(p, get(G+p+"?limit=200&offset=10", tb), 200)
		f.check(p+" empty tenant", get(G+p, te), 200)
		f.check(p+" msp own", get(G+p, msp), 200)
		f.check(p+" 400", get(G+p+"?limit=5000", tb), 400)
		f.check(p+" 401", get(G+p, "x.y.z"), 401)
	}
	f.check("devices full page", get(G+"/devices/v1/devices?limit=2000", tb), 200)

	// GLP audit logs (v2beta1; v1 has no document, see TestAuditLogV1Envelope).
	al := G + "/audit-log/v2beta1/logs"
	f.check("audit v2beta1", get(al+"?limit=100&offset=5", tb), 200)
	f.check("audit v2beta1 filter", get(al+"?filter="+url.QueryEscape("createdAt ge '2026-09-01T00:00:00Z'"), tb), 200)
	f.check("audit v2beta1 msp", get(al, msp), 200)
	f.check("audit v2beta1 400", get(al+"?limit=2001", tb), 400)
	f.check("audit v2beta1 401", get(al, ""), 401)

	// New Central monitoring (cursor) and sites-health (offset).
	for _, ds := range []string{"devices", "device-inventory", "aps", "switches", "gateways"} {
		p := C + "/network-monitoring/v1/" + ds
		limit := 1000
		if ds == "switches" {
			limit = 100 // SwitchListResponse declares maxItems 100 although limit allows 1000
		}
		f.check(ds+" first page", get(fmt.Sprintf("%s?limit=%d&next=1", p, limit), tb), 200)
		f.check(ds+" last page", get(fmt.Sprintf("%s?limit=%d&next=%d", p, limit, 1), te), 200)
		if ds != "switches" { // default limit 1000 exceeds the declared maxItems 100
			f.check(ds+" default", get(p, tb), 200)
		}
		f.check(ds+" msp own", get(p, msp), 200)
		f.check(ds+" 400", get(p+"?limit=1001", tb), 400)
		f.check(ds+" 401", get(p, ""), 401)
	}
	f.check("device-inventory site-assigned", get(C+"/network-monitoring/v1/device-inventory?site-assigned=UNASSIGNED&limit=50", tb), 200)
	f.check("sites-health", get(C+"/network-monitoring/v1/sites-health?limit=100&offset=100", tb), 200)
	f.check("sites-health empty", get(C+"/network-monitoring/v1/sites-health", te), 200)
	f.check("sites-health 400", get(C+"/network-monitoring/v1/sites-health?limit=1001", tb), 400)

	// New Central MSP.
	lt := C + "/network-msp/v1/list-tenants"
	f.check("list-tenants", get(lt+"?limit=5&next=1", msp), 200)
	f.check("list-tenants last", get(lt+"?limit=100&next=1", msp), 200)
	f.check("list-tenants 400", get(lt+"?limit=5", msp), 400)
	f.check("list-tenants 401", get(lt+"?limit=5&next=1", ""), 401)
	f.check("list-tenants 403", get(lt+"?limit=5&next=1", tb), 403)
	sim.Mutate(centralsim.MutateOptions{Alerts: 3}) // raised alerts keep the documented shape
	f.check("list-tenants mutated", get(lt+"?limit=100&next=1", msp), 200)

	// Standalone token endpoint (authorization.json).
	sa := sim.Standalone()
	tokReq := func(form url.Values) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, G+"/as/token.oauth2", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	f.check("as/token.oauth2", tokReq(url.Values{"grant_type": {"client_credentials"}, "client_id": {sa.ClientID}, "client_secret": {sa.ClientSecret}}), 200)

	// 429s and 500s, injected per endpoint.
	sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{TooManyRequestsFirst: 1 << 20}}})
	for _, p := range []string{G + "/devices/v1/devices", G + "/subscriptions/v1/subscriptions", al} {
		f.check(p+" 429", get(p, tb), 429)
	}
	for _, ds := range []string{"devices", "device-inventory", "aps", "switches", "gateways", "sites-health"} {
		f.check(ds+" 429", get(C+"/network-monitoring/v1/"+ds, tb), 429)
	}
	f.check("list-tenants 429", get(lt+"?limit=5&next=1", msp), 429)
	sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{ServerErrorRate: 1}}})
	for _, p := range []string{G + "/devices/v1/devices", G + "/subscriptions/v1/subscriptions", G + "/workspaces/v1/msp-tenants", al} {
		tok := tb
		if strings.Contains(p, "workspaces") {
			tok = msp
		}
		f.check(p+" 500", get(p, tok), 500)
	}
	for _, ds := range []string{"devices", "aps", "switches", "gateways", "sites-health"} {
		f.check(ds+" 500", get(C+"/network-monitoring/v1/"+ds, tb), 500)
	}
	f.check("list-tenants 500", get(lt+"?limit=5&next=1", msp), 500)
	sim.SetFaults(centralsim.Faults{})

	// Real rate limits (not faults) produce the same documented 429.
	for range 60 {
		f.hc.Do(get(G+"/subscriptions/v1/subscriptions", te))
	}
	f.check("subscriptions real 429", get(G+"/subscriptions/v1/subscriptions", te), 429)
}

// TestAuditLogV1Envelope covers what the documents cannot: only
// /audit-log/v2beta1 is specified, so v1 is checked against the envelope
// HPE's GreenLake audit log guide describes.
func TestAuditLogV1Envelope(t *testing.T) {
	v := validator(t)
	sim := centralsim.NewServer(func(o *centralsim.Options) { o.Tenants = 2 })
	defer sim.Close()
	req := get(sim.URL+"/audit-log/v1/logs", "")
	if err := v.ValidateRequest(req); !errors.Is(err, contract.ErrUncovered) {
		t.Fatalf("audit v1 should be uncovered, got %v", err)
	}
	f := &fixture{t: t, sim: sim, v: v, hc: sim.Client()}
	m := sim.MSP()
	tok := f.token(url.Values{"grant_type": {centralsim.GrantClientCredentials}}, "/authorization/v2/oauth2/"+m.WorkspaceID+"/token", m.ClientID, m.ClientSecret)
	res, err := f.hc.Do(get(sim.URL+"/audit-log/v1/logs?limit=2", tok))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]json.RawMessage
	json.NewDecoder(res.Body).Decode(&body)
	for _, k := range []string{"items", "count", "total", "offset", "remainingRecords"} {
		if _, ok := body[k]; !ok {
			t.Errorf("audit v1 response lacks %q", k)
		}
	}
}

// TestValidateRequest exercises the exported request check with hand-built
// requests, as the SDK's requests will be checked.
func TestValidateRequest(t *testing.T) {
	v := validator(t)
	base := "https://sim.example"
	auth := func(r *http.Request) *http.Request { r.Header.Set("Authorization", "Bearer t"); return r }
	good := []*http.Request{
		auth(get(base+"/devices/v1/devices?limit=2000&offset=4000", "")),
		auth(get(base+"/subscriptions/v1/subscriptions?limit=200", "")),
		auth(get(base+"/workspaces/v1/msp-tenants?limit=300&offset=0", "")),
		auth(get(base+"/central/network-monitoring/v1/aps?limit=1000&next=2", "")),
		auth(get(base+"/network-monitoring/v1/sites-health?limit=100&offset=100", "")),
		auth(get(base+"/central/network-msp/v1/list-tenants?limit=100&next=1", "")),
	}
	for _, r := range good {
		if err := v.ValidateRequest(r); err != nil {
			t.Errorf("%s: %v", r.URL, err)
		}
	}
	bad := []*http.Request{
		auth(get(base+"/devices/v1/devices?limit=5000", "")),
		auth(get(base+"/subscriptions/v1/subscriptions?limit=201", "")),
		auth(get(base+"/workspaces/v1/msp-tenants?limit=301", "")),
		auth(get(base+"/central/network-monitoring/v1/aps?limit=1001", "")),
		auth(get(base+"/central/network-msp/v1/list-tenants?limit=100", "")), // next is required
		auth(get(base+"/central/network-msp/v1/list-tenants?limit=101&next=1", "")),
		auth(get(base+"/devices/v1/devices?limit=ten", "")),
	}
	for _, r := range bad {
		err := v.ValidateRequest(r)
		var ve *contract.ValidationError
		if !errors.As(err, &ve) || len(ve.Issues) == 0 {
			t.Errorf("%s: want a ValidationError, got %v", r.URL, err)
		}
	}
	// The form body of the standalone token request is validated too.
	form := func(vals url.Values) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, base+"/as/token.oauth2", strings.NewReader(vals.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	if err := v.ValidateRequest(form(url.Values{"grant_type": {"client_credentials"}, "client_id": {"a"}, "client_secret": {"b"}})); err != nil {
		t.Errorf("token form: %v", err)
	}
	if err := v.ValidateRequest(form(url.Values{"grant_type": {"client_credentials"}})); err == nil {
		t.Error("token form without client_id/secret accepted")
	}
	if err := v.ValidateRequest(get(base+"/authorization/v2/oauth2/abc/token", "")); !errors.Is(err, contract.ErrUncovered) {
		t.Errorf("unified token endpoint: %v", err)
	}
}

// TestValidateResponseCatchesMismatch proves the response check has teeth.
func TestValidateResponseCatchesMismatch(t *testing.T) {
	v := validator(t)
	req := get("https://sim.example/central/network-monitoring/v1/aps", "t")
	mk := func(status int, body string) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}
	}
	cases := map[string]*http.Response{
		"item without serialNumber": mk(200, `{"items":[{"macAddress":"m","deviceName":"d","siteId":"1","id":"x","type":"t"}],"count":1,"next":null}`),
		"numeric next":              mk(200, `{"items":[],"count":0,"next":2}`),
		"error without debugId":     mk(429, `{"httpStatusCode":429,"errorCode":"HPE_GL_ERROR_TOO_MANY_REQUESTS","message":"m"}`),
		"undeclared status":         mk(418, `{}`),
	}
	for name, res := range cases {
		if err := v.ValidateResponse(req, res); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := v.ValidateResponse(req, mk(200, `{"items":[],"count":0,"total":0,"next":null}`)); err != nil {
		t.Errorf("valid empty page rejected: %v", err)
	}
}
