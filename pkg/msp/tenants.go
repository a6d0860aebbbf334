package msp

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/central"
)

// tenantsPath is the GLP list of the MSP's tenant workspaces
// (https://developer.arubanetworks.com/new-central/docs/msp-token-exchange, step 3).
const tenantsPath = "/workspaces/v1/msp-tenants"

// tenantsPageLimit is the largest page GLP serves for msp-tenants.
const tenantsPageLimit = 300

// DefaultMaxTenantPages is the tenant list's own page cap: 200 pages of 300
// are 60,000 tenants, far above any MSP, and far below the client's
// general MaxPages guard, so a server that keeps serving pages stops early.
const DefaultMaxTenantPages = 200

// lookupTimeout bounds a shared name lookup whose first caller had no deadline.
const lookupTimeout = 2 * time.Minute

// Tenant is one tenant workspace of the MSP.
type Tenant struct {
	// ID is the workspace id normalised for token exchange: dashes removed,
	// 32 lower-case hexadecimal characters.
	ID string `json:"id"`
	// WorkspaceID is the id exactly as GLP returned it (usually a UUID).
	WorkspaceID string `json:"workspaceId"`
	// Name is the tenant workspace name.
	Name string `json:"name"`
	// Ownership is GLP's inventoryOwnership: MSP_OWNED_INVENTORY or
	// CUSTOMER_OWNED_INVENTORY.
	Ownership string `json:"ownership"`
}

// tenantItem is one item of GET /workspaces/v1/msp-tenants.
type tenantItem struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	WorkspaceName      string `json:"workspaceName"`
	InventoryOwnership string `json:"inventoryOwnership"`
}

type tenantList struct {
	Items []tenantItem `json:"items"`
	Count int          `json:"count"`
	Total int          `json:"total"`
}

// NormalizeTenantID strips dashes from a tenant workspace id, as GLP's token
// exchange requires, and checks that 32 hexadecimal characters remain. The
// result is lower case. Anything else is an *InvalidTenantIDError quoting the
// value.
func NormalizeTenantID(id string) (string, error) {
	s := strings.ToLower(strings.ReplaceAll(id, "-", ""))
	if len(s) != 32 {
		return "", &InvalidTenantIDError{Value: id}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", &InvalidTenantIDError{Value: id}
		}
	}
	return s, nil
}

// Tenants iterates over every tenant of the MSP, reading all pages of
// GET /workspaces/v1/msp-tenants (300 per page, at most
// Options.MaxTenantPages pages). On a failed call it yields the error once
// and stops. A tenant whose id is not a valid workspace id is yielded with
// an *InvalidTenantIDError (and its WorkspaceID and Name set); iteration
// continues if the caller does.
//
// The list is untrusted: a tenant whose normalised id was listed already is
// logged (id only) and skipped, so every id is yielded once (the first
// occurrence wins); names are cut to termsafe.MaxName bytes; and a page that
// brings no id not seen before stops the list with a
// *central.PaginationError (the server ignores offset or loops).
func (m *MSP) Tenants(ctx context.Context) iter.Seq2[Tenant, error] {
	return func(yield func(Tenant, error) bool) {
		spec := central.PageSpec{
			App:      central.AppGLP,
			Path:     tenantsPath,
			Style:    central.OffsetPaging,
			Limit:    tenantsPageLimit,
			MaxPages: m.opts.MaxTenantPages,
		}
		if spec.MaxPages <= 0 {
			spec.MaxPages = DefaultMaxTenantPages
		}
		var ids TenantSet
		for pg, err := range central.Pages[tenantItem](ctx, m.client, spec) {
			if err != nil {
				yield(Tenant{}, fmt.Errorf("msp: list tenants: %w", err))
				return
			}
			fresh := 0
			for _, it := range pg.Items {
				t := Tenant{WorkspaceID: termsafe.Name(it.ID), Name: termsafe.Name(it.WorkspaceName), Ownership: termsafe.Name(it.InventoryOwnership)}
				id, err := NormalizeTenantID(it.ID)
				t.ID = id
				if err == nil {
					if !ids.Add(id) {
						m.dupTenants.Add(1)
						m.log.WarnContext(ctx, "duplicate tenant in the tenant list: keeping the first", "tenant_id", id)
						continue
					}
					fresh++
				} else {
					if !ids.AddRaw(it.ID) {
						m.dupTenants.Add(1)
						continue
					}
					fresh++
				}
				if !yield(t, err) {
					return
				}
			}
			if len(pg.Items) > 0 && fresh == 0 {
				yield(Tenant{}, fmt.Errorf("msp: list tenants: %w", &central.PaginationError{Path: tenantsPath, Page: pg.Number,
					Reason: fmt.Sprintf("the page at offset %d brings no tenant not listed before: the server ignores offset or serves a page again", pg.Offset)}))
				return
			}
		}
	}
}

