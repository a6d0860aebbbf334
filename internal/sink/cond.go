package sink

import (
	"context"
	"errors"
)

// Conditional is implemented by the sinks that can write a small object only
// if it is absent or unchanged since it was read (the S3, directory and
// memory sinks). It keeps state that concurrent runs update, such as the
// audit trail's watermarks.
type Conditional interface {
	Sink
	// GetVersion returns a small object's bytes and its version token, or
	// an error matching ErrNotFound.
	GetVersion(ctx context.Context, key string) (data []byte, version string, err error)
	// PutIf writes data at key only if cond holds, atomically, and returns
	// the new version; otherwise it writes nothing and returns an error
	// matching ErrPreconditionFailed.
	PutIf(ctx context.Context, key string, data []byte, cond Cond) (version string, err error)
}

// Cond is the condition of a PutIf: IfAbsent or IfMatch.
type Cond struct {
	// Match is the version the object must have; "" means it must not exist.
	Match string
}

// IfAbsent is the condition that the object does not exist.
func IfAbsent() Cond { return Cond{} }

// IfMatch is the condition that the object exists with version.
func IfMatch(version string) Cond { return Cond{Match: version} }

// ErrPreconditionFailed is matched by PutIf errors when the condition did
// not hold (the object exists, is missing, or was changed by another writer).
var ErrPreconditionFailed = errors.New("sink: precondition failed: the object was changed by another writer")

var (
	_ Conditional = (*S3)(nil)
	_ Conditional = (*Dir)(nil)
	_ Conditional = (*Memory)(nil)
)
