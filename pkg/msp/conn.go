package msp

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/centralmsp/centralmsp/pkg/central"
)

// TenantRef names a tenant by workspace id or by name; build it with ByID or
// ByName.
type TenantRef struct {
	id, name string
}

// ByID refers to a tenant by its GLP workspace id (dashes allowed).
func ByID(workspaceID string) TenantRef { return TenantRef{id: workspaceID} }

// ByName refers to a tenant by its workspace name, resolved with TenantID.
func ByName(name string) TenantRef { return TenantRef{name: name} }

// String returns the id or the quoted name.
func (r TenantRef) String() string {
	if r.name != "" {
		return fmt.Sprintf("%q", r.name)
	}
	return r.id
}

// TenantConn is a tenant-scoped connection: a *central.Client whose token is
// the MSP token exchanged for the tenant. It behaves exactly like a pkg/central
// client for GLP and New Central calls (New Central at the MSP's cluster). A
// 401 renews the MSP token, exchanges it again and retries the call once;
// tokens are also renewed before they expire.
//
// Obtain it from MSP.Tenant; it is safe for concurrent use.
type TenantConn struct {
	id     string
	msp    *MSP
	client *central.Client
	src    *tenantSource
}

// ID returns the tenant's normalised workspace id (32 hex characters).
func (t *TenantConn) ID() string { return t.id }

// Client returns the underlying client, for central.Pages and central.Items.
func (t *TenantConn) Client() *central.Client { return t.client }

// Command makes a tenant-scoped call, like PyCentral's tenant_conn.command:
// any HTTP status is a *central.Response. App "" is New Central.
func (t *TenantConn) Command(ctx context.Context, req central.Request) (*central.Response, error) {
	return t.client.Command(ctx, req)
}

// Do makes a tenant-scoped call and decodes a 2xx JSON body into out; other
// statuses are a *central.APIError.
func (t *TenantConn) Do(ctx context.Context, req central.Request, out any) (*central.Response, error) {
	return t.client.Do(ctx, req, out)
}

// HasApp reports whether calls to app are configured for this tenant.
func (t *TenantConn) HasApp(app central.App) bool { return t.client.HasApp(app) }

// Close evicts the connection from the MSP's cache (if it is still the cached
// one) and closes it. Unlike MSP.CloseTenant it is not an error to close a
// connection twice.
func (t *TenantConn) Close() error {
	t.msp.mu.Lock()
	if t.msp.tenants[t.id] == t {
		delete(t.msp.tenants, t.id)
	}
	t.msp.mu.Unlock()
	return t.client.Close()
}

// Tenant returns the connection for a tenant given by ByID or ByName. A name
// is resolved with TenantID (cached). The same id always returns the same
// *TenantConn until it is closed; a new connection exchanges its first token
// before it is returned, once however many goroutines ask for it together.
//
// Errors: ErrNoTenant for a zero TenantRef, *InvalidTenantIDError, the
// TenantID errors, *central.LoginError when the exchange fails, ErrClosed.
func (m *MSP) Tenant(ctx context.Context, ref TenantRef) (*TenantConn, error) {
	var id string
	var err error
	switch {
	case ref.name != "":
		id, err = m.TenantID(ctx, ref.name)
	case ref.id != "":
		id, err = NormalizeTenantID(ref.id)
	default:
		err = ErrNoTenant
	}
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	closed, c := m.closed, m.tenants[id]
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if c != nil {
		return c, nil
	}
	ch := m.opening.DoChan(id, func() (any, error) { return m.open(ctx, id) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*TenantConn), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// open creates, primes and caches a connection; run single-flight per id.
func (m *MSP) open(ctx context.Context, id string) (*TenantConn, error) {
	m.mu.Lock()
	c := m.tenants[id]
	m.mu.Unlock()
	if c != nil {
		// Opened by a flight that ended after our caller looked.
		return c, nil
	}
	src := newTenantSource(m, id)
	u := m.unified
	u.WorkspaceID = id
	u.TokenEndpoint = ""
	u.AccessToken = ""
	creds := &central.Credentials{Unified: &u, Source: fmt.Sprintf("%s (tenant %s)", m.creds.Source, id)}
	client, err := central.New(creds, m.clientOptions(src, id))
	if err != nil {
		return nil, fmt.Errorf("msp: tenant %s: %w", id, err)
	}
	c = &TenantConn{id: id, msp: m, client: client, src: src}
	// The first token, as PyCentral exchanges in get_tenant_connection. The
	// wait is detached from the first caller's cancellation, so callers
	// sharing this flight are not failed when it leaves.
	tctx, cancel := detach(ctx, lookupTimeout)
	defer cancel()
	if _, err := src.Token(tctx); err != nil {
		_ = client.Close()
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		_ = client.Close()
		return nil, ErrClosed
	}
	if prev := m.tenants[id]; prev != nil {
		_ = client.Close()
		return prev, nil
	}
	m.tenants[id] = c
	m.log.Debug("tenant connection opened", slog.String("tenant", id))
	return c, nil
}

// CloseTenant closes and evicts the cached connection of a tenant (dashes in
// the id are ignored). The next Tenant call for it exchanges a new token.
// A tenant without an open connection is an *UnknownTenantError.
func (m *MSP) CloseTenant(id string) error {
	nid, err := NormalizeTenantID(id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	c := m.tenants[nid]
	if c != nil {
		delete(m.tenants, nid)
	}
	m.mu.Unlock()
	if c == nil {
		return &UnknownTenantError{ID: nid}
	}
	if err := c.client.Close(); err != nil {
		m.log.Debug("closing tenant connection failed", slog.String("tenant", nid), slog.Any("error", err))
		return fmt.Errorf("msp: close tenant %s: %w", nid, err)
	}
	m.log.Info("tenant connection closed", slog.String("tenant", nid))
	return nil
}