// DuplicateTenants is how many repeated tenant ids Tenants has skipped
// over the MSP's life.
func (m *MSP) DuplicateTenants() int { return int(m.dupTenants.Load()) }

// TenantID resolves a tenant name to its normalised workspace id with
// GET /workspaces/v1/msp-tenants?filter=workspaceName eq '<name>'. Single
// quotes in the name are doubled as OData requires; other characters
// (spaces, non-ASCII letters) are sent as they are and URL-encoded.
//
// Results are cached for the life of the MSP, and concurrent lookups of one
// name share a single call. Errors are *TenantNotFoundError (no match),
// *AmbiguousTenantError (several matches), *TenantLookupError (a status other
// than 200 or a failed call) and *InvalidTenantIDError (GLP returned an id
// that is not a workspace id). Failures are not cached.
func (m *MSP) TenantID(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("msp: empty tenant name: %w", ErrNoTenant)
	}
	m.mu.Lock()
	id, ok := m.names[name]
	m.mu.Unlock()
	if ok {
		return id, nil
	}
	ch := m.lookups.DoChan(name, func() (any, error) {
		// A lookup that ended between this caller's cache check and
		// DoChan has already filled the cache: no second call.
		m.mu.Lock()
		id, ok := m.names[name]
		m.mu.Unlock()
		if ok {
			return id, nil
		}
		// The first caller's closure runs; its ctx is detached so that
		// callers sharing the lookup are not failed when it leaves.
		lctx, cancel := detach(ctx, lookupTimeout)
		defer cancel()
		id, err := m.lookupTenant(lctx, name)
		if err != nil {
			return "", err
		}
		m.mu.Lock()
		m.names[name] = id
		m.mu.Unlock()
		return id, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// lookupTenant makes the filtered msp-tenants call.
func (m *MSP) lookupTenant(ctx context.Context, name string) (string, error) {
	filter := "workspaceName eq '" + strings.ReplaceAll(name, "'", "''") + "'"
	var out tenantList
	resp, err := m.client.Do(ctx, central.Request{
		Method: http.MethodGet,
		Path:   tenantsPath,
		App:    central.AppGLP,
		Params: map[string]any{"filter": filter},
	}, &out)
	if err != nil {
		le := &TenantLookupError{Name: name, Err: err}
		if resp != nil {
			le.StatusCode = resp.StatusCode
		}
		return "", le
	}
	if resp.StatusCode != http.StatusOK {
		return "", &TenantLookupError{Name: name, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("unexpected status (want 200)")}
	}
	// GLP's filter is exact; keep only exact matches in case a server
	// applies it loosely.
	var ids []string
	for _, it := range out.Items {
		if it.WorkspaceName == name || it.WorkspaceName == "" {
			ids = append(ids, it.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", &TenantNotFoundError{Name: name}
	case 1:
		return NormalizeTenantID(ids[0])
	default:
		return "", &AmbiguousTenantError{Name: name, IDs: ids}
	}
}

// detach returns a context that carries ctx's values and deadline but not its
// cancellation, so work shared by several callers is not cut short when the
// first caller leaves. Without a deadline, max bounds it.
func detach(ctx context.Context, max time.Duration) (context.Context, context.CancelFunc) {
	d := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(d, dl)
	}
	return context.WithTimeout(d, max)
}
