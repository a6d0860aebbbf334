package collector

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// simNDJSON renders the records of a few simulated 300-device tenants as the
// collector writes them (every default dataset), one object per dataset.
func simNDJSON(tb testing.TB) [][]byte {
	tb.Helper()
	sim := centralsim.NewServer(func(o *centralsim.Options) { o.Tenants = 4; o.Seed = 7 })
	defer sim.Close()
	ds, err := SelectDatasets()
	if err != nil {
		tb.Fatal(err)
	}
	var objects [][]byte
	var scratch bytes.Buffer
	for _, tn := range sim.Tenants() {
		meta := recordMeta(msp.Tenant{ID: tn.HexID, Name: tn.Name}, "20261128T000000Z-bench")
		for _, d := range ds {
			var obj bytes.Buffer
			for _, rec := range sim.Records(tn.HexID, d.Name) {
				if err := appendValidRecord(&obj, &scratch, meta, "2026-11-28T00:00:00.000Z", json.RawMessage(rec), false); err != nil {
					tb.Fatal(err)
				}
			}
			objects = append(objects, obj.Bytes())
		}
	}
	return objects
}

// BenchmarkGzip compares the collector's gzip (GzipLevel of
// klauspost/compress) with compress/gzip's default level on the records
// the collector writes, one writer per dataset object as in a run. It
// reports MB/s of NDJSON and the compression ratio; the lower bound of
// gzip time is the klauspost figure:
//
//	go test -run '^$' -bench Gzip -benchtime 3s ./internal/collector/
func BenchmarkGzip(b *testing.B) {
	objects := simNDJSON(b)
	var raw int64
	for _, o := range objects {
		raw += int64(len(o))
	}
	run := func(b *testing.B, w interface {
		io.WriteCloser
		Reset(io.Writer)
	}) {
		var out countWriter
		b.SetBytes(raw)
		for b.Loop() {
			out = 0
			for _, o := range objects {
				w.Reset(&out)
				_, _ = w.Write(o)
				_ = w.Close()
			}
		}
		b.ReportMetric(float64(raw)/float64(out), "ratio")
	}
	b.Run("klauspost-BestSpeed", func(b *testing.B) {
		w, _ := gzip.NewWriterLevel(io.Discard, GzipLevel)
		run(b, w)
	})
	b.Run("stdlib-default", func(b *testing.B) {
		w, _ := stdgzip.NewWriterLevel(io.Discard, stdgzip.DefaultCompression)
		run(b, w)
	})
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
