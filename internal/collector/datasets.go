package collector

import (
	"fmt"
	"slices"
	"strings"

	"github.com/centralmsp/centralmsp/pkg/central"
)

// Dataset is one inventory list the collector reads for every tenant.
type Dataset struct {
	// Name is the dataset's name in keys, the manifest and metrics.
	Name string
	// App is the API the path belongs to.
	App central.App
	// Path is the list endpoint.
	Path string
	// Style is the endpoint's paging style.
	Style central.PageStyle
	// Limit is the page size requested.
	Limit int
	// Params are extra query parameters sent with every page (e.g. a filter).
	Params map[string]any
	// OptIn datasets are collected only when named, never by default
	// (audit-logs: event-driven audits, not the scheduled inventory).
	OptIn bool
	// Level says whether the dataset is read per tenant (LevelTenant, with
	// each tenant's token) or once per run for the whole MSP (LevelMSP,
	// with the MSP's token; see msplevel.go).
	Level Level
}

// Level is where a dataset is read from.
type Level int

const (
	// LevelTenant datasets are read for every tenant, one object each.
	LevelTenant Level = iota
	// LevelMSP datasets are read once per run with the MSP's token and
	// written as one object (MSPObjectKey), each record labelled with the
	// tenant it maps to.
	LevelMSP
)

// TenantHealthDataset is the MSP-level tenant list with health figures.
const TenantHealthDataset = "tenant-health"

// Key returns the object key of the dataset for a tenant (MSP-level
// datasets ignore tenantID: one object per run).
func (d Dataset) Key(date, runID, tenantID string) string {
	if d.Level == LevelMSP {
		return MSPObjectKey(d.Name, date, runID)
	}
	return ObjectKey(d.Name, date, runID, tenantID)
}

// Paths, paging styles and limits per HPE's API references: New Central
// monitoring (https://developer.arubanetworks.com/new-central/reference/) and
// GLP devices and subscriptions (https://developer.greenlake.hpe.com/docs/greenlake/services/).
var datasets = [...]Dataset{
	{Name: "devices", App: central.AppCentral, Path: "/network-monitoring/v1/devices", Style: central.CursorPaging, Limit: 1000},
	{Name: "device-inventory", App: central.AppCentral, Path: "/network-monitoring/v1/device-inventory", Style: central.CursorPaging, Limit: 1000},
	{Name: "aps", App: central.AppCentral, Path: "/network-monitoring/v1/aps", Style: central.CursorPaging, Limit: 1000},
	{Name: "switches", App: central.AppCentral, Path: "/network-monitoring/v1/switches", Style: central.CursorPaging, Limit: 1000},
	{Name: "gateways", App: central.AppCentral, Path: "/network-monitoring/v1/gateways", Style: central.CursorPaging, Limit: 1000},
	{Name: "sites-health", App: central.AppCentral, Path: "/network-monitoring/v1/sites-health", Style: central.OffsetPaging, Limit: 1000},
	{Name: "glp-devices", App: central.AppGLP, Path: "/devices/v1/devices", Style: central.OffsetPaging, Limit: 2000},
	{Name: "subscriptions", App: central.AppGLP, Path: "/subscriptions/v1/subscriptions", Style: central.OffsetPaging, Limit: 200},
	// GLP audit logs (HPE GreenLake audit log API): opt-in, filtered by Config.Params, e.g.
	// {"audit-logs": {"filter": "createdAt ge '2026-11-23T00:00:00Z'"}}.
	{Name: "audit-logs", App: central.AppGLP, Path: "/audit-log/v1/logs", Style: central.OffsetPaging, Limit: 2000, OptIn: true},
	// New Central's MSP-level tenant list with health figures (alerts,
	// degraded sites, device health): cursor paging, at most 100 a page,
	// MSP token only. Read once per run, before the tenants.
	{Name: TenantHealthDataset, App: central.AppCentral, Path: "/network-msp/v1/list-tenants", Style: central.CursorPaging, Limit: 100, Level: LevelMSP},
}

// Datasets returns every dataset the collector knows, in collection order.
func Datasets() []Dataset { return slices.Clone(datasets[:]) }

// DatasetNames returns the names of Datasets().
func DatasetNames() []string {
	names := make([]string, len(datasets))
	for i, d := range datasets {
		names[i] = d.Name
	}
	return names
}

// UnknownDatasetError reports a dataset name the collector does not know.
type UnknownDatasetError struct {
	Name  string
	Valid []string
}

func (e *UnknownDatasetError) Error() string {
	return fmt.Sprintf("collector: unknown dataset %q (valid: %s)", e.Name, strings.Join(e.Valid, ", "))
}

// SelectDatasets returns the tenant-level datasets named (in collection
// order, without duplicates); no names means all but the opt-in ones. Names
// are trimmed and case-insensitive, and empty names are ignored, so
// strings.Split of "aps, switches" works. MSP-level names are valid but not
// returned (SelectMSPDatasets returns them), so callers that plan, shard or
// defer per tenant never see a dataset that is not per tenant.
func SelectDatasets(names ...string) ([]Dataset, error) {
	all, err := selectAll(names)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(d Dataset) bool { return d.Level != LevelTenant }), nil
}

// SelectMSPDatasets returns the MSP-level datasets among those named, by
// the rules of SelectDatasets (no names: every MSP-level dataset not
// opt-in).
func SelectMSPDatasets(names ...string) ([]Dataset, error) {
	all, err := selectAll(names)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(d Dataset) bool { return d.Level != LevelMSP }), nil
}

// DatasetByName returns the dataset of that name.
func DatasetByName(name string) (Dataset, bool) {
	for _, d := range datasets {
		if d.Name == name {
			return d, true
		}
	}
	return Dataset{}, false
}

// selectAll is SelectDatasets over every level.
func selectAll(names []string) ([]Dataset, error) {
	want := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		if !slices.ContainsFunc(datasets[:], func(d Dataset) bool { return d.Name == n }) {
			return nil, &UnknownDatasetError{Name: n, Valid: DatasetNames()}
		}
		want[n] = true
	}
	if len(want) == 0 {
		var def []Dataset
		for _, d := range datasets {
			if !d.OptIn {
				def = append(def, d)
			}
		}
		return def, nil
	}
	var out []Dataset
	for _, d := range datasets {
		if want[d.Name] {
			out = append(out, d)
		}
	}
	return out, nil
}
