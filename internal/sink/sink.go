// Package sink is the one object store of the project: a local directory, an
// S3 bucket (through the AWS SDK) or memory, all with the same key layout.
// The collector streams its dataset objects and manifests into it, and the
// scale-out coordinator reads and writes its run objects (plan, shard
// manifests, continuations, the latest-run pointer) through the same Sink.
//
// Every object is written through Create, streamed with Write, and then either
// made visible with Commit or discarded with Abort. Readers never see a
// partial object: the directory sink renames a fully written temporary file,
// and the S3 sink completes (or, for small objects, only then sends) the
// upload, aborting the multipart upload otherwise.
package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Sink is an object store under a root (a directory, an S3 bucket and
// prefix, or memory). Keys are slash-separated and relative to that root.
type Sink interface {
	// Create starts a streamed object. The object is invisible until Commit.
	// ctx bounds the whole life of the object (the upload runs under it).
	Create(ctx context.Context, key string, contentType string) (Object, error)
	// Put writes a small object in one call, atomically.
	Put(ctx context.Context, key string, body []byte, contentType string) error
	// Get returns a small object's bytes, or an error matching ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the keys that start with prefix, sorted. Callers decide
	// existence by listing: without an unconditional s3:ListBucket, S3
	// answers a GET of a missing key with 403, not 404.
	List(ctx context.Context, prefix string) ([]string, error)
	// String describes the sink's root, e.g. "s3://bucket/prefix/" or a path.
	String() string
}

// Object is an object being written. Every object must end with Commit or
// Abort (the S3 sink runs an upload goroutine until then). Write is not safe
// for concurrent use; Abort may be called from any goroutine, and unblocks a
// Write waiting on the upload.
type Object interface {
	io.Writer
	// Commit makes the object visible and returns what was stored. After a
	// failed Commit nothing is visible.
	Commit(ctx context.Context) (Info, error)
	// Abort discards the object. It is a no-op after a successful Commit or
	// a previous Abort, so `defer obj.Abort(ctx)` is safe.
	Abort(ctx context.Context) error
}

// Info describes a committed object.
type Info struct {
	// Key is the key passed to Create, relative to the sink.
	Key string `json:"key"`
	// Location is where the object is: "s3://bucket/prefix/key" or a file path.
	Location string `json:"location"`
	// Bytes is the object's size.
	Bytes int64 `json:"bytes"`
	// SHA256 is the lowercase hex SHA-256 of the object's bytes.
	SHA256 string `json:"sha256"`
}

var (
	// ErrClosed is returned by Write and Commit after Commit or Abort.
	ErrClosed = errors.New("sink: object already committed or aborted")
	// ErrAborted is the cause seen by an upload that Abort stopped.
	ErrAborted = errors.New("sink: object aborted")
	// ErrNotFound is matched by Get errors for a missing key.
	ErrNotFound = errors.New("sink: object not found")
)

// KeyError reports a key that cannot be stored (empty, absolute, or with
// "." or ".." elements).
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string { return fmt.Sprintf("sink: invalid key %q: %s", e.Key, e.Reason) }

// checkKey validates a slash-separated relative key.
func checkKey(key string) error {
	switch {
	case key == "":
		return &KeyError{Key: key, Reason: "empty"}
	case strings.HasPrefix(key, "/"):
		return &KeyError{Key: key, Reason: "absolute"}
	case strings.HasSuffix(key, "/"):
		return &KeyError{Key: key, Reason: "ends with /"}
	case strings.Contains(key, "\\") || strings.ContainsRune(key, 0):
		return &KeyError{Key: key, Reason: "contains a backslash or NUL"}
	}
	for _, el := range strings.Split(key, "/") {
		if el == "" || el == "." || el == ".." {
			return &KeyError{Key: key, Reason: "empty, . or .. path element"}
		}
	}
	if path.Clean(key) != key {
		return &KeyError{Key: key, Reason: "not clean"}
	}
	return nil
}
