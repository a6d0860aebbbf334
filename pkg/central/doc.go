// Package central is the SDK core of centralmsp: a Go client for HPE Aruba
// Networking New Central and the HPE GreenLake Platform (GLP).
//
// It does what PyCentral's NewCentralBase does and more:
//
//   - Credentials: the new_central, glp and unified blocks, loaded from a Go
//     value, a YAML or JSON file, or bytes, validated with PyCentral's rules
//     (see [LoadCredentials], [ParseCredentials], [Credentials.Validate]).
//   - Tokens: client credentials against the unified per-workspace issuer or the
//     HPE SSO endpoint, access-token-only mode, proactive renewal before expiry,
//     renewal on 401 with exactly one retry, single-flight refresh shared by all
//     goroutines ([CachedSource], [ClientCredentials], [ExchangeToken]).
//   - Calls: a PyCentral-style [Client.Command] that returns any HTTP status as a
//     [Response], and a typed [Client.Do] that turns failures into [*APIError].
//   - Retries honouring GLP ratelimit-reset, Central X-RateLimit-Reset and
//     Retry-After, exponential backoff with full jitter otherwise, bounded in
//     attempts and total wait, always respecting the context ([RetryPolicy]).
//   - Client-side budgets: token buckets per API budget and scope, shared by
//     every client that shares a [*Budgets] ([DefaultBudgets]).
//   - Pagination: [Pages] and [Items] for cursor and offset paging, with guards
//     against repeated cursors and endless paging.
//
// Tokens, secrets and Authorization headers never appear in logs or errors.
package central
