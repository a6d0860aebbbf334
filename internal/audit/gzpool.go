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

// gunzipPool reuses gzip readers (each allocates its decompressor's
// tables), one per baseline read.
var gunzipPool sync.Pool

// getGunzip returns a gzip reader of r.
func getGunzip(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gunzipPool.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			gunzipPool.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// putGunzip returns a reader to the pool.
func putGunzip(zr *gzip.Reader) { gunzipPool.Put(zr) }
