package collector

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// encChunk is how much NDJSON an object's encoder gathers before gzip
// compresses it. Records are a few hundred bytes: handed to gzip one by
// one, each pays the writer's per-call work and, between pages, the
// compressor's tables go cold in the CPU caches while the next page is
// fetched and scanned. One large write per chunk compresses at the speed
// of gzip alone (the floor of BenchmarkCPUPerRecord). 64 KB chunks cost
// no more CPU than 256 KB ones (three interleaved pairs of that
// benchmark, 1.97-2.06x the floor against 1.96-2.41x) and hold 168 KB
// less in every dataset being written (TestStreamMemory).
const encChunk = 64 << 10

// encOut is the size of the buffer between gzip and the object. gzip
// hands its output on every 246 bytes; each hand-on is a call into the
// sink (a lock, a hash update, and for S3 a pipe hand-off to the
// uploading goroutine), so the output is gathered into writes of encOut.
const encOut = 64 << 10

// encoder gathers one object's records and compresses them: the gzip
// writer (about 800 KB of state), its buffered output and the pending
// NDJSON.
type encoder struct {
	zw   *gzip.Writer
	out  *bufio.Writer
	buf  []byte
	line bytes.Buffer // a record written by appendRecord
	tmp  bytes.Buffer // appendRecord's scratch
}

// encoderPool keeps the run's idle encoders. At most Concurrency are in
// use at once, so it never holds more; unlike a sync.Pool it keeps them
// across garbage collections, which would otherwise allocate and clear
// the gzip state again.
type encoderPool struct {
	mu   sync.Mutex
	free []*encoder
}

func (p *encoderPool) get() *encoder {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		e := p.free[n-1]
		p.free = p.free[:n-1]
		return e
	}
	zw, _ := gzip.NewWriterLevel(io.Discard, GzipLevel) // a valid level: no error
	return &encoder{zw: zw, out: bufio.NewWriterSize(io.Discard, encOut), buf: make([]byte, 0, encChunk)}
}

func (p *encoderPool) put(e *encoder) {
	if cap(e.buf) > 2*encChunk { // grown by one huge item: do not keep it
		e.buf = make([]byte, 0, encChunk)
	}
	if e.line.Cap() > encChunk || e.tmp.Cap() > encChunk {
		e.line, e.tmp = bytes.Buffer{}, bytes.Buffer{}
	}
	e.buf = e.buf[:0]
	e.zw.Reset(io.Discard) // detached, so the pool does not keep the object alive
	e.out.Reset(io.Discard)
	p.mu.Lock()
	p.free = append(p.free, e)
	p.mu.Unlock()
}

// lazyEncoder is an object's encoder onto w, taken from the run's pool
// when the first page has arrived, not before: a tenant waiting for its
// first page (e.g. for a budget) holds none, so memory follows the pages
// being written, not the tenants in flight.
type lazyEncoder struct {
	pool *encoderPool
	w    io.Writer
	enc  *encoder
}

// encoder returns the encoder, taking it on first use.
func (l *lazyEncoder) encoder() *encoder {
	if l.enc == nil {
		l.enc = l.pool.get()
		l.enc.out.Reset(l.w)
		l.enc.zw.Reset(l.enc.out)
	}
	return l.enc
}

// close compresses what is pending, ends the gzip stream and writes
// the rest of it to the object.
func (l *lazyEncoder) close() error {
	e := l.encoder()
	if err := e.flush(); err != nil {
		return err
	}
	if err := e.zw.Close(); err != nil {
		return err
	}
	return e.out.Flush()
}

// release returns the encoder, if taken, to the pool.
func (l *lazyEncoder) release() {
	if l.enc != nil {
		l.pool.put(l.enc)
		l.enc = nil
	}
}

// record adds one item's NDJSON line (see appendValidRecord); its error
// is the item's. spill then compresses.
func (e *encoder) record(meta []byte, at string, item json.RawMessage, clean bool) error {
	var err error
	e.buf, err = e.appendValid(e.buf, meta, at, item, clean)
	return err
}

// spill compresses the pending lines once they reach encChunk; its error
// is the object's writer's.
func (e *encoder) spill() error {
	if len(e.buf) < encChunk {
		return nil
	}
	return e.flush()
}

// flush compresses the pending lines.
func (e *encoder) flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	_, err := e.zw.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// appendValid appends item's line to dst as appendValidRecord writes it.
func (e *encoder) appendValid(dst []byte, meta []byte, at string, item json.RawMessage, clean bool) ([]byte, error) {
	if b, ok := appendOneLine(dst, meta, at, item, clean); ok {
		return b, nil
	}
	e.line.Reset()
	if err := appendRecord(&e.line, &e.tmp, meta, at, item); err != nil {
		return dst, err
	}
	return append(dst, e.line.Bytes()...), nil
}
