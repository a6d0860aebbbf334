package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCheckKey(t *testing.T) {
	good := []string{"a", "a/b.ndjson.gz", "inventory/dataset=aps/dt=2026-11-23/run=r1/tenant=x.ndjson.gz"}
	bad := []string{"", "/a", "a/", "a//b", "./a", "a/../b", "..", "a\\b", "a/./b"}
	for _, k := range good {
		if err := checkKey(k); err != nil {
			t.Errorf("checkKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range bad {
		var ke *KeyError
		if err := checkKey(k); !errors.As(err, &ke) {
			t.Errorf("checkKey(%q) = %v, want *KeyError", k, err)
		}
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// listFiles returns every regular file under root, relative and slash-separated.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func TestDirCommit(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	s := NewDir(root)
	key := "inventory/dataset=aps/dt=2026-11-23/run=r1/tenant=t1.ndjson.gz"
	obj, err := s.Create(ctx, key, "application/gzip")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	for chunk := range slices.Chunk(data, 4096) {
		if _, err := obj.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// Invisible before Commit: only the hidden temporary file exists.
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(key))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("object visible before Commit: %v", err)
	}
	info, err := obj.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != key || info.Bytes != int64(len(data)) || info.SHA256 != sum(data) {
		t.Fatalf("info = %+v", info)
	}
	got, err := os.ReadFile(info.Location)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v, equal=%v", err, bytes.Equal(got, data))
	}
	if files := listFiles(t, root); len(files) != 1 || files[0] != key {
		t.Fatalf("files = %v, want only %s", files, key)
	}
	if _, err := obj.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Commit = %v, want ErrClosed", err)
	}
	if _, err := obj.Commit(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Commit = %v, want ErrClosed", err)
	}
	if err := obj.Abort(ctx); err != nil {
		t.Fatalf("Abort after Commit = %v, want nil (no-op)", err)
	}
	if _, err := os.Stat(info.Location); err != nil {
		t.Fatalf("Abort after Commit removed the object: %v", err)
	}
}

func TestDirAbortLeavesNothing(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	s := NewDir(root)
	obj, err := s.Create(ctx, "a/b/c.txt", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obj.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := obj.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := obj.Abort(ctx); err != nil {
		t.Fatalf("second Abort = %v", err)
	}
	if files := listFiles(t, root); len(files) != 0 {
		t.Fatalf("files after Abort = %v", files)
	}
	if _, err := obj.Commit(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Abort = %v", err)
	}
}

func TestDirCommitCancelled(t *testing.T) {
	root := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	obj, err := NewDir(root).Create(ctx, "k", "")
	if err != nil {
		t.Fatal(err)
	}
	obj.Write([]byte("x"))
	cancel()
	if _, err := obj.Commit(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit = %v, want context.Canceled", err)
	}
	if files := listFiles(t, root); len(files) != 0 {
		t.Fatalf("files = %v", files)
	}
}

func TestDirPutAndBadKey(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	s := NewDir(root)
	if err := s.Put(ctx, "runs/r1/manifest.json", []byte(`{}`), "application/json"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "runs", "r1", "manifest.json")); string(b) != "{}" {
		t.Fatalf("got %q", b)
	}
	// Overwrite is atomic and allowed.
	if err := s.Put(ctx, "runs/r1/manifest.json", []byte(`{"a":1}`), ""); err != nil {
		t.Fatal(err)
	}
	var ke *KeyError
	if _, err := s.Create(ctx, "../escape", ""); !errors.As(err, &ke) {
		t.Fatalf("Create(../escape) = %v", err)
	}
	if files := listFiles(t, root); len(files) != 1 {
		t.Fatalf("files = %v", files)
	}
}

func TestMemory(t *testing.T) {
	ctx := t.Context()
	m := NewMemory()
	o, _ := m.Create(ctx, "a", "text/plain")
	o.Write([]byte("hello"))
	info, err := o.Commit(ctx)
	if err != nil || info.Bytes != 5 || info.SHA256 != sum([]byte("hello")) {
		t.Fatalf("%+v %v", info, err)
	}
	o2, _ := m.Create(ctx, "b", "")
	o2.Write([]byte("x"))
	o2.Abort(ctx)
	if keys := m.Keys(); len(keys) != 1 || keys[0] != "a" {
		t.Fatalf("keys = %v", keys)
	}
	if ab := m.Aborted(); len(ab) != 1 || ab[0] != "b" {
		t.Fatalf("aborted = %v", ab)
	}
	if m.ContentType("a") != "text/plain" {
		t.Fatal("content type")
	}
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for _, target := range []string{dir, "file://" + dir} {
		s, err := Open(ctx, target, false)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := s.(*Dir); !ok || d.Root() != dir {
			t.Fatalf("Open(%q) = %#v", target, s)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	for target, want := range map[string][2]string{
		"s3://bkt":           {"bkt", ""},
		"s3://bkt/":          {"bkt", ""},
		"s3://bkt/msp":       {"bkt", "msp/"},
		"s3://bkt/msp/prod/": {"bkt", "msp/prod/"},
		"s3://bkt/msp//x":    {"bkt", "msp//x/"},
	} {
		s, err := Open(ctx, target, true)
		if err != nil {
			t.Fatal(err)
		}
		s3s, ok := s.(*S3)
		if !ok || s3s.Bucket() != want[0] || s3s.Prefix() != want[1] {
			t.Fatalf("Open(%q) = %v", target, s)
		}
	}
	for _, bad := range []string{"", "s3://", "s3:///x", "gs://b/p"} {
		if _, err := Open(ctx, bad, false); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}
