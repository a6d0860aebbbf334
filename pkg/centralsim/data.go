package centralsim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Dataset names accepted by Records (DESIGN.md).
const (
	DatasetDevices         = "devices"
	DatasetDeviceInventory = "device-inventory"
	DatasetAPs             = "aps"
	DatasetSwitches        = "switches"
	DatasetGateways        = "gateways"
	DatasetSitesHealth     = "sites-health"
	DatasetGLPDevices      = "glp-devices"
	DatasetSubscriptions   = "subscriptions"
	DatasetAuditLogs       = "audit-logs"
	// DatasetAuditLogsV2 is the same events in the /audit-log/v2beta1 shape.
	DatasetAuditLogsV2 = "audit-logs-v2beta1"
)

var allDatasets = []string{DatasetDevices, DatasetDeviceInventory, DatasetAPs, DatasetSwitches,
	DatasetGateways, DatasetSitesHealth, DatasetGLPDevices, DatasetSubscriptions, DatasetAuditLogs, DatasetAuditLogsV2}

// Workspace kinds, also the "kind" claim of tokens.
const (
	KindMSP        = "msp"
	KindTenant     = "tenant"
	KindStandalone = "standalone"
)

// Tenant is the ground truth about one MSP tenant workspace. The sizes are
// those of the tenant's current data generation (see Drift).
type Tenant struct {
	Index     int    // 0-based position in generation order
	ID        string // workspace id as msp-tenants returns it (UUID with dashes)
	HexID     string // the same id as 32 lowercase hex characters (token exchange path)
	CentralID string // tenantId in New Central network-msp/v1/list-tenants
	Name      string
	Ownership string // MSP_OWNED_INVENTORY or CUSTOMER_OWNED_INVENTORY

	Devices       int // monitored devices = APs + Switches + Gateways
	APs           int
	Switches      int
	Gateways      int
	InventoryOnly int // device-inventory and GLP devices not yet onboarded
	Sites         int
	Subscriptions int
	AuditLogs     int
	Generation    int // data generation (0 unless drifted)
}

// baseTime anchors generated timestamps so data does not depend on the clock.
var baseTime = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// tenantState is one workspace (tenant, MSP or standalone) with lazily
// generated, cached data.
type tenantState struct {
	info     Tenant
	kind     string
	code     string // 4 characters used in serial numbers
	baseSize int
	gen      atomic.Int64
	mu       sync.Mutex
	data     atomic.Pointer[tenantData]
	// appended holds audit log entries added with AppendAuditLogs (under mu).
	appended []AuditLogEntry
	// mutations counts Mutate calls (guarded by mu).
	mutations int
}

type tenantData struct {
	gen  int64
	sets map[string][]json.RawMessage
}

var nameFirst = []string{"Acme", "Nordic", "Blue Sky", "Müller", "Ångström", "Smith", "Crème", "Peña",
	"Øresund", "Kraków", "Dvořák", "Björk", "Côte", "McAllister", "Zürich", "São Paulo", "Łódź",
	"Riverside", "Summit", "Harbor", "Café", "Évora", "Straße"}
var nameApos = []string{"O'Brien", "D'Angelo", "Dunkin' Corner", "L'Atelier", "Ma's Kitchen", "St John's"}
var nameSecond = []string{"Networks", "Retail", "Schools", "Bakery", "& Sons", "Clinic", "Logistics", "Hotels",
	"Group", "Fiskeri", "Consulting", "Pharmacy", "Holdings", "Hospital", "Library", "Municipality"}

func hexID(r *rand.Rand) string {
	return fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
}

func dashed(hex string) string {
	return hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:32]
}

func uuidFrom(r *rand.Rand) string { return dashed(hexID(r)) }

