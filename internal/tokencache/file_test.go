package tokencache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDirBackend(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d := NewDir(root)
	name := prefix + "/shard-0000"
	if _, err := d.Get(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if names, err := d.List(ctx, prefix); err != nil || len(names) != 0 {
		t.Fatal(names, err)
	}
	if err := d.Put(ctx, name, []byte("one"), PutOptions{Create: true}); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, name, []byte("two"), PutOptions{Create: true}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	o, err := d.Get(ctx, name)
	if err != nil || string(o.Data) != "one" || o.Written.IsZero() {
		t.Fatal(o, err)
	}
	if err := d.Put(ctx, name, []byte("two"), PutOptions{PrevVersionID: o.VersionID}); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, name, []byte("three"), PutOptions{PrevVersionID: o.VersionID}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, prefix, "shard-0000.json")); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "../escape", []byte("x"), PutOptions{Create: true}); err == nil {
		t.Fatal("escaping name accepted")
	}
	entries, _ := os.ReadDir(filepath.Join(root, prefix))
	for _, e := range entries {
		if e.Name() != "shard-0000.json" {
			t.Errorf("left over %s", e.Name())
		}
	}
}

func TestRefresherAndReaderOnDir(t *testing.T) {
	ctx := context.Background()
	// File times come from the real clock, so the injected one starts after it.
	clk := newClock(refreshMoment())
	d := NewDir(t.TempDir())
	src := newFakeSource(clk.Now, 50)
	r := newTestRefresher(t, d, src, clk.Now)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := loadAll(t, d, prefix); len(got) != 50 {
		t.Fatalf("%d cached", len(got))
	}
	rd, _ := NewReader(ReaderOptions{Prefix: prefix, Backend: d, Now: clk.Now})
	for i := range 50 {
		if _, err := rd.TenantToken(ctx, tenantID(i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rd.MSPToken(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	res, err := r.Refresh(ctx)
	if err != nil || len(res.Written) != res.TenantSecrets+1 {
		t.Fatalf("%+v %v", res, err)
	}
}
