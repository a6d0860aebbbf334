package bench

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// GzipFloor is what compressing a run's output alone costs on this machine:
// a floor under any collector's wall time that writes the same gzip
// NDJSON, whatever its HTTP, JSON and budget handling.
type GzipFloor struct {
	// RawBytes is the uncompressed NDJSON of every dataset object,
	// Objects how many there are and Bytes their compressed size.
	RawBytes int64 `json:"raw_bytes"`
	Objects  int64 `json:"objects"`
	Bytes    int64 `json:"bytes"`
	// CPU is the time one core took to compress it at collector.GzipLevel
	// (measured after the run as the compressing thread's CPU time, so
	// other processes on a busy machine do not inflate it; wall time where
	// the platform has no per-thread CPU clock).
	CPU time.Duration `json:"cpu"`
	// Wall is CPU spread perfectly over every core.
	Wall time.Duration `json:"wall"`
	// Ratio is Wall over the run's lower bound: the best ratio any
	// collector writing this output could reach here.
	Ratio float64 `json:"ratio"`
}

// measureGzipFloor decompresses every object under dir and times its
// compression at collector.GzipLevel.
func measureGzipFloor(dir string, cores int, bound time.Duration) (*GzipFloor, error) {
	// One OS thread compresses, so its CPU time is the compression's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := threadCPU
	if clock() == 0 {
		start := time.Now()
		clock = func() time.Duration { return time.Since(start) }
	}
	f := &GzipFloor{}
	zw, _ := gzip.NewWriterLevel(io.Discard, collector.GzipLevel)
	var raw bytes.Buffer
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".ndjson.gz") {
			return err
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		fi, err := in.Stat()
		if err != nil {
			return err
		}
		f.Bytes += fi.Size()
		zr, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("bench: %s: %w", path, err)
		}
		raw.Reset()
		if _, err := raw.ReadFrom(zr); err != nil {
			return fmt.Errorf("bench: %s: %w", path, err)
		}
		cpu0 := clock()
		zw.Reset(io.Discard)
		if _, err := zw.Write(raw.Bytes()); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		// One clock throughout: never wall time for an object whose CPU
		// reading did not move, which once counted most objects twice.
		f.CPU += clock() - cpu0
		f.RawBytes += int64(raw.Len())
		f.Objects++
		return nil
	})
	if err != nil {
		return nil, err
	}
	f.Wall = f.CPU / time.Duration(max(1, cores))
	if bound > 0 {
		f.Ratio = float64(f.Wall) / float64(bound)
	}
	return f, nil
}
