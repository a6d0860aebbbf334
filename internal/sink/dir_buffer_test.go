package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"runtime"
	"testing"
)

// Small writes are gathered before reaching the file, a large one goes
// straight through after them; the committed file, its size and its hash
// are the bytes in the order written, and nothing is lost on Commit.
func TestDirObjectBufferedWrites(t *testing.T) {
	ctx := context.Background()
	d := NewDir(t.TempDir()).(*Dir)
	obj, err := d.Create(ctx, "a/b.ndjson.gz", "application/gzip")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	write := func(p []byte) {
		if n, err := obj.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: %d, %v", len(p), n, err)
		}
		want.Write(p)
	}
	for i := range 1000 {
		write(bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%300))
	}
	write(bytes.Repeat([]byte("L"), dirBufferSize+5))
	write([]byte("tail"))
	info, err := obj.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(d.Path("a/b.ndjson.gz"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(want.Bytes())
	if !bytes.Equal(got, want.Bytes()) || info.Bytes != int64(want.Len()) || info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("file %d bytes, info %+v; want %d bytes", len(got), info, want.Len())
	}
	if _, err := obj.Write([]byte("x")); err == nil {
		t.Fatal("write after Commit accepted")
	}
}

// Objects reuse their buffers: a collection commits thousands of small
// objects, and each must not cost a fresh buffer (nor see another's bytes).
func TestDirObjectsReuseBuffers(t *testing.T) {
	ctx := context.Background()
	d := NewDir(t.TempDir()).(*Dir)
	put := func(i int) {
		body := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i)
		if err := d.Put(ctx, "k/o.gz", body, ""); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(d.Path("k/o.gz")); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("object %d: %d bytes, %v; want %d", i, len(got), err, len(body))
		}
	}
	put(0)
	const n = 40
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		put(i + 1)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per >= dirBufferSize {
		t.Fatalf("%d bytes allocated per object, want less than its %d-byte buffer", per, dirBufferSize)
	}
}
