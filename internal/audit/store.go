package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/centralmsp/centralmsp/internal/sink"
)

// ErrNotFound is matched by Store.Get errors for a missing object.
var ErrNotFound = errors.New("audit: object not found")

// Store reads back the small state objects the Auditor wrote (baselines and
// finding states), from the same root as its sink.
type Store interface {
	// Get returns the object, at most max bytes of it (more is an error),
	// or an error matching ErrNotFound.
	Get(ctx context.Context, key string, max int64) ([]byte, error)
}

// SinkStore reads objects back through the sink that wrote them (any
// sink.Sink: directory, memory or S3), failing for objects over max bytes.
type SinkStore struct{ Sink sink.Sink }

// Get implements Store.
func (s SinkStore) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	b, err := s.Sink.Get(ctx, key)
	if errors.Is(err, sink.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("audit: %s is larger than %d bytes", key, max)
	}
	return b, nil
}
