// Package classic is a client for the Classic Aruba Central API gateway, for
// tenants not yet migrated to New Central. It covers what PyCentral's
// ArubaCentralBase and get_conn_from_file offer, without their pitfalls:
//
//   - Config holds a central_info block (username, password, client_id,
//     client_secret, customer_id, base_url xor cluster_name, token) and
//     LoadConfig reads it from a YAML or JSON file like get_conn_from_file,
//     with the optional top-level token_store and ssl_verify keys.
//   - Tokens come from a TokenStore, else the configured token, else the
//     OAuth 3-step login (login, authorize, token exchange). A 401
//     invalid_token renews the token once, single-flight: a refresh with the
//     refresh token, falling back to a full login when the refresh is
//     rejected (invalid_grant). Refresh tokens rotate, so every new token is
//     persisted atomically (FileStore writes tok_<customer_id>_<client_id>.json
//     with mode 0600 and a rename).
//   - Command returns any HTTP status as a *central.Response, like PyCentral's
//     command(). A 429 with X-RateLimit-Remaining-second "0" waits and retries
//     (bounded, context-aware); X-RateLimit-Remaining-day "0" ends in a
//     *DailyQuotaError naming the limit and the next UTC midnight. Missing
//     headers are not an error. A client-side limiter keeps to 7 requests/s.
//   - WithTenant(customerID) returns a view sending the TenantID header of
//     Classic MSP calls; the views share the token, limiter and quota state.
//   - Pages and Items iterate over Classic offset/limit lists such as
//     /monitoring/v2/aps (key "aps") or /msp_api/v1/customers ("customers").
//
// Nothing here calls os.Exit: failures are typed errors (*LoginError,
// *ConfigError, *DailyQuotaError, *central.APIError). Passwords, client
// secrets and tokens never appear in logs, errors or String output.
package classic
