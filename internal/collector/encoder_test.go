package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestEncoderChunks: an object of several chunks, with an item bigger than
// a chunk and items that take appendRecord's path, decompresses to exactly
// the lines appendValidRecord writes, and an encoder reused for a second
// object starts a new gzip stream.
func TestEncoderChunks(t *testing.T) {
	meta := recordMeta(relabelTenant, "run-1")
	var items []json.RawMessage
	for i := range 3000 {
		items = append(items, json.RawMessage(fmt.Sprintf(`{"serialNumber":"SN%06d","model":"AP-%d","pad":%q}`, i, i%7, strings.Repeat("x", i%300))))
	}
	items = append(items, json.RawMessage(`{"big":"`+strings.Repeat("y", 3*encChunk)+`"}`),
		json.RawMessage("{\"_big\":\n\""+strings.Repeat("z", 2*encChunk)+`"}`),
		json.RawMessage("{\"_tenant_id\":\"spoof\",\n\"a\":\"\xff\"}"), json.RawMessage(`[1,2]`), json.RawMessage(`{ }`))
	var pool encoderPool
	for round := range 2 {
		var want, scratch bytes.Buffer
		var obj bytes.Buffer
		counted := &writeCounter{w: &obj}
		l := &lazyEncoder{pool: &pool, w: counted}
		for _, it := range items {
			if err := appendValidRecord(&want, &scratch, meta, relabelAt, it, false); err != nil {
				t.Fatal(err)
			}
			e := l.encoder()
			if err := e.record(meta, relabelAt, it, false); err != nil {
				t.Fatal(err)
			}
			if err := e.spill(); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.close(); err != nil {
			t.Fatal(err)
		}
		l.release()
		// The sink gets the stream in writes of encOut (gzip's own are
		// of 246 bytes), the last one shorter.
		if most := obj.Len()/encOut + 1; counted.writes > most {
			t.Errorf("round %d: %d bytes in %d writes, want at most %d", round, obj.Len(), counted.writes, most)
		}
		zr, err := gzip.NewReader(&obj)
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("round %d: %d bytes decompressed, want %d", round, len(got), want.Len())
		}
		if e := pool.free; len(e) != 1 || cap(e[0].buf) > 2*encChunk || e[0].line.Cap() > encChunk || e[0].tmp.Cap() > encChunk {
			t.Fatalf("round %d: pool %d encoders, buffers %d %d %d", round, len(e), cap(e[0].buf), e[0].line.Cap(), e[0].tmp.Cap())
		}
	}
}

type writeCounter struct {
	w      io.Writer
	writes int
}

func (c *writeCounter) Write(p []byte) (int, error) { c.writes++; return c.w.Write(p) }

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// TestEncoderWriteError: the object's write error comes out of spill (or
// close) as it is, never as an item's error.
func TestEncoderWriteError(t *testing.T) {
	boom := errors.New("boom")
	cw := &countingWriter{w: failWriter{boom}, key: "k"}
	var pool encoderPool
	l := &lazyEncoder{pool: &pool, w: cw}
	defer l.release()
	meta := recordMeta(relabelTenant, "run-1")
	item := json.RawMessage(`{"pad":"` + strings.Repeat("z", 1000) + `"}`)
	var err error
	for i := 0; err == nil && i < 10*encChunk/len(item); i++ {
		if err = l.encoder().record(meta, relabelAt, item, true); err != nil {
			t.Fatalf("item error %v", err)
		}
		err = l.encoder().spill()
	}
	if err == nil {
		err = l.close()
	}
	var se *SinkError
	if !errors.As(err, &se) || !errors.Is(err, boom) {
		t.Fatalf("got %v, want the sink's error", err)
	}
}
