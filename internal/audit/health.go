package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// TenantHealthPath is New Central's MSP-level tenant list with health
// figures (cursor paging, limit at most 100, MSP token).
const TenantHealthPath = "/network-msp/v1/list-tenants"

// tenantHealthItem is the part of a list-tenants item the audit uses.
type tenantHealthItem struct {
	TenantID      string `json:"tenantId"`
	TenantName    string `json:"tenantName"`
	TotalSites    int    `json:"totalSites"`
	DegradedSites int    `json:"degradedSites"`
	Alerts        struct {
		Total int `json:"total"`
	} `json:"alerts"`
}

// HealthMapping reports how list-tenants names matched GLP workspaces:
// Central's tenantId is not the GLP workspace id, so they are matched by
// name, and a name matching no workspace or several is reported.
type HealthMapping struct {
	Mapped    int      `json:"mapped"`
	Unmatched []string `json:"unmatched,omitempty"`
	Ambiguous []string `json:"ambiguous,omitempty"`
}

// maxHealthItems bounds the list read (10,000 tenants at most per MSP).
const maxHealthItems = 20000

// TenantHealthByWorkspace reads the MSP-level tenant health list once (one
// call per page of 100) and maps it to GLP workspace ids by name through
// tenants (the msp-tenants list).
func TenantHealthByWorkspace(ctx context.Context, c *central.Client, tenants []msp.Tenant) (map[string]TenantHealth, HealthMapping, error) {
	byName := map[string][]string{}
	for _, t := range tenants {
		byName[t.Name] = append(byName[t.Name], t.ID)
	}
	out := map[string]TenantHealth{}
	var hm HealthMapping
	spec := central.PageSpec{App: central.AppCentral, Path: TenantHealthPath, Style: central.CursorPaging, Limit: 100}
	n := 0
	for raw, err := range central.Items[json.RawMessage](ctx, c, spec) {
		if err != nil {
			return nil, hm, fmt.Errorf("audit: tenant health: %w", err)
		}
		if n++; n > maxHealthItems {
			return nil, hm, fmt.Errorf("audit: tenant health: more than %d tenants", maxHealthItems)
		}
		var it tenantHealthItem
		if err := json.Unmarshal(raw, &it); err != nil {
			continue
		}
		ids := byName[it.TenantName]
		name := capText(it.TenantName)
		switch len(ids) {
		case 0:
			hm.Unmatched = append(hm.Unmatched, name)
		case 1:
			out[ids[0]] = TenantHealth{Alerts: it.Alerts.Total, DegradedSites: it.DegradedSites}
			hm.Mapped++
		default:
			hm.Ambiguous = append(hm.Ambiguous, name+" ("+strings.Join(ids, ", ")+")")
		}
	}
	slices.Sort(hm.Unmatched)
	slices.Sort(hm.Ambiguous)
	return out, hm, nil
}
