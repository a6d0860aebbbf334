package httpcore

import "sync"

// Retry quota defaults (the AWS SDKs' standard retryer uses the same).
const (
	// DefaultRetryQuota is the capacity of a client's retry quota.
	DefaultRetryQuota = 500
	// RetryCost is what one retry takes from the quota; a retry after a
	// timeout takes RetryTimeoutCost.
	RetryCost        = 5
	RetryTimeoutCost = 10
)

// RetryQuota is a token bucket that all calls sharing it draw on before they
// retry a failure (5xx, transport error, malformed body): RetryCost per
// retry, RetryTimeoutCost after a timeout. A call that succeeds gives back
// what its retries took, and a call that succeeds at once adds 1. When the
// API fails most calls the quota runs dry and calls fail at their first
// failure instead of each retrying for minutes, so a run against a dead
// API ends quickly and records its failures. 429 answers do not draw on it:
// they pause the budget instead.
//
// A RetryQuota is safe for concurrent use; pkg/msp shares one between the
// MSP client and all its tenant connections.
type RetryQuota struct {
	mu              sync.Mutex
	capacity, avail int
}

// NewRetryQuota returns a full quota of the given capacity; capacity <= 0
// means no limit (every retry the RetryPolicy allows is made).
func NewRetryQuota(capacity int) *RetryQuota {
	return &RetryQuota{capacity: capacity, avail: capacity}
}

// Available returns the tokens left (capacity <= 0: 0, unlimited).
func (q *RetryQuota) Available() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.avail
}

// Take removes cost tokens, or reports false when fewer are left. The
// clients call it before each retry of a failure.
func (q *RetryQuota) Take(cost int) bool {
	if q == nil || q.capacity <= 0 {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.avail < cost {
		return false
	}
	q.avail -= cost
	return true
}

// Release returns n tokens, up to the capacity. The clients call it when a
// call succeeds.
func (q *RetryQuota) Release(n int) {
	if q == nil || q.capacity <= 0 {
		return
	}
	q.mu.Lock()
	q.avail = min(q.capacity, q.avail+n)
	q.mu.Unlock()
}
