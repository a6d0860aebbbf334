package tokencache

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by a Backend for an object that does not exist.
var ErrNotFound = errors.New("tokencache: object not found")

// ErrConflict is returned by Backend.Put when another writer changed the
// object since it was read, or already used the idempotency token with other
// content. The write did not happen and should be skipped, not retried.
var ErrConflict = errors.New("tokencache: object was changed by another writer")

// Object is one stored cache object as read.
type Object struct {
	Name string
	Data []byte
	// VersionID identifies the stored version ("" when the store has none).
	VersionID string
	// Written is when the current version was created, from the store's
	// clock (zero when unknown).
	Written time.Time
}

// Latest describes the current version without its value.
type Latest struct {
	VersionID string
	// Written is the newest of the store's change dates (zero when unknown).
	Written time.Time
}

// PutOptions qualify a write.
type PutOptions struct {
	// Create means the object must not exist yet; a create of an existing
	// object fails with ErrConflict.
	Create bool
	// PrevVersionID is the version the writer read. Backends that can
	// compare versions atomically (Dir, Memory) fail with ErrConflict when
	// the current version differs; Secrets Manager cannot, so the Refresher
	// checks Latest right before it writes and relies on Token.
	PrevVersionID string
	// Token is an idempotency token (32-64 characters). Two writes with the
	// same token create at most one version; with different data the second
	// fails with ErrConflict.
	Token string
}

// Backend stores cache objects by name. Implementations are safe for
// concurrent use.
type Backend interface {
	// List returns the names of the objects whose name starts with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	// Get reads the current version of an object (ErrNotFound if absent).
	Get(ctx context.Context, name string) (*Object, error)
	// Latest reports the current version and its write date, right before a
	// write (ErrNotFound if absent).
	Latest(ctx context.Context, name string) (*Latest, error)
	// Put writes data as the new current version (creating the object when
	// opts.Create). It returns ErrConflict when the write lost a race.
	Put(ctx context.Context, name string, data []byte, opts PutOptions) error
	// String describes the store for logs ("secretsmanager", a directory).
	String() string
}
