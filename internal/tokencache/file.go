package tokencache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Dir is a Backend that keeps each object as a JSON file under a directory
// (object "p/shard-0001" is file "<root>/p/shard-0001.json"), for the CLI
// and the demo. Writes go to a temporary file that is renamed into place, so
// a reader never sees half a secret. Version checks are exact within one
// process; across processes the rename keeps files whole but the last
// writer wins.
type Dir struct {
	root string
	mu   sync.Mutex
}

var _ Backend = (*Dir)(nil)

// NewDir returns a file backend rooted at root (created on first write).
func NewDir(root string) *Dir { return &Dir{root: root} }

// String implements Backend.
func (d *Dir) String() string { return "dir:" + d.root }

func (d *Dir) path(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") || strings.Contains(name, `\`) {
		return "", fmt.Errorf("tokencache: invalid object name %q", name)
	}
	return filepath.Join(d.root, filepath.FromSlash(name)+".json"), nil
}

// List implements Backend.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.ToSlash(rel), ".json")
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tokencache: listing %s: %w", d.root, err)
	}
	slices.Sort(names)
	return names, nil
}

// Get implements Backend.
func (d *Dir) Get(ctx context.Context, name string) (*Object, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("tokencache: %s: %w", p, ErrNotFound)
		}
		return nil, fmt.Errorf("tokencache: reading %s: %w", p, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("tokencache: %w", err)
	}
	return &Object{Name: name, Data: data, VersionID: contentVersion(data), Written: fi.ModTime()}, nil
}

// Latest implements Backend.
func (d *Dir) Latest(ctx context.Context, name string) (*Latest, error) {
	o, err := d.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return &Latest{VersionID: o.VersionID, Written: o.Written}, nil
}

// Put implements Backend. The idempotency token is not kept.
func (d *Dir) Put(ctx context.Context, name string, data []byte, opts PutOptions) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !opts.Create {
			return fmt.Errorf("tokencache: %s vanished: %w", p, ErrConflict)
		}
	case err != nil:
		return fmt.Errorf("tokencache: reading %s: %w", p, err)
	case opts.Create:
		return fmt.Errorf("tokencache: %s exists: %w", p, ErrConflict)
	case opts.PrevVersionID != "" && contentVersion(cur) != opts.PrevVersionID:
		return fmt.Errorf("tokencache: %s changed: %w", p, ErrConflict)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("tokencache: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("tokencache: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tokencache: writing %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tokencache: %w", err)
	}
	return nil
}

func contentVersion(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:16])
}
