package bench

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// TestGzipFloorIsTheCompressionsCPU: the floor is the CPU that compressing
// the objects takes, as one measurement over all of them says, not twice
// it. Objects of a run's size compress in well under a scheduler tick; the
// floor once read the thread's CPU with getrusage, which a running thread
// brings up to date only at ticks, took the many zero readings for "no
// clock" and added their wall time on top of the ticks that did land.
func TestGzipFloorIsTheCompressionsCPU(t *testing.T) {
	if threadCPU() == 0 || cpuTime() == 0 {
		t.Skip("no per-thread CPU time on this platform")
	}
	dir := t.TempDir()
	raws := writeRunLikeObjects(t, dir, 300, 96<<10)

	// The reference: the same compression over objects already in memory,
	// one reading of the process's CPU before and after.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	zw, _ := gzip.NewWriterLevel(io.Discard, collector.GzipLevel)
	ref := cpuTime()
	for _, raw := range raws {
		zw.Reset(io.Discard)
		zw.Write(raw)
		zw.Close()
	}
	ref = cpuTime() - ref

	f, err := measureGzipFloor(dir, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := float64(f.CPU) / float64(ref); r < 0.5 || r > 1.5 {
		t.Fatalf("the floor says %v of CPU for what one measurement says takes %v (%.2fx)", f.CPU, ref, r)
	}
}

// writeRunLikeObjects writes n gzip NDJSON objects of about size bytes each
// under dir, with records as varied as a run's, and returns their NDJSON.
func writeRunLikeObjects(t *testing.T, dir string, n, size int) [][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	raws := make([][]byte, n)
	for i := range raws {
		var raw bytes.Buffer
		for raw.Len() < size {
			fmt.Fprintf(&raw, `{"_tenant_id":"%032x","serialNumber":"SN%010d","macAddress":"%012x","model":"AP-%d","status":"%s","uptime":%d}`+"\n",
				i, rng.Int64N(1e10), rng.Int64N(1<<48), 500+rng.IntN(200), [...]string{"ONLINE", "OFFLINE"}[rng.IntN(2)], rng.Int64N(1e9))
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(raw.Bytes())
		zw.Close()
		path := filepath.Join(dir, "dataset=aps", fmt.Sprintf("tenant=%d.ndjson.gz", i))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, gz.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		raws[i] = raw.Bytes()
	}
	return raws
}
