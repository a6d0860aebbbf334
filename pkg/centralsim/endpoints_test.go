package centralsim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestIsolation(t *testing.T) {
	h := newSim(t)
	a, b := h.Tenants()[0], h.Tenants()[1]
	ta, msp := h.tenantToken(a.HexID), h.mspToken()
	for _, ds := range []struct{ url, dataset string }{
		{h.URL + EndpointGLPDevices, DatasetGLPDevices},
		{h.CentralURL() + "/network-monitoring/v1/devices?limit=1000", DatasetDevices},
	} {
		r := h.get(ds.url, ta)
		items, _ := pageItems(t, r)
		if !equalRaw(items, h.Records(a.HexID, ds.dataset)) || equalRaw(items, h.Records(b.HexID, ds.dataset)) {
			t.Fatalf("%s: tenant A's token does not see exactly A's data", ds.url)
		}
		items, _ = pageItems(t, h.get(ds.url, msp))
		if !equalRaw(items, h.Records(h.MSP().WorkspaceID, ds.dataset)) || len(items) == 0 {
			t.Fatalf("%s: MSP token should see only the MSP's own devices, got %d", ds.url, len(items))
		}
	}
	if r := h.get(h.URL+EndpointMSPTenants, ta); r.status != 403 {
		t.Fatalf("tenant token on msp-tenants: %d", r.status)
	}
	if r := h.get(h.CentralURL()+"/network-msp/v1/list-tenants?limit=10&next=1", ta); r.status != 403 {
		t.Fatalf("tenant token on list-tenants: %d", r.status)
	}
	req := must(newGet(h.URL+EndpointGLPDevices, ta))
	req.Header.Set("TenantID", b.ID)
	if r := h.do(req); r.status != 403 {
		t.Fatalf("mismatched TenantID header: %d", r.status)
	}
	// Central without its prefix is not found: a client that drops the base path is caught.
	if r := h.get(h.URL+"/network-monitoring/v1/devices", ta); r.status != 404 {
		t.Fatalf("Central path without prefix: %d", r.status)
	}
	if r := h.get(h.URL+EndpointGLPDevices, ""); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
}

func TestGLPPagination(t *testing.T) {
	h := newSim(t)
	big := h.tenantWith(func(tn Tenant) bool { return tn.Devices > 5000 })
	tok := h.tenantToken(big.HexID)
	want := h.Records(big.HexID, DatasetGLPDevices)
	if len(want) != big.Devices+big.InventoryOnly {
		t.Fatalf("glp-devices %d, want %d", len(want), big.Devices+big.InventoryOnly)
	}
	var got []json.RawMessage
	for off := 0; ; {
		r := h.get(fmt.Sprintf("%s%s?limit=2000&offset=%d", h.URL, EndpointGLPDevices, off), tok)
		items, m := pageItems(t, r)
		if string(m["total"]) != strconv.Itoa(len(want)) || string(m["offset"]) != strconv.Itoa(off) || string(m["count"]) != strconv.Itoa(len(items)) {
			t.Fatalf("envelope offset=%s count=%s total=%s", m["offset"], m["count"], m["total"])
		}
		got = append(got, items...)
		if len(items) == 0 || off+len(items) >= len(want) {
			break
		}
		off += len(items)
	}
	if !equalRaw(got, want) {
		t.Fatal("paged devices differ from Records")
	}
	for _, tc := range []struct {
		url    string
		status int
	}{
		{EndpointGLPDevices + "?limit=2001", 400},
		{EndpointGLPDevices + "?limit=0", 400},
		{EndpointGLPDevices + "?offset=-1", 400},
		{EndpointGLPDevices + "?limit=ten", 400},
		{EndpointSubscriptions + "?limit=201", 400},
		{EndpointSubscriptions + "?limit=200", 200},
		{EndpointAuditLogs + "?limit=2001", 400},
		{EndpointGLPDevices + "?filter=" + url.QueryEscape("serialNumber eq 'x' or serialNumber eq 'y'"), 400},
	} {
		r := h.get(h.URL+tc.url, tok)
		if r.status != tc.status {
			t.Fatalf("%s: %d, want %d: %s", tc.url, r.status, tc.status, r.body)
		}
		if tc.status == 400 {
			m := r.json(t)
			if m["errorCode"] != "HPE_GL_ERROR_BAD_REQUEST" || m["httpStatusCode"] != float64(400) || m["debugId"] == "" || m["errorDetails"] == nil {
				t.Fatalf("%s: error body %s", tc.url, r.body)
			}
		}
	}
	// Filters on GLP devices.
	serial := big.HexID // not a serial: no match
	if items, _ := pageItems(t, h.get(h.URL+EndpointGLPDevices+"?filter="+url.QueryEscape("serialNumber eq '"+serial+"'"), tok)); len(items) != 0 {
		t.Fatal("filter matched a bogus serial")
	}
	var first map[string]any
	json.Unmarshal(want[7], &first)
	items, _ := pageItems(t, h.get(h.URL+EndpointGLPDevices+"?filter="+url.QueryEscape("serialNumber eq '"+first["serialNumber"].(string)+"'"), tok))
	if len(items) != 1 || string(items[0]) != string(want[7]) {
		t.Fatalf("serial filter: %d items", len(items))
	}
}