func alnum(r *rand.Rand, n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// init generates identities and the tenant list (not their data).
func (s *Server) init() {
	r := newRand(s.opts.Seed, "identities")
	s.key = []byte(alnum(r, 32))
	s.msp = Account{WorkspaceID: hexID(r), ClientID: uuidFrom(r), ClientSecret: alnum(r, 40), Name: s.opts.MSPName}
	s.standalone = Account{WorkspaceID: hexID(r), ClientID: uuidFrom(r), ClientSecret: alnum(r, 40), Name: "Standalone Central"}
	s.byHex = make(map[string]*tenantState, s.opts.Tenants+2)
	s.byHex[s.msp.WorkspaceID] = &tenantState{kind: KindMSP, code: "M000", baseSize: s.opts.MSPDevices,
		info: Tenant{Index: -1, ID: dashed(s.msp.WorkspaceID), HexID: s.msp.WorkspaceID, Name: s.msp.Name, Ownership: "MSP_OWNED_INVENTORY"}}
	s.byHex[s.standalone.WorkspaceID] = &tenantState{kind: KindStandalone, code: "S000", baseSize: 12,
		info: Tenant{Index: -2, ID: dashed(s.standalone.WorkspaceID), HexID: s.standalone.WorkspaceID, Name: s.standalone.Name, Ownership: "CUSTOMER_OWNED_INVENTORY"}}
	used := map[string]bool{s.msp.Name: true}
	s.tenants = make([]*tenantState, s.opts.Tenants)
	for i := range s.tenants {
		tr := newRand(s.opts.Seed, "tenant", strconv.Itoa(i))
		var name string
		switch i % 5 {
		case 0:
			name = nameApos[tr.IntN(len(nameApos))] + " " + nameSecond[tr.IntN(len(nameSecond))]
		default:
			name = nameFirst[tr.IntN(len(nameFirst))] + " " + nameSecond[tr.IntN(len(nameSecond))]
		}
		if i == 1 {
			name = "Ærø Straße Café " + nameSecond[tr.IntN(len(nameSecond))]
		}
		if i < len(s.opts.TenantNames) && s.opts.TenantNames[i] != "" {
			name = s.opts.TenantNames[i]
		}
		for n := 2; used[name]; n++ {
			name = strings.TrimSuffix(name, " "+strconv.Itoa(n-1)) + " " + strconv.Itoa(n)
		}
		used[name] = true
		hex := hexID(tr)
		own := "CUSTOMER_OWNED_INVENTORY"
		if i%4 == 2 {
			own = "MSP_OWNED_INVENTORY"
		}
		size := defaultSize(i, s.opts.Tenants, tr)
		if s.opts.DevicesPerTenant != nil {
			size = max(0, s.opts.DevicesPerTenant(i))
		}
		ts := &tenantState{kind: KindTenant, code: fmt.Sprintf("%04X", i&0xFFFF), baseSize: size,
			info: Tenant{Index: i, ID: dashed(hex), HexID: hex, CentralID: strconv.FormatUint(1e9+tr.Uint64N(9e9), 10), Name: name, Ownership: own}}
		s.tenants[i] = ts
		s.byHex[hex] = ts
	}
}

// defaultSize gives skewed tenant sizes: some empty, some above 5000.
func defaultSize(i, n int, r *rand.Rand) int {
	switch {
	case n == 1:
		return 40
	case i == 0:
		return 5 + r.IntN(20)
	case i%10 == 3:
		return 5001 + r.IntN(1500)
	case i%7 == 5:
		return 0
	default:
		return int(math.Exp(r.Float64() * math.Log(800)))
	}
}

// sizes computes the current counts of ts (cheap, no generation).
func (ts *tenantState) sizes() Tenant {
	t := ts.info
	g := int(ts.gen.Load())
	n := ts.baseSize
	if g > 0 && n > 0 {
		delta := max(1, n/20)
		n += ((g*7)%3 - 1) * delta
		n = max(n, 0)
	}
	t.Generation = g
	t.Devices = n
	t.APs = n * 7 / 10
	t.Switches = n * 2 / 10
	t.Gateways = n - t.APs - t.Switches
	if n > 0 {
		t.InventoryOnly = n/20 + 1
		t.Sites = n/30 + 1
		t.Subscriptions = n/40 + 1
	}
	t.AuditLogs = 5 + n/20
	return t
}

// Tenants returns the ground truth of every tenant, in generation order.
func (s *Server) Tenants() []Tenant {
	out := make([]Tenant, len(s.tenants))
	for i, ts := range s.tenants {
		out[i] = ts.sizes()
	}
	return out
}

// Tenant returns one tenant by 32-hex or dashed id.
func (s *Server) Tenant(id string) (Tenant, bool) {
	ts := s.byHex[strings.ReplaceAll(id, "-", "")]
	if ts == nil || ts.kind != KindTenant {
		return Tenant{}, false
	}
	return ts.sizes(), true
}

// Records returns the ground truth of one dataset (DESIGN.md names, such as
// "devices" or "glp-devices") for a workspace given as 32 hex (tenant, MSP
// or standalone): exactly the items the endpoints serve, in order. It returns
// nil for an unknown workspace or dataset. The messages must not be modified.
func (s *Server) Records(tenantHexID, dataset string) []json.RawMessage {
	ts := s.byHex[strings.ReplaceAll(tenantHexID, "-", "")]
	if ts == nil {
		return nil
	}
	items, ok := s.dataOf(ts).sets[dataset]
	if !ok {
		return nil
	}
	return append([]json.RawMessage(nil), items...)
}

// Drift advances the data generation of the given tenants (hex ids; all
// tenants when none are given): some devices disappear, new ones appear,
// statuses change. Use it to simulate data that changes between runs (or in
// the middle of a paginated read).
func (s *Server) Drift(tenantHexIDs ...string) {
	if len(tenantHexIDs) == 0 {
		for _, ts := range s.tenants {
			ts.gen.Add(1)
		}
		return
	}
	for _, id := range tenantHexIDs {
		if ts := s.byHex[strings.ReplaceAll(id, "-", "")]; ts != nil {
			ts.gen.Add(1)
		}
	}
}

func (s *Server) dataOf(ts *tenantState) *tenantData {
	g := ts.gen.Load()
	if d := ts.data.Load(); d != nil && d.gen == g {
		return d
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if d := ts.data.Load(); d != nil && d.gen == g {
		return d
	}
	d := s.generate(ts, g)
	ts.data.Store(d)
	return d
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("centralsim: " + err.Error())
	}
	return b
}

func ts3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type simDevice struct {
	k        int
	kind     string // ap, switch, gateway
	serial   string
	mac      string
	name     string
	model    string
	part     string
	online   bool
	site     int
	ip       string
	fw       string
	onboard  bool
	subIdx   int
	uuid     string
	created  time.Time
	uptimeMs float64
}

var (
	apModels = [][2]string{{"AP-505", "R2H28A"}, {"AP-515", "Q9H62A"}, {"AP-635", "R7J27A"}, {"AP-655", "S0G16A"}}
	swModels = [][2]string{{"6100 12G", "JL679A"}, {"6300M 24G", "JL661A"}, {"CX 6200F", "JL728A"}}
	gwModels = [][2]string{{"9004", "R1B21A"}, {"9240", "R7H05A"}, {"7005", "JW633A"}}
	cities   = [][4]string{{"Zürich", "ZH", "Switzerland", "8001"}, {"São Paulo", "SP", "Brazil", "01000-000"},
		{"Dublin", "D", "Ireland", "D02"}, {"Kraków", "MA", "Poland", "30-001"}, {"Austin", "TX", "United States", "78701"}}
)

// generate builds all datasets of ts for generation g.
func (s *Server) generate(ts *tenantState, g int64) *tenantData {
	gn := &generation{ts: ts, g: g, info: ts.sizes(), seed: s.opts.Seed, sets: make(map[string][]json.RawMessage, len(allDatasets))}
	if g > 0 && ts.baseSize > 0 {
		gn.start = int(g) * max(1, ts.baseSize/20)
	}
	for _, name := range allDatasets {
		gn.sets[name] = []json.RawMessage{}
	}
	gn.sites()
	gn.subscriptions()
	gn.devices()
	for _, d := range gn.devs {
		gn.deviceRecords(d)
	}
	gn.sitesHealth()
	gn.auditLogs()
	ts.mergeAppended(gn.sets, ts.appended)
	return &tenantData{gen: g, sets: gn.sets}
}

// generation is the state of one generate call: a tenant's sizes, the
// records built so far, and the sites, subscriptions and devices the
// datasets share.
type generation struct {
	ts    *tenantState
	g     int64
	info  Tenant
	seed  int64
	start int
	sets  map[string][]json.RawMessage

	siteIDs, siteNames []string
	subKeys, subIDs    []string
	devs               []simDevice
}

func (gn *generation) add(dataset string, v any) {
	gn.sets[dataset] = append(gn.sets[dataset], mustJSON(v))
}

// sites names the tenant's sites.
func (gn *generation) sites() {
	ts := gn.ts
	gn.siteIDs = make([]string, gn.info.Sites)
	gn.siteNames = make([]string, gn.info.Sites)
	for j := range gn.info.Sites {
		gn.siteIDs[j] = strconv.FormatUint(1e8+hash64(gn.seed, ts.info.HexID, "site", strconv.Itoa(j))%9e8, 10)
		c := cities[j%len(cities)]
		gn.siteNames[j] = fmt.Sprintf("%s %d – %s", c[0], j+1, strings.SplitN(ts.info.Name, " ", 2)[0])
	}
}

// subscriptions builds the subscriptions dataset.
func (gn *generation) subscriptions() {
	ts := gn.ts
	gn.subKeys = make([]string, gn.info.Subscriptions)
	gn.subIDs = make([]string, gn.info.Subscriptions)
	for j := range gn.info.Subscriptions {
		sr := newRand(gn.seed, ts.info.HexID, "sub", strconv.Itoa(j))
		gn.subIDs[j] = uuidFrom(sr)
		gn.subKeys[j] = "E" + strings.ToUpper(alnum(sr, 11))
		typ, tier, sku := "CENTRAL_AP", "FOUNDATION_AP", "R3K02AAE"
		switch j % 3 {
		case 1:
			typ, tier, sku = "CENTRAL_SWITCH", "FOUNDATION_SWITCH_6300", "R3J17AAE"
		case 2:
			typ, tier, sku = "CENTRAL_GW", "FOUNDATION_70XX", "R3K05AAE"
		}
		st := baseTime.AddDate(0, -sr.IntN(24), -sr.IntN(28))
		status := "STARTED"
		if j%9 == 8 {
			status = "ENDED"
		}
		qty := 10 + sr.IntN(200)
		gn.add(DatasetSubscriptions, map[string]any{
			"id": gn.subIDs[j], "type": "subscriptions/subscription", "key": gn.subKeys[j], "sku": sku,
			"skuDescription": "Aruba Central " + tier + " subscription", "subscriptionType": typ,
			"subscriptionStatus": status, "productType": "DEVICE", "tier": tier, "tierDescription": tier,
			"quantity": strconv.Itoa(qty), "availableQuantity": strconv.Itoa(sr.IntN(qty)),
			"startTime": ts3339(st), "endTime": ts3339(st.AddDate(3, 0, 0)), "isEval": j%11 == 10,
			"contract": "", "quote": "", "po": "", "resellerPo": "", "tags": map[string]string{},
			"createdAt": ts3339(st), "updatedAt": ts3339(st.Add(48 * time.Hour)),
		})
	}
}

// devices draws the devices: monitored (aps, switches, gateways) then
// inventory-only.
func (gn *generation) devices() {
	info, ts, n := gn.info, gn.ts, gn.info.Devices
	gn.devs = make([]simDevice, 0, n+info.InventoryOnly)
	for x := range n + info.InventoryOnly {
		k := gn.start + x
		dr := newRand(gn.seed, ts.info.HexID, "dev", strconv.Itoa(k))
		d := simDevice{k: k, onboard: x < n, online: dr.IntN(10) != 0 || gn.g%2 == 1 && k%3 == 0,
			created: baseTime.Add(-time.Duration(dr.IntN(900*24)) * time.Hour), uuid: uuidFrom(dr),
			ip:       fmt.Sprintf("10.%d.%d.%d", dr.IntN(256), dr.IntN(256), 1+dr.IntN(254)),
			uptimeMs: float64(dr.IntN(90*24*3600)) * 1000, subIdx: -1}
		if info.Sites > 0 {
			d.site = dr.IntN(info.Sites)
		}
		if info.Subscriptions > 0 && dr.IntN(10) < 8 {
			d.subIdx = dr.IntN(info.Subscriptions)
		}
		var m [2]string
		letter := "A"
		switch {
		case x < info.APs || !d.onboard && x%3 == 0:
			d.kind, m = "ap", apModels[dr.IntN(len(apModels))]
			d.fw = fmt.Sprintf("10.%d.%d.%d", 4+dr.IntN(3), dr.IntN(2), dr.IntN(5))
		case x < info.APs+info.Switches || !d.onboard && x%3 == 1:
			d.kind, m, letter = "switch", swModels[dr.IntN(len(swModels))], "S"
			d.fw = fmt.Sprintf("FL.10.%02d.%04d", 10+dr.IntN(5), 1000+dr.IntN(100))
		default:
			d.kind, m, letter = "gateway", gwModels[dr.IntN(len(gwModels))], "G"
			d.fw = fmt.Sprintf("10.%d.%d.%d_%d", 5+dr.IntN(2), dr.IntN(2), dr.IntN(3), 90000+dr.IntN(9000))
		}
		if !d.onboard {
			letter = "U" + letter
		}
		d.model, d.part = m[0], m[1]
		d.serial = fmt.Sprintf("%sT%s%07d", letter, ts.code, k)
		d.mac = fmt.Sprintf("02:%02X:%02X:%02X:%02X:%02X", ts.info.Index&0xFF, (ts.info.Index>>8)&0xFF, (k>>16)&0xFF, (k>>8)&0xFF, k&0xFF)
		d.name = fmt.Sprintf("%s-%s-%04d", strings.ToUpper(d.kind[:2]), strings.ToLower(ts.code), k)
		gn.devs = append(gn.devs, d)
	}
}

func lastSeen(d simDevice) time.Time { return baseTime.Add(-time.Duration(d.k%600) * time.Second) }

// site returns a device's site id and name ("" when it has none).
func (gn *generation) site(d simDevice) (string, string) {
	if !d.onboard || gn.info.Sites == 0 {
		return "", ""
	}
	return gn.siteIDs[d.site], gn.siteNames[d.site]
}

// deviceView is what every dataset shows of one device.
type deviceView struct {
	sid, sname, status, devType, ctype string
}

// deviceRecords adds one device's records to every dataset it appears in.
func (gn *generation) deviceRecords(d simDevice) {
	v := deviceView{status: "OFFLINE"}
	v.sid, v.sname = gn.site(d)
	if d.online {
		v.status = "ONLINE"
	}
	v.devType = map[string]string{"ap": "ACCESS_POINT", "switch": "SWITCH", "gateway": "GATEWAY"}[d.kind]
	v.ctype = "network-monitoring/" + map[string]string{"ap": "access-point", "switch": "switch", "gateway": "gateway"}[d.kind]
	if d.onboard {
		gn.monitoring(d, v)
	}
	tier, subKey := "", ""
	if d.subIdx >= 0 {
		subKey = gn.subKeys[d.subIdx]
		tier = "FOUNDATION"
	}
	prov := "No"
	if d.onboard {
		prov = "Yes"
	}
	gn.add(DatasetDeviceInventory, map[string]any{
		"id": d.serial, "type": "network-monitoring/device-inventory", "serialNumber": d.serial,
		"macAddress": d.mac, "deviceName": d.name, "deviceType": v.devType, "model": d.model,
		"partNumber": d.part, "status": v.status, "isProvisioned": prov, "subscriptionKey": subKey, "tier": tier,
		"siteId": v.sid, "siteName": v.sname, "firmwareVersion": d.fw, "deviceGroupName": "default",
	})
	gn.glpDevice(d)
}

// monitoring adds an onboarded device to devices and to aps, switches or
// gateways.
func (gn *generation) monitoring(d simDevice, v deviceView) {
	gn.add(DatasetDevices, map[string]any{
		"id": d.serial, "type": v.ctype, "serialNumber": d.serial, "macAddress": d.mac, "deviceName": d.name,
		"deviceType": v.devType, "model": d.model, "partNumber": d.part, "status": v.status, "ipv4": d.ip,
		"siteId": v.sid, "siteName": v.sname, "firmwareVersion": d.fw, "deployment": "Standalone",
		"role": "Member", "configStatus": "SYNCHRONIZED", "lastSeenAt": ts3339(lastSeen(d)),
		"uptimeInMillis": d.uptimeMs,
	})
	switch d.kind {
	case "ap":
		gn.add(DatasetAPs, map[string]any{
			"id": d.serial, "type": v.ctype, "serialNumber": d.serial, "macAddress": d.mac, "deviceName": d.name,
			"model": d.model, "partNumber": d.part, "status": v.status, "ipv4": d.ip, "siteId": v.sid,
			"siteName": v.sname, "firmwareVersion": d.fw, "clientCount": d.k % 40, "wlanCount": 1 + d.k%4,
			"deployment": "Standalone", "role": "AP", "lastSeenAt": ts3339(lastSeen(d)),
			"uptimeInMillis": d.uptimeMs, "cpuUtilization": d.k % 60, "memoryUtilization": 20 + d.k%50,
			"clusterName": "",
		})
	case "switch":
		gn.add(DatasetSwitches, map[string]any{
			"id": d.serial, "type": v.ctype, "serialNumber": d.serial, "macAddress": d.mac, "deviceName": d.name,
			"model": d.model, "partNumber": d.part, "status": v.status, "ipv4": d.ip, "siteId": v.sid,
			"siteName": v.sname, "firmwareVersion": d.fw, "switchType": "AOS-CX", "deployment": "Standalone",
			"lastSeenAt": float64(lastSeen(d).UnixMilli()), "uptimeInMillis": d.uptimeMs,
		})
	case "gateway":
		gs := "Offline"
		if d.online {
			gs = "Online"
		}
		gn.add(DatasetGateways, map[string]any{
			"id": d.serial, "type": v.ctype, "serialNumber": d.serial, "macAddress": d.mac, "deviceName": d.name,
			"cpuUtilization": float64(d.k%70) + 0.5, "memoryUtilization": float64(30+d.k%50) + 0.25,
			"siteId": v.sid, "siteName": v.sname, "firmwareVersion": d.fw, "ipAddress": d.ip,
			"uptimeInMillis": d.uptimeMs, "macRange": d.mac, "rebootReason": "Power cycle",
			"deviceFunction": "Branch Gateway", "mode": "Standalone", "status": gs, "role": "Leader",
			"model": d.model, "clusterName": "",
		})
	}
}

// glpDevice adds a device to the GLP devices dataset.
func (gn *generation) glpDevice(d simDevice) {
	glp := map[string]any{
		"id": d.uuid, "type": "devices/device", "serialNumber": d.serial, "macAddress": d.mac,
		"partNumber": d.part, "deviceType": map[string]string{"ap": "AP", "switch": "SWITCH", "gateway": "GATEWAY"}[d.kind],
		"deviceName": d.name, "model": d.model, "make": "HPE", "archived": false, "category": "NETWORK",
		"assignedState": "UNASSIGNED", "region": "us-west", "ownership": "MANAGED",
		"tenantWorkspaceId": gn.ts.info.HexID, "tags": map[string]string{}, "createdAt": ts3339(d.created),
		"updatedAt": ts3339(d.created.Add(72 * time.Hour)), "subscription": []any{},
	}
	if d.onboard {
		glp["assignedState"] = "ASSIGNED_TO_SERVICE"
		appID := dashed(fmt.Sprintf("%032x", hash64(gn.seed, "central-app")))
		glp["application"] = map[string]any{"id": appID, "resourceUri": "/service-catalog/v1/service-managers/" + appID}
	}
	if d.subIdx >= 0 {
		glp["subscription"] = []any{map[string]any{"id": gn.subIDs[d.subIdx], "key": gn.subKeys[d.subIdx],
			"resourceUri": "/subscriptions/v1/subscriptions/" + gn.subIDs[d.subIdx]}}
	}
	gn.add(DatasetGLPDevices, glp)
}

// sitesHealth builds the sites-health dataset from the devices per site.
func (gn *generation) sitesHealth() {
	for j := range gn.info.Sites {
		c := cities[j%len(cities)]
		var cnt, poor int
		for _, d := range gn.devs {
			if d.onboard && d.site == j {
				cnt++
				if !d.online {
					poor++
				}
			}
		}
		gn.add(DatasetSitesHealth, map[string]any{
			"id": gn.siteIDs[j], "type": "network-monitoring/site-health", "siteName": gn.siteNames[j],
			"address": map[string]string{"address": fmt.Sprintf("%d Main Street", j+1), "city": c[0], "state": c[1], "country": c[2], "zipCode": c[3]},
			"alerts":  map[string]any{"totalCount": poor, "groups": []any{map[string]any{"name": "Critical", "count": poor}}},
			"reasons": []any{},
			"health":  healthGroups(cnt, poor),
			"devices": map[string]any{"count": cnt, "health": healthGroups(cnt, poor)},
			"clients": map[string]any{"count": cnt * 7, "health": healthGroups(cnt*7, 0)},
		})
	}
}

// auditLogs builds both audit log datasets, newest first.
func (gn *generation) auditLogs() {
	ts, g, seed := gn.ts, gn.g, gn.seed
	cats := []string{"user_management", "device_management", "subscription_management", "authentication"}
	wsType := map[string]string{KindTenant: "TENANT", KindMSP: "MSP", KindStandalone: "STANDALONE"}[ts.kind]
	for j := range gn.info.AuditLogs {
		ar := newRand(seed, ts.info.HexID, "audit", strconv.FormatInt(g, 10), strconv.Itoa(j))
		at := baseTime.Add(-time.Duration(j)*37*time.Minute - time.Duration(ar.IntN(30))*time.Second)
		gn.add(DatasetAuditLogs, map[string]any{
			"id": uuidFrom(ar), "type": "audit-log/logs", "category": cats[j%len(cats)],
			"description": fmt.Sprintf("Simulated event %d for %s", j, ts.info.Name),
			"application": map[string]string{"id": "00000000-0000-0000-0000-000000000000"}, "region": "us-west",
			"user":      map[string]string{"username": fmt.Sprintf("admin%d@example.com", j%3)},
			"workspace": map[string]string{"id": ts.info.HexID, "workspaceName": ts.info.Name},
			"createdAt": ts3339(at), "updatedAt": ts3339(at), "generation": 1,
			"additionalInfo": map[string]string{"ipAddress": fmt.Sprintf("192.0.2.%d", 1+j%250)},
			"hasDetails":     j%2 == 0,
		})
		gn.add(DatasetAuditLogsV2, map[string]any{
			"id":   uuidFrom(newRand(seed, ts.info.HexID, "audit2", strconv.FormatInt(g, 10), strconv.Itoa(j))),
			"type": "audit-log/logs", "category": cats[j%len(cats)],
			"description": fmt.Sprintf("Simulated event %d for %s", j, ts.info.Name),
			"createdAt":   ts3339(at), "username": fmt.Sprintf("admin%d@example.com", j%3),
			"ipAddress": fmt.Sprintf("192.0.2.%d", 1+j%250), "hasDetails": j%2 == 0,
			"serviceOffer": map[string]string{"id": "00000000-0000-0000-0000-000000000000", "region": "us-west", "name": "HPE GreenLake"},
			"workspace":    map[string]string{"id": ts.info.ID, "name": ts.info.Name, "type": wsType},
		})
	}
}

func healthGroups(total, poor int) map[string]any {
	return map[string]any{"groups": []any{
		map[string]any{"name": "Poor", "value": poor},
		map[string]any{"name": "Fair", "value": 0},
		map[string]any{"name": "Good", "value": total - poor},
	}}
}
