package central

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/centralmsp/centralmsp/internal/httpcore"
)

// RetryPolicy bounds and shapes retries. The zero value means the defaults.
//
// Retried: 429 (every method; the server did not act on the request), and for
// idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) also 5xx except 501,
// transport errors and 2xx bodies that are cut short or are not valid JSON.
// A 401 is handled apart: one token renewal and one retry.
type RetryPolicy struct {
	// MaxAttempts is the total number of HTTP attempts of one call, the 401
	// renewal retry not counted (default 5; 1 disables retries).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the exponential backoff with full jitter:
	// wait = Rand() * min(BaseDelay * 2^retry, MaxDelay). Defaults 250ms, 20s.
	BaseDelay, MaxDelay time.Duration
	// MaxWait bounds the total time one call spends waiting for retries and
	// rate-limit pauses (default 2m). A server hint beyond it ends the call.
	MaxWait time.Duration
	// Rand returns a number in [0,1) for the jitter (default math/rand/v2).
	// A func returning 0 makes backoff instantaneous in tests.
	Rand func() float64
	// Sleep waits d or until ctx ends (default: a timer). Tests inject it to
	// observe waits without sleeping. It is also used for budget waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// Quota is drawn on by every retry of a failure (default: a quota of
	// DefaultRetryQuota per Client; pkg/msp shares one per MSP). Share one
	// between clients that call the same API.
	Quota *RetryQuota
}

// DefaultRetryPolicy returns the defaults spelt out.
func DefaultRetryPolicy() RetryPolicy { return RetryPolicy{}.withDefaults() }

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 250 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 20 * time.Second
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 2 * time.Minute
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	if p.Sleep == nil {
		p.Sleep = httpcore.Sleep
	}
	return p
}

// Backoff returns the full-jitter wait before retry number retry (0-based).
func (p RetryPolicy) Backoff(retry int) time.Duration {
	p = p.withDefaults()
	return httpcore.JitterBackoff(p.Rand)(p.BaseDelay, p.MaxDelay, retry, nil)
}

// corePolicy is the policy of the shared retry loop (p has its defaults).
// A 503's Retry-After replaces the backoff.
func (p RetryPolicy) corePolicy(now func() time.Time) httpcore.Policy {
	jitter := httpcore.JitterBackoff(p.Rand)
	return httpcore.Policy{MaxAttempts: p.MaxAttempts, MaxWait: p.MaxWait, MinDelay: p.BaseDelay, MaxDelay: p.MaxDelay, Sleep: p.Sleep, Quota: p.Quota,
		Backoff: func(lo, hi time.Duration, attempt int, resp *Response) time.Duration {
			if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
				if ra, ok := parseReset(resp.Header.Get("Retry-After"), now()); ok {
					return max(ra.Sub(now()), 0)
				}
			}
			return jitter(lo, hi, attempt, resp)
		}}
}

func retryableStatus(code int) bool { return httpcore.RetryableStatus(code) }

// Retry quota defaults (the AWS SDKs' standard retryer uses the same).
const (
	// DefaultRetryQuota is the capacity of a client's retry quota.
	DefaultRetryQuota = httpcore.DefaultRetryQuota
	// RetryCost is what one retry takes from the quota; a retry after a
	// timeout takes RetryTimeoutCost.
	RetryCost        = httpcore.RetryCost
	RetryTimeoutCost = httpcore.RetryTimeoutCost
)

// RetryQuota is a token bucket that all calls sharing it draw on before they
// retry a failure (5xx, transport error, malformed body): RetryCost per
// retry, RetryTimeoutCost after a timeout. A call that succeeds gives back
// what its retries took, and a call that succeeds at once adds 1. When the
// API fails most calls the quota runs dry and calls fail at their first
// failure instead of each retrying for minutes, so a run against a dead
// API ends quickly and records its failures. 429 answers do not draw on it:
// they pause the budget instead (see Budgets).
//
// A RetryQuota is safe for concurrent use; pkg/msp shares one between the
// MSP client and all its tenant connections, and a pkg/classic client
// takes one in its Options.Retry. Take and Release are what the clients
// call; callers need only NewRetryQuota and Available.
type RetryQuota = httpcore.RetryQuota

// NewRetryQuota returns a full quota of the given capacity; capacity <= 0
// means no limit (every retry the RetryPolicy allows is made).
func NewRetryQuota(capacity int) *RetryQuota { return httpcore.NewRetryQuota(capacity) }
