// Package httpcore is the HTTP core shared by pkg/central and pkg/classic:
// request preparation (path, query parameters, body), the retry loop with
// swappable retry decisions (CheckRetry, Backoff, in the style of
// hashicorp/go-retryablehttp), the shared retry quota (RetryQuota, the AWS
// SDKs' model), size-capped body reading, call statistics, and the
// scrubbing of secrets from every answer an error is built from (Secrets).
//
// The clients keep what differs: where tokens come from, rate budgets,
// 401 and 429 handling and error types. They plug those in through Hooks.
package httpcore