func TestMSPTenants(t *testing.T) {
	h := newSim(t, func(o *Options) { o.Tenants = 650 })
	msp := h.mspToken()
	var ids []string
	for off := 0; off < 650; off += 300 {
		items, m := pageItems(t, h.get(fmt.Sprintf("%s%s?limit=300&offset=%d", h.URL, EndpointMSPTenants, off), msp))
		if string(m["total"]) != "650" {
			t.Fatalf("total %s", m["total"])
		}
		for _, it := range items {
			var x struct{ ID string }
			json.Unmarshal(it, &x)
			ids = append(ids, x.ID)
		}
	}
	if len(ids) != 650 || ids[0] != h.Tenants()[0].ID || ids[649] != h.Tenants()[649].ID {
		t.Fatalf("walked %d tenants", len(ids))
	}
	if r := h.get(h.URL+EndpointMSPTenants+"?limit=301", msp); r.status != 422 || r.json(t)["errorCode"] != "HPE_GL_UNPROCESSABLE_CONTENT" {
		t.Fatalf("limit 301: %d %s", r.status, r.body)
	}
	// Names with apostrophes and non-ASCII letters, found by exact filter.
	var apos, nonASCII bool
	for _, tn := range h.Tenants()[:20] {
		for _, c := range tn.Name {
			apos = apos || c == '\''
			nonASCII = nonASCII || c > 127
		}
		f := "workspaceName eq " + QuoteODataString(tn.Name)
		items, m := pageItems(t, h.get(h.URL+EndpointMSPTenants+"?filter="+url.QueryEscape(f), msp))
		if len(items) != 1 || string(m["total"]) != "1" {
			t.Fatalf("filter %q: %d items", f, len(items))
		}
		var x struct{ ID, WorkspaceName string }
		json.Unmarshal(items[0], &x)
		if x.ID != tn.ID || x.WorkspaceName != tn.Name {
			t.Fatalf("filter %q found %+v", f, x)
		}
	}
	if !apos || !nonASCII {
		t.Fatal("names lack apostrophes or non-ASCII letters")
	}
	if r := h.get(h.URL+EndpointMSPTenants+"?filter="+url.QueryEscape("workspaceName eq 'unterminated"), msp); r.status != 422 {
		t.Fatalf("bad filter: %d", r.status)
	}
}

func TestCentralCursor(t *testing.T) {
	h := newSim(t)
	big := h.tenantWith(func(tn Tenant) bool { return tn.Devices > 5000 })
	tok := h.tenantToken(big.HexID)
	walk := func(path string, limit int) []json.RawMessage {
		var all []json.RawMessage
		next := "1"
		for pages := 0; next != ""; pages++ {
			r := h.get(fmt.Sprintf("%s%s?limit=%d&next=%s", h.CentralURL(), path, limit, next), tok)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", path, r.status, r.body)
			}
			items, m := pageItems(t, r)
			all = append(all, items...)
			if string(m["next"]) == "null" {
				next = ""
			} else if err := json.Unmarshal(m["next"], &next); err != nil {
				t.Fatalf("next is not a string: %s", m["next"])
			}
			if pages > 100 {
				t.Fatal("runaway pagination")
			}
		}
		return all
	}
	serials := func(items []json.RawMessage) []string {
		var out []string
		for _, it := range items {
			var x struct{ SerialNumber string }
			json.Unmarshal(it, &x)
			out = append(out, x.SerialNumber)
		}
		slices.Sort(out)
		return out
	}
	sets := map[string][]json.RawMessage{}
	for _, ds := range []string{DatasetDevices, DatasetDeviceInventory, DatasetAPs, DatasetSwitches, DatasetGateways} {
		got := walk("/network-monitoring/v1/"+ds, 1000)
		if !equalRaw(got, h.Records(big.HexID, ds)) {
			t.Fatalf("%s: walked %d items, Records has %d", ds, len(got), len(h.Records(big.HexID, ds)))
		}
		sets[ds] = got
	}
	union := serials(slices.Concat(sets[DatasetAPs], sets[DatasetSwitches], sets[DatasetGateways]))
	if !slices.Equal(union, serials(sets[DatasetDevices])) || len(union) != big.Devices {
		t.Fatal("devices is not the union of aps, switches and gateways")
	}
	inv := serials(sets[DatasetDeviceInventory])
	for _, s := range union {
		if _, ok := slices.BinarySearch(inv, s); !ok {
			t.Fatalf("device %s missing from device-inventory", s)
		}
	}
	if len(inv) <= len(union) {
		t.Fatal("device-inventory has no un-onboarded devices")
	}
	for _, q := range []string{"limit=1001", "next=0", "next=abc", "limit=-1"} {
		r := h.get(h.CentralURL()+"/network-monitoring/v1/aps?"+q, tok)
		if r.status != 400 || r.json(t)["errorCode"] != "HPE_GL_NETWORK_MONITORING_INVALID_INPUT" {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
	}
	// Beyond the end: empty page, next null.
	items, m := pageItems(t, h.get(h.CentralURL()+"/network-monitoring/v1/aps?limit=1000&next=99", tok))
	if len(items) != 0 || string(m["next"]) != "null" {
		t.Fatalf("past the end: %d items next %s", len(items), m["next"])
	}
	// Sites health is offset-paginated.
	want := h.Records(big.HexID, DatasetSitesHealth)
	var got []json.RawMessage
	for off := 0; off < len(want); off += 100 {
		items, _ := pageItems(t, h.get(fmt.Sprintf("%s/network-monitoring/v1/sites-health?limit=100&offset=%d", h.CentralURL(), off), tok))
		got = append(got, items...)
	}
	if len(want) < 101 || !equalRaw(got, want) {
		t.Fatalf("sites-health: %d vs %d", len(got), len(want))
	}
}

