package sink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Dir is a Sink that writes files under a local directory, with keys mapped
// to relative paths. Objects are written to a hidden temporary file in the
// target directory and renamed into place (after fsync) on Commit.
type Dir struct {
	root string
}

var _ Sink = (*Dir)(nil)

// NewDir returns a sink rooted at the directory root (created on demand).
func NewDir(root string) Sink { return &Dir{root: root} }

// Root returns the sink's root directory.
func (d *Dir) Root() string { return d.root }

// String returns the root directory.
func (d *Dir) String() string { return d.root }

// Path returns the file path that key maps to.
func (d *Dir) Path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

// Create starts a file for key. contentType is ignored.
func (d *Dir) Create(ctx context.Context, key, contentType string) (Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	final := d.Path(key)
	f, err := createTempIn(filepath.Dir(final), "."+filepath.Base(final)+".tmp-")
	if err != nil {
		return nil, err
	}
	return &dirObject{key: key, final: final, f: f, h: sha256.New()}, nil
}

// createTempIn creates a temporary file in dir, creating dir only when it
// is missing: most objects go to a directory that exists.
func createTempIn(dir, prefix string) (*os.File, error) {
	f, err := createTemp(dir, prefix)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sink: creating directory: %w", err)
		}
		f, err = createTemp(dir, prefix)
	}
	if err != nil {
		return nil, fmt.Errorf("sink: creating temporary file: %w", err)
	}
	return f, nil
}

// Put writes body to key atomically.
func (d *Dir) Put(ctx context.Context, key string, body []byte, contentType string) error {
	obj, err := d.Create(ctx, key, contentType)
	if err != nil {
		return err
	}
	defer obj.Abort(context.WithoutCancel(ctx))
	if _, err := obj.Write(body); err != nil {
		return err
	}
	_, err = obj.Commit(ctx)
	return err
}

type dirObject struct {
	key, final string

	mu   sync.Mutex
	f    *os.File // nil once committed or aborted
	buf  []byte   // written, not yet in f
	h    hash.Hash
	n    int64
	werr error
}

// dirBufferSize is how much an object gathers before writing to its file:
// a gzip stream arrives in pieces of a few hundred bytes, and a system
// call for each would cost more CPU than compressing them.
const dirBufferSize = 32 << 10

// dirBuffers keeps the objects' buffers between objects: a collection
// commits thousands, and a fresh 32 KB buffer each was 3% of the
// collector's CPU at 1,000 tenants (allocating and clearing it, and the
// garbage collections it caused).
var dirBuffers = sync.Pool{New: func() any { b := make([]byte, 0, dirBufferSize); return &b }}

// release gives the object's buffer back; its bytes must be in the file.
func (o *dirObject) release() {
	if o.buf != nil {
		b := o.buf[:0]
		o.buf = nil
		dirBuffers.Put(&b)
	}
}

func (o *dirObject) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return 0, ErrClosed
	}
	if o.werr != nil {
		return 0, o.werr
	}
	if len(o.buf)+len(p) > dirBufferSize {
		if err := o.flush(); err != nil {
			return 0, err
		}
		if len(p) >= dirBufferSize {
			n, err := o.f.Write(p)
			o.h.Write(p[:n])
			o.n += int64(n)
			if err != nil {
				o.werr = fmt.Errorf("sink: writing %s: %w", o.key, err)
				return n, o.werr
			}
			return n, nil
		}
	}
	if o.buf == nil {
		o.buf = *dirBuffers.Get().(*[]byte)
	}
	o.buf = append(o.buf, p...)
	o.h.Write(p)
	o.n += int64(len(p))
	return len(p), nil
}

// flush writes the gathered bytes to the file; a failure is kept in werr.
func (o *dirObject) flush() error {
	if len(o.buf) == 0 {
		return nil
	}
	_, err := o.f.Write(o.buf)
	o.buf = o.buf[:0]
	if err != nil {
		o.werr = fmt.Errorf("sink: writing %s: %w", o.key, err)
		return o.werr
	}
	return nil
}

func (o *dirObject) Commit(ctx context.Context) (Info, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return Info{}, ErrClosed
	}
	f := o.f
	o.f = nil
	tmp := f.Name()
	fail := func(err error) (Info, error) {
		o.release()
		_ = f.Close()
		_ = os.Remove(tmp)
		return Info{}, err
	}
	if o.werr != nil {
		return fail(o.werr)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	o.f = f
	err := o.flush()
	o.f = nil
	o.release()
	if err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sink: syncing %s: %w", o.key, err))
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return Info{}, fmt.Errorf("sink: closing %s: %w", o.key, err)
	}
	if err := renameFile(tmp, o.final); err != nil {
		_ = os.Remove(tmp)
		return Info{}, fmt.Errorf("sink: renaming %s: %w", o.key, err)
	}
	syncDir(filepath.Dir(o.final))
	return Info{Key: o.key, Location: o.final, Bytes: o.n, SHA256: hex.EncodeToString(o.h.Sum(nil))}, nil
}

func (o *dirObject) Abort(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f == nil {
		return nil
	}
	f := o.f
	o.f = nil
	o.release()
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	if errors.Is(rerr, os.ErrNotExist) {
		rerr = nil
	}
	return errors.Join(cerr, rerr)
}

// Get returns the file's bytes, or an error matching ErrNotFound.
func (d *Dir) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(d.Path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d.Path(key), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sink: reading %s: %w", key, err)
	}
	return b, nil
}

// List returns the keys of the files under the root that start with prefix,
// sorted; temporary files of objects not yet committed are left out.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sink: listing %s: %w", d.root, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// condMu serialises the conditional writes of every directory sink in the
// process (a read-compare-rename must not interleave with another).
var condMu sync.Mutex

// GetVersion returns the file's bytes and their SHA-256 (hex) as the version,
// or an error matching ErrNotFound.
func (d *Dir) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	b, err := d.Get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	return b, contentVersion(b), nil
}

func contentVersion(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// PutIf writes data to key if cond holds. IfAbsent links a fully written
// temporary file into place, which fails if the file exists (atomic create);
// IfMatch compares the SHA-256 of the current file with the version under a
// process-wide lock, then renames a temporary file into place. The version
// is the SHA-256 of data.
func (d *Dir) PutIf(ctx context.Context, key string, data []byte, cond Cond) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	condMu.Lock()
	defer condMu.Unlock()
	final := d.Path(key)
	if cond.Match != "" {
		cur, err := os.ReadFile(final)
		if errors.Is(err, os.ErrNotExist) || err == nil && contentVersion(cur) != cond.Match {
			return "", fmt.Errorf("%s: %w", final, ErrPreconditionFailed)
		}
		if err != nil {
			return "", fmt.Errorf("sink: reading %s: %w", key, err)
		}
		if err := d.Put(ctx, key, data, ""); err != nil {
			return "", err
		}
		return contentVersion(data), nil
	}
	f, err := createTempIn(filepath.Dir(final), "."+filepath.Base(final)+".tmp-")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", fmt.Errorf("sink: writing %s: %w", key, werr)
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("%s: %w", final, ErrPreconditionFailed)
		}
		return "", fmt.Errorf("sink: creating %s: %w", key, err)
	}
	syncDir(filepath.Dir(final))
	return contentVersion(data), nil
}
