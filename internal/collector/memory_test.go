package collector

import (
	"io"
	"runtime"
	"testing"
)

// TestStreamMemory measures what a dataset being written holds, an
// encoder that has compressed an object's worth of NDJSON and a page body
// of the 128 KB class, against StreamMemory: above it, MemoryNeeded would
// let a function be sized too small; far below it, it refuses sizes that
// would do.
func TestStreamMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 60 MB")
	}
	line := []byte(`{"serial":"CN12AB3456","mac":"00:11:22:33:44:55","model":"AP-635","_tenant_id":"t1"}` + "\n")
	const n = 48
	var pool encoderPool
	write := func(l *lazyEncoder) {
		e := l.encoder()
		for range 1300 { // 110 KB, an object of the bench's mean size, as records arrive
			e.buf = append(e.buf, line...)
			if err := e.spill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse
	// The run's encoders come from its pool, each used before: gzip's
	// state is allocated at its first write and kept.
	warm := make([]*lazyEncoder, n)
	for i := range warm {
		warm[i] = &lazyEncoder{pool: &pool, w: io.Discard}
		write(warm[i])
		if err := warm[i].close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range warm {
		l.release()
	}
	held := make([]any, 0, 2*n)
	for range n {
		l := &lazyEncoder{pool: &pool, w: io.Discard}
		write(l)
		held = append(held, l, make([]byte, 128<<10))
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := float64(ms.HeapInuse-before) / n
	runtime.KeepAlive(held)
	t.Logf("a dataset being written holds %.0f KB; StreamMemory is %d KB", per/1024, StreamMemory>>10)
	if per > StreamMemory || per < 0.8*StreamMemory {
		t.Errorf("a dataset being written holds %.0f KB, StreamMemory says %d KB: measure it again", per/1024, StreamMemory>>10)
	}
}

// TestConcurrencyFor: the concurrency it gives fits, one more does not,
// and the defaults fit the smallest function Lambda runs (128 MB).
func TestConcurrencyFor(t *testing.T) {
	for _, mb := range []int64{128, 256, 512, 1024, 10240} {
		c := ConcurrencyFor(mb << 20)
		if MemoryNeeded(c) > mb<<20 || MemoryNeeded(c+1) <= mb<<20 {
			t.Errorf("%d MB: concurrency %d needs %d, %d needs %d", mb, c, MemoryNeeded(c), c+1, MemoryNeeded(c+1))
		}
	}
	if c := ConcurrencyFor(128 << 20); c < 16 {
		t.Errorf("128 MB fits concurrency %d, below the template's default 16", c)
	}
	if c := ConcurrencyFor(32 << 20); c != 0 {
		t.Errorf("32 MB: %d, want 0", c)
	}
}