func TestListTenants(t *testing.T) {
	h := newSim(t, func(o *Options) { o.Tenants = 150 })
	msp := h.mspToken()
	u := h.CentralURL() + "/network-msp/v1/list-tenants"
	for _, q := range []string{"", "?limit=100", "?next=1", "?limit=101&next=1", "?limit=0&next=1"} {
		if r := h.get(u+q, msp); r.status != 400 || r.json(t)["errorCode"] != "HPE_GL_NETWORK_SERVICES_INVALID_INPUT" {
			t.Fatalf("%q: %d %s", q, r.status, r.body)
		}
	}
	items, m := pageItems(t, h.get(u+"?limit=100&next=1", msp))
	if len(items) != 100 || string(m["next"]) != `"2"` || string(m["total"]) != "150" {
		t.Fatalf("page 1: %d next %s", len(items), m["next"])
	}
	items, m = pageItems(t, h.get(u+"?limit=100&next=2", msp))
	if len(items) != 50 || string(m["next"]) != "null" {
		t.Fatalf("page 2: %d next %s", len(items), m["next"])
	}
	var x struct{ TenantID, TenantName string }
	json.Unmarshal(items[0], &x)
	tn := h.Tenants()[100]
	if x.TenantID != tn.CentralID || x.TenantName != tn.Name {
		t.Fatalf("item %+v, want %s %s", x, tn.CentralID, tn.Name)
	}
}

func TestAuditLogFilter(t *testing.T) {
	h := newSim(t)
	tn := h.Tenants()[1]
	tok := h.tenantToken(tn.HexID)
	all := h.Records(tn.HexID, DatasetAuditLogs)
	var mid struct{ CreatedAt string }
	json.Unmarshal(all[3], &mid)
	f := "createdAt ge '" + mid.CreatedAt + "'"
	items, m := pageItems(t, h.get(h.URL+EndpointAuditLogs+"?limit=2000&filter="+url.QueryEscape(f), tok))
	// Newest first: items 0..3 are at or after all[3].
	if !equalRaw(items, all[:4]) || string(m["remainingRecords"]) != "false" {
		t.Fatalf("filter %q: %d items", f, len(items))
	}
	items, m = pageItems(t, h.get(h.URL+EndpointAuditLogs+"?limit=2", tok))
	if len(items) != 2 || string(m["remainingRecords"]) != "true" {
		t.Fatalf("remainingRecords %s", m["remainingRecords"])
	}
	v2, _ := pageItems(t, h.get(h.URL+EndpointAuditLogsV2+"?limit=2000", tok))
	if len(v2) != len(all) || !equalRaw(v2, h.Records(tn.HexID, DatasetAuditLogsV2)) {
		t.Fatalf("v2beta1 serves %d events, v1 %d", len(v2), len(all))
	}
	if r := h.get(h.URL+EndpointAuditLogs+"?filter="+url.QueryEscape("createdAt ge 'yesterday'"), tok); r.status != 400 {
		t.Fatalf("bad date: %d", r.status)
	}
	if r := h.get(h.URL+EndpointAuditLogs+"?filter="+url.QueryEscape("createdAt eq '"+mid.CreatedAt+"'"), tok); r.status != 400 {
		t.Fatalf("eq on createdAt is not documented: %d", r.status)
	}
}

