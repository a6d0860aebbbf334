// Package msp is MSP mode for HPE GreenLake Platform (GLP) and HPE Aruba
// Networking New Central: one set of unified MSP credentials makes MSP-level
// calls and opens tenant-scoped connections through the GLP token exchange
// (RFC 8693).
//
// It does what PyCentral's MSPBase and TenantBase do, call for call:
//
//	PyCentral                                      Go
//	MSPBase(token_info="msp_token.yaml")           msp.NewFromFile("msp_token.yaml")
//	MSPBase(token_info={...})                      msp.New(&central.Credentials{Unified: ...})
//	msp.command(api_method, api_path, ...)         m.Command(ctx, central.Request{...})
//	msp.get_tenant_id(tenant_name)                 m.TenantID(ctx, name)
//	msp.get_tenant_connection(tenant_workspace_id) m.Tenant(ctx, msp.ByID(id))
//	msp.get_tenant_connection(tenant_name)         m.Tenant(ctx, msp.ByName(name))
//	tenant_conn.command(...)                       conn.Command(ctx, central.Request{...})
//	msp.close_tenant_connection(id)                m.CloseTenant(id)
//	msp.close() / end of "with"                    m.Close()
//	(none)                                         m.Tenants(ctx): every tenant, all pages
//	(none)                                         m.ExchangeTenantToken(ctx, id)
//
// and fixes what they get wrong, above all under concurrency:
//
//   - Credentials without a "unified" block are refused with a clear
//     *UnifiedRequiredError (PyCentral fails later with KeyError('unified')).
//     Without cluster_name or base_url the MSP works in GLP-only mode, and
//     New Central calls fail with an error matching central.ErrAppNotConfigured.
//   - Tenant ids are normalised (dashes stripped) and must then be 32
//     hexadecimal characters; anything else is an *InvalidTenantIDError.
//   - Tenant connections are cached per id and opened once, with one token
//     exchange, however many goroutines ask at the same time.
//   - Tenant name lookups are cached for the life of the MSP, and their
//     failures are distinct errors: *TenantNotFoundError,
//     *AmbiguousTenantError and *TenantLookupError.
//   - Tokens are renewed before they expire (Options.EarlyExpiry). A 401 on a
//     tenant call invalidates the MSP token that minted the tenant token
//     (compare-and-invalidate), so ten tenants failing together renew the MSP
//     token once; the tenant token is exchanged again and the call retried
//     once. An exchange refused because of the MSP token (invalid_token,
//     token_expired, invalid_client) renews the MSP token and retries once;
//     any other failure is a *central.LoginError.
//   - Tenant tokens can come from an outside cache (TenantTokenStore), with
//     an exchange only when the cached token will not last
//     Options.MinTokenValidity.
//   - Tokens and secrets never reach logs or errors (PyCentral logs the whole
//     exchange response at DEBUG).
//
// A tenant connection (*TenantConn) is a *central.Client with a token source
// of its own: use it exactly like a pkg/central client for GLP and New Central
// calls, including central.Pages and central.Items through Client. All
// clients of one MSP share its HTTP client, logger and rate-limit budgets.
package msp
