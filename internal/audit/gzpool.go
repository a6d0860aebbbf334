package audit

import (
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// gzPool reuses gzip writers: each holds about 800 KB of state, and a
// tenant's audit writes a dozen small objects.
var gzPool sync.Pool

// getGzip returns a gzip writer at the collector's level writing to w.
func getGzip(w io.Writer) *gzip.Writer {
	if zw, ok := gzPool.Get().(*gzip.Writer); ok {
		zw.Reset(w)
		return zw
	}
	zw, _ := gzip.NewWriterLevel(w, collector.GzipLevel) // a valid level: no error
	return zw
}

// putGzip returns a closed writer to the pool.
func putGzip(zw *gzip.Writer) {
	zw.Reset(io.Discard)
	gzPool.Put(zw)
}
