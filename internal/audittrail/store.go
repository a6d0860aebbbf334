package audittrail

import (
	"context"

	"github.com/centralmsp/centralmsp/internal/sink"
)

// Store keeps small objects (the watermarks) with conditional writes.
type Store interface {
	// Get returns the object and its version token, or ErrNotExist.
	Get(ctx context.Context, key string) (body []byte, version string, err error)
	// Put writes the object only if its current version is match, or, when
	// match is "", only if it does not exist; otherwise it returns
	// ErrConflict and writes nothing. It returns the new version.
	Put(ctx context.Context, key string, body []byte, match string) (version string, err error)
}

var (
	// ErrNotExist: no object at the key (the sink's ErrNotFound).
	ErrNotExist = sink.ErrNotFound
	// ErrConflict: the object changed since it was read (or exists, for a
	// create); another run wrote it (the sink's ErrPreconditionFailed).
	ErrConflict = sink.ErrPreconditionFailed
)

// SinkStore is the Store on the one object store: the watermarks are objects
// of a conditional sink (S3, a directory or memory), read with their version
// and written with PutIf.
type SinkStore struct {
	Sink sink.Conditional
}

// Get implements Store.
func (s SinkStore) Get(ctx context.Context, key string) ([]byte, string, error) {
	return s.Sink.GetVersion(ctx, key)
}

// Put implements Store.
func (s SinkStore) Put(ctx context.Context, key string, body []byte, match string) (string, error) {
	return s.Sink.PutIf(ctx, key, body, sink.Cond{Match: match})
}
