package centralsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MutateOptions says which changes Mutate makes to each chosen tenant.
// Counts are per tenant; a tenant with too few devices, sites or
// subscriptions gets fewer.
type MutateOptions struct {
	// Tenants are 32-hex (or dashed) ids; empty means every tenant.
	Tenants []string
	// Add new access points; Remove devices (from every dataset);
	// Move devices to another site; Refirmware devices; Renew
	// subscriptions (end date one year later); End started subscriptions.
	Add, Remove, Move, Refirmware, Renew, End int
	// Expire moves the end date of started subscriptions to 20 days after
	// the simulator's clock (Options.Now).
	Expire int
	// Alerts adds critical alerts and one degraded site to the tenant's
	// network-msp/v1/list-tenants entry (not a dataset record: no Change).
	Alerts int
}

// Change is one record-level change Mutate made: a record added (CREATE)
// or removed (DELETE) from a dataset, or one top-level field of a record
// changed (UPDATE, with the old and new value: strings as they are, other
// values as JSON text). Key is the record's natural id: serialNumber for
// device datasets, id for sites-health, key for subscriptions.
type Change struct {
	TenantHexID string
	Dataset     string
	Key         string
	Type        string // CREATE, UPDATE, DELETE
	Field       string // UPDATE only
	Old, New    string // UPDATE only
}

// deviceSets are the datasets holding one record per device.
var deviceSets = []string{DatasetDevices, DatasetAPs, DatasetSwitches, DatasetGateways, DatasetDeviceInventory, DatasetGLPDevices}

// naturalKey is the field identifying a record of a dataset.
func naturalKey(dataset string) string {
	switch dataset {
	case DatasetSitesHealth:
		return "id"
	case DatasetSubscriptions:
		return "key"
	}
	return "serialNumber"
}

// Mutate changes the data of the chosen tenants in place, as an operator
// would between two collections (devices added, removed, moved to another
// site, re-firmwared; subscriptions renewed or ended), and returns exactly
// the record changes it made, sorted by tenant, dataset, key, type and
// field. It is deterministic for a seed and a sequence of calls. The
// changes last until the tenant's data generation changes (Drift).
func (s *Server) Mutate(o MutateOptions) []Change {
	var states []*tenantState
	if len(o.Tenants) == 0 {
		states = s.tenants
	} else {
		for _, id := range o.Tenants {
			if ts := s.byHex[strings.ReplaceAll(strings.ToLower(id), "-", "")]; ts != nil && ts.kind == KindTenant {
				states = append(states, ts)
			}
		}
	}
	var out []Change
	for _, ts := range states {
		out = append(out, s.mutateTenant(ts, o)...)
		if o.Alerts > 0 {
			s.alertsMu.Lock()
			if s.alerts == nil {
				s.alerts = map[string]int{}
			}
			s.alerts[ts.info.Name] += o.Alerts
			s.alertsMu.Unlock()
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.TenantHexID, b.TenantHexID), cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Key, b.Key),
			cmp.Compare(a.Type, b.Type), cmp.Compare(a.Field, b.Field))
	})
	return out
}

// mutation edits one tenant's record sets and records the changes.
type mutation struct {
	hex     string
	sets    map[string][]json.RawMessage
	changes []Change
}

