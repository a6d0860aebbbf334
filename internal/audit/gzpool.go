package audit

import (
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// gzPool reuses gzip writers: each holds about 800 KB of state, and a
// tenant's audit writes a dozen small objects.
var gzPool sync.Pool

// getGzip returns a BestSpeed gzip writer writing to w.
func getGzip(w io.Writer) *gzip.Writer {
	if zw, ok := gzPool.Get().(*gzip.Writer); ok {
		zw.Reset(w)
		return zw
	}
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // a valid level: no error
	return zw
}

// putGzip returns a closed writer to the pool.
func putGzip(zw *gzip.Writer) {
	zw.Reset(io.Discard)
	gzPool.Put(zw)
}
