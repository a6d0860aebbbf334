package httpcore

import (
	"context"
	"sync/atomic"
)

// CallStats counts what calls cost (pkg/central.CallStats).
type CallStats struct {
	Requests     atomic.Int64 // HTTP attempts sent
	Retries      atomic.Int64 // attempts re-sent after 429, 5xx, transport or body errors
	RateLimited  atomic.Int64 // 429 answers
	Unauthorized atomic.Int64 // 401 answers
	Wait         atomic.Int64 // nanoseconds spent waiting (budgets, backoff)
}

type statsKey struct{}

// WithCallStats returns a context whose calls are counted in s.
func WithCallStats(ctx context.Context, s *CallStats) context.Context {
	return context.WithValue(ctx, statsKey{}, s)
}

// CallStatsFrom returns the CallStats attached to ctx, or nil.
func CallStatsFrom(ctx context.Context) *CallStats {
	s, _ := ctx.Value(statsKey{}).(*CallStats)
	return s
}

func (s *CallStats) request() {
	if s != nil {
		s.Requests.Add(1)
	}
}

func (s *CallStats) retry() {
	if s != nil {
		s.Retries.Add(1)
	}
}

func (s *CallStats) wait(n int64) {
	if s != nil && n != 0 {
		s.Wait.Add(n)
	}
}

func (s *CallStats) rateLimited() {
	if s != nil {
		s.RateLimited.Add(1)
	}
}

func (s *CallStats) unauthorized() {
	if s != nil {
		s.Unauthorized.Add(1)
	}
}