func decodeRec(b json.RawMessage) map[string]any {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

func renderVal(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func keyOf(m map[string]any, dataset string) string {
	s, _ := m[naturalKey(dataset)].(string)
	return s
}

// edit applies fn to the record of dataset with the key, recording each
// top-level field it changed.
func (mu *mutation) edit(dataset, key string, fn func(m map[string]any)) {
	for i, raw := range mu.sets[dataset] {
		m := decodeRec(raw)
		if keyOf(m, dataset) != key {
			continue
		}
		old := decodeRec(raw)
		fn(m)
		mu.sets[dataset][i] = mustJSON(m)
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			a, b := string(mustJSON(old[k])), string(mustJSON(m[k]))
			if a != b {
				mu.changes = append(mu.changes, Change{TenantHexID: mu.hex, Dataset: dataset, Key: key, Type: "UPDATE",
					Field: k, Old: renderVal(old[k]), New: renderVal(m[k])})
			}
		}
		return
	}
}

// remove deletes the record with the key from every device dataset.
func (mu *mutation) remove(key string) {
	for _, ds := range deviceSets {
		set := mu.sets[ds]
		for i, raw := range set {
			if keyOf(decodeRec(raw), ds) == key {
				mu.sets[ds] = slices.Delete(slices.Clone(set), i, i+1)
				mu.changes = append(mu.changes, Change{TenantHexID: mu.hex, Dataset: ds, Key: key, Type: "DELETE"})
				break
			}
		}
	}
}

// mutateTenant applies the options to one tenant's current snapshot and
// stores the result as the tenant's new snapshot. The random draws happen
// in a fixed order (devices, moves, new ids, subscriptions) so a seed
// always yields the same changes.
func (s *Server) mutateTenant(ts *tenantState, o MutateOptions) []Change {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	cur := ts.data.Load()
	if g := ts.gen.Load(); cur == nil || cur.gen != g {
		cur = s.generate(ts, g)
	}
	ts.mutations++
	r := newRand(s.opts.Seed, ts.info.HexID, "mutate", strconv.Itoa(ts.mutations))
	mu := &mutation{hex: ts.info.HexID, sets: make(map[string][]json.RawMessage, len(cur.sets))}
	for k, v := range cur.sets {
		mu.sets[k] = slices.Clone(v)
	}
	devs, sites := mu.onboarded()
	r.Shuffle(len(devs), func(i, j int) { devs[i], devs[j] = devs[j], devs[i] })
	take := func(n int) []mutDevice {
		n = min(n, len(devs))
		out := devs[:n]
		devs = devs[n:]
		return out
	}
	for _, d := range take(o.Remove) {
		mu.remove(d.serial)
	}
	if len(sites) >= 2 {
		for _, d := range take(o.Move) {
			mu.move(d, sites, r)
		}
	}
	for _, d := range take(o.Refirmware) {
		mu.refirmware(d, ts.mutations)
	}
	mu.addAPs(ts, o.Add, r)
	mu.subscriptions(o, r, s.now)
	ts.data.Store(&tenantData{gen: cur.gen, sets: mu.sets})
	return mu.changes
}

// mutDevice is an onboarded device and the kind dataset (access points,
// switches or gateways) that also holds its record.
type mutDevice struct{ serial, kindSet string }

// mutSite is a site that has devices; moves pick their target among them.
type mutSite struct{ id, name string }

// onboarded lists the devices of the devices dataset and the distinct
// sites they are in, in dataset order (the caller shuffles with its seed).
func (mu *mutation) onboarded() (devs []mutDevice, sites []mutSite) {
	for _, raw := range mu.sets[DatasetDevices] {
		m := decodeRec(raw)
		kindSet := map[string]string{"ACCESS_POINT": DatasetAPs, "SWITCH": DatasetSwitches, "GATEWAY": DatasetGateways}[renderVal(m["deviceType"])]
		devs = append(devs, mutDevice{keyOf(m, DatasetDevices), kindSet})
		st := mutSite{renderVal(m["siteId"]), renderVal(m["siteName"])}
		if st.id != "" && !slices.Contains(sites, st) {
			sites = append(sites, st)
		}
	}
	return devs, sites
}

// move puts the device in a random site other than its current one, in
// every dataset that carries the device's site. sites must hold at least
// two sites, or the draw would never end.
func (mu *mutation) move(d mutDevice, sites []mutSite, r *rand.Rand) {
	var from string
	for _, raw := range mu.sets[DatasetDevices] {
		if m := decodeRec(raw); keyOf(m, DatasetDevices) == d.serial {
			from = renderVal(m["siteId"])
		}
	}
	to := sites[r.IntN(len(sites))]
	for to.id == from {
		to = sites[r.IntN(len(sites))]
	}
	for _, ds := range []string{DatasetDevices, d.kindSet, DatasetDeviceInventory} {
		mu.edit(ds, d.serial, func(m map[string]any) { m["siteId"], m["siteName"] = to.id, to.name })
	}
}

// refirmware gives the device a new firmware version, unique to this
// mutation, in every dataset that reports its firmware.
func (mu *mutation) refirmware(d mutDevice, mutations int) {
	for _, ds := range []string{DatasetDevices, d.kindSet, DatasetDeviceInventory} {
		mu.edit(ds, d.serial, func(m map[string]any) {
			if fw := renderVal(m["firmwareVersion"]); fw != "" {
				m["firmwareVersion"] = fw + "-u" + strconv.Itoa(mutations)
			}
		})
	}
}

// addAPs adds n access points cloned from the tenant's first one (none if
// it has no access point), with serials, MACs and names derived from the
// mutation count so they never collide with generated or earlier ones.
func (mu *mutation) addAPs(ts *tenantState, n int, r *rand.Rand) {
	var tmpl string
	for _, raw := range mu.sets[DatasetAPs] {
		tmpl = keyOf(decodeRec(raw), DatasetAPs)
		break
	}
	if tmpl == "" {
		return
	}
	for i := range n {
		mu.addAP(ts, tmpl, ts.mutations*1000+i, r)
	}
}

// addAP clones the template access point's record in each dataset that
// lists access points, as device number n.
func (mu *mutation) addAP(ts *tenantState, tmpl string, n int, r *rand.Rand) {
	serial := fmt.Sprintf("AT%sN%06d", ts.code, n)
	mac := fmt.Sprintf("06:%02X:%02X:%02X:%02X:%02X", ts.info.Index&0xFF, (ts.info.Index>>8)&0xFF, (n>>16)&0xFF, (n>>8)&0xFF, n&0xFF)
	name := fmt.Sprintf("AP-%s-new%d", strings.ToLower(ts.code), n)
	for _, ds := range []string{DatasetDevices, DatasetAPs, DatasetDeviceInventory, DatasetGLPDevices} {
		for _, raw := range mu.sets[ds] {
			m := decodeRec(raw)
			if keyOf(m, ds) != tmpl {
				continue
			}
			m["serialNumber"], m["macAddress"], m["deviceName"] = serial, mac, name
			if ds == DatasetGLPDevices {
				m["id"] = uuidFrom(r)
			} else {
				m["id"] = serial
			}
			mu.sets[ds] = append(mu.sets[ds], mustJSON(m))
			mu.changes = append(mu.changes, Change{TenantHexID: mu.hex, Dataset: ds, Key: serial, Type: "CREATE"})
			break
		}
	}
}

// subscriptions renews random subscriptions, then ends and expires
// started ones; a subscription gets at most one of the three changes.
// Expiry is relative to now, the simulator's clock.
func (mu *mutation) subscriptions(o MutateOptions, r *rand.Rand, now func() time.Time) {
	var started, all []string
	for _, raw := range mu.sets[DatasetSubscriptions] {
		m := decodeRec(raw)
		all = append(all, keyOf(m, DatasetSubscriptions))
		if renderVal(m["subscriptionStatus"]) == "STARTED" {
			started = append(started, keyOf(m, DatasetSubscriptions))
		}
	}
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	renewed := all[:min(o.Renew, len(all))]
	for _, k := range renewed {
		mu.edit(DatasetSubscriptions, k, func(m map[string]any) {
			if t, err := time.Parse(time.RFC3339, renderVal(m["endTime"])); err == nil {
				m["endTime"] = ts3339(t.AddDate(1, 0, 0))
			}
		})
	}
	ended := pickStarted(started, o.End, renewed)
	for _, k := range ended {
		mu.edit(DatasetSubscriptions, k, func(m map[string]any) {
			m["subscriptionStatus"] = "ENDED"
			m["endTime"] = ts3339(baseTime.AddDate(0, 0, -1))
		})
	}
	for _, k := range pickStarted(started, o.Expire, slices.Concat(renewed, ended)) {
		mu.edit(DatasetSubscriptions, k, func(m map[string]any) {
			m["endTime"] = ts3339(now().AddDate(0, 0, 20).Truncate(time.Second))
		})
	}
}

// pickStarted returns up to n of the started keys, in order, skipping
// those in taken, so one subscription never gets two changes.
func pickStarted(started []string, n int, taken []string) []string {
	var out []string
	for _, k := range started {
		if len(out) == n {
			break
		}
		if !slices.Contains(taken, k) {
			out = append(out, k)
		}
	}
	return out
}

// withAlerts returns the list-tenants items with the alerts Mutate added.
func (s *Server) withAlerts(items []json.RawMessage) []json.RawMessage {
	s.alertsMu.Lock()
	defer s.alertsMu.Unlock()
	if len(s.alerts) == 0 {
		return items
	}
	out := make([]json.RawMessage, len(items))
	for i, raw := range items {
		out[i] = raw
		m := decodeRec(raw)
		add := s.alerts[renderVal(m["tenantName"])]
		if add == 0 {
			continue
		}
		num := func(v any) int { n, _ := strconv.Atoi(renderVal(v)); return n }
		if a, ok := m["alerts"].(map[string]any); ok {
			a["total"], a["critical"] = num(a["total"])+add, num(a["critical"])+add
		}
		m["degradedSites"] = min(num(m["degradedSites"])+1, num(m["totalSites"]))
		out[i] = mustJSON(m)
	}
	return out
}
