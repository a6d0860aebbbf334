package bench

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// TestGzipFloor: the floor counts every dataset object's uncompressed bytes
// (other files are ignored) and spreads the compression time over the cores.
func TestGzipFloor(t *testing.T) {
	dir := t.TempDir()
	var want int64
	for _, raw := range writeRunLikeObjects(t, dir, []int{1, 40 << 10, 160 << 10}) {
		want += int64(len(raw))
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := measureGzipFloor(dir, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.RawBytes != want || f.CPU <= 0 || f.Wall != f.CPU/2 || math.Abs(f.Ratio-f.Wall.Seconds()) > 1e-9 {
		t.Fatalf("floor %+v, want %d raw bytes", f, want)
	}
	if _, err := measureGzipFloor(filepath.Join(dir, "missing"), 2, time.Second); err == nil {
		t.Error("a missing output directory gave no error")
	}
}

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
	raws := writeRunLikeObjects(t, dir, slices.Repeat([]int{96 << 10}, 300))

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

// writeRunLikeObjects writes a gzip NDJSON object of at least each of sizes
// bytes (one record at least) under dir, with records as varied as a
// run's, and returns their NDJSON.
func writeRunLikeObjects(t *testing.T, dir string, sizes []int) [][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	raws := make([][]byte, len(sizes))
	for i, size := range sizes {
		var raw bytes.Buffer
		for raw.Len() == 0 || raw.Len() < size {
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
