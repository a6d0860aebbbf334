package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
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
