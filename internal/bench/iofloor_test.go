//go:build unix

package bench

import (
	"os"
	"testing"
	"time"
)

// The I/O floor's parts one at a time (measureIOFloor, which the bench
// runs after every scenario, uses the run's own shape), at the
// 1,000-tenant workspace run's: 8,000 answers of about 108 KB (867 MB of
// NDJSON), and 8,000 objects of about 9 KB (71 MB compressed):
//
//	go test -run '^$' -bench IOFloor -benchtime 8000x -count 3 ./internal/bench/
const (
	ioFloorAnswer = 108 << 10
	ioFloorObject = 9 << 10
)

// BenchmarkIOFloorAnswer: one small request written to a loopback TCP
// connection and one 108 KB answer read back. cpu-us/answer is the reading
// thread's CPU.
func BenchmarkIOFloorAnswer(b *testing.B) {
	if threadCPU() == 0 {
		b.Skip("no per-thread CPU time on this platform")
	}
	cpu, err := answersCPU(b.N, ioFloorAnswer)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(perOp(cpu, b.N), "cpu-us/answer")
	b.SetBytes(ioFloorAnswer)
}

// BenchmarkIOFloorObject: one 9 KB object made durable the way the
// directory sink does it, where the bench writes its output (/dev/shm when
// there is one).
func BenchmarkIOFloorObject(b *testing.B) {
	if threadCPU() == 0 {
		b.Skip("no per-thread CPU time on this platform")
	}
	cpu, err := objectsCPU(scratchRoot(), b.N, ioFloorObject)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(perOp(cpu, b.N), "cpu-us/object")
}

func perOp(cpu time.Duration, n int) float64 { return float64(cpu.Microseconds()) / float64(n) }

// TestIOFloorScales: the floor is the sampled cost of one answer and one
// object times the run's counts, at the run's mean sizes.
func TestIOFloorScales(t *testing.T) {
	if threadCPU() == 0 {
		t.Skip("no per-thread CPU time on this platform")
	}
	scratch, err := os.MkdirTemp(scratchRoot(), "centralmsp-iofloor-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(scratch)
	f, err := measureIOFloor(scratch, 40, 40*8192, 30, 30*1024)
	if err != nil {
		t.Fatal(err)
	}
	if f.AnswerBytes != 8192 || f.ObjectBytes != 1024 || f.PerAnswer <= 0 || f.PerObject <= 0 ||
		f.CPU != 40*f.PerAnswer+30*f.PerObject {
		t.Fatalf("floor %+v", f)
	}
	if f, err := measureIOFloor(scratch, 0, 0, 30, 30*1024); f != nil || err != nil {
		t.Fatalf("a run without answers: %+v, %v", f, err)
	}
}