func TestDeterminismAndLaziness(t *testing.T) {
	a := newSim(t, func(o *Options) { o.Seed = 42 })
	b := newSim(t, func(o *Options) { o.Seed = 42 })
	c := newSim(t, func(o *Options) { o.Seed = 43 })
	if !slices.Equal(a.Tenants(), b.Tenants()) || a.MSP() != b.MSP() {
		t.Fatal("same seed, different tenants")
	}
	if slices.Equal(a.Tenants(), c.Tenants()) {
		t.Fatal("different seeds, same tenants")
	}
	for _, ds := range allDatasets {
		tn := a.Tenants()[1].HexID
		if !equalRaw(a.Records(tn, ds), b.Records(tn, ds)) {
			t.Fatalf("%s differs between runs", ds)
		}
	}
	start := time.Now()
	big := NewUnstartedServer(func(o *Options) {
		o.Tenants = 1000
		o.DevicesPerTenant = func(int) int { return 300 }
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("1000 tenants took %v to build", d)
	}
	for _, ts := range big.tenants {
		if ts.data.Load() != nil {
			t.Fatal("tenant data generated eagerly")
		}
	}
	tn := big.Tenants()[999]
	if tn.Devices != 300 || len(big.Records(tn.HexID, DatasetDevices)) != 300 {
		t.Fatalf("DevicesPerTenant ignored: %+v", tn)
	}
	if big.tenants[998].data.Load() != nil || big.tenants[999].data.Load() == nil {
		t.Fatal("generation is not per tenant")
	}
	// Skewed default sizes: empty tenants and tenants above 5000 devices.
	var empty, huge bool
	for _, tn := range newSim(t, func(o *Options) { o.Tenants = 20 }).Tenants() {
		empty = empty || tn.Devices == 0
		huge = huge || tn.Devices > 5000
	}
	if !empty || !huge {
		t.Fatal("default sizes are not skewed")
	}
}

func TestDrift(t *testing.T) {
	h := newSim(t)
	tn := h.Tenants()[1]
	before := h.Records(tn.HexID, DatasetDevices)
	h.Drift(tn.HexID)
	after := h.Records(tn.HexID, DatasetDevices)
	if equalRaw(before, after) {
		t.Fatal("drift changed nothing")
	}
	got, _ := h.Tenant(tn.HexID)
	if got.Generation != 1 || got.Devices != len(after) {
		t.Fatalf("tenant after drift %+v, %d devices", got, len(after))
	}
	if other := h.Tenants()[0]; other.Generation != 0 {
		t.Fatal("drift leaked to another tenant")
	}
	// The endpoint serves the drifted data.
	items, _ := pageItems(t, h.get(h.CentralURL()+"/network-monitoring/v1/devices?limit=1000", h.tenantToken(tn.HexID)))
	if !equalRaw(items, after) {
		t.Fatal("endpoint serves stale data after drift")
	}
}

func TestStatsEndpoint(t *testing.T) {
	h := newSim(t)
	tn := h.Tenants()[0]
	tok := h.tenantToken(tn.HexID)
	for range 3 {
		h.get(h.URL+EndpointGLPDevices, tok)
	}
	h.get(h.URL+EndpointGLPDevices, "bogus")
	r := h.get(h.URL+EndpointStats, "")
	var st Stats
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	if st.ByEndpoint[EndpointGLPDevices] != 4 || st.ByEndpointTenant[EndpointGLPDevices][tn.HexID] != 3 ||
		st.ByTenant[tn.HexID] != 4 || st.Unauthorized != 1 || st.Exchanges != 1 || st.TokensIssued != 2 ||
		st.ByEndpoint[EndpointToken] != 2 {
		t.Fatalf("stats %+v", st)
	}
	h.ResetStats()
	if h.Stats().Requests != 0 || h.Stats().BodyBytes != 0 {
		t.Fatal("ResetStats")
	}
	// Every answer's body is counted, errors too.
	var sent int64
	for _, tok := range []string{tok, "bogus"} {
		sent += int64(len(h.get(h.URL+EndpointGLPDevices, tok).body))
	}
	if got := h.Stats().BodyBytes; got != sent || sent == 0 {
		t.Fatalf("body bytes %d, the client read %d", got, sent)
	}
}

func TestCredentialsYAML(t *testing.T) {
	h := newSim(t)
	y := string(h.CredentialsYAML())
	m := h.MSP()
	for _, want := range []string{"unified:", "client_id: \"" + m.ClientID, "client_secret: \"" + m.ClientSecret,
		"workspace_id: \"" + m.WorkspaceID, "glp_base_url: \"" + h.URL + "\"", "base_url: \"" + h.URL + "/central\""} {
		if !contains(y, want) {
			t.Fatalf("credentials YAML lacks %q:\n%s", want, y)
		}
	}
}
