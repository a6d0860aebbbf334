//go:build unix

package bench

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The I/O floor: what the kernel work every collector does for a run
// costs the collector's thread, apart from anything net/http, the SDK or
// the collector adds. docs/budgets.md sets it beside the gzip floor, using
// the 1,000-tenant workspace run's shape: 8,000 answers of about 108 KB
// (867 MB of NDJSON), and 8,000 objects of about 9 KB (71 MB compressed).
const (
	ioFloorAnswer = 108 << 10
	ioFloorObject = 9 << 10
)

// BenchmarkIOFloorAnswer: one small request written to a loopback TCP
// connection and one 108 KB answer read back, as an HTTP/1.1 client with
// a kept-alive connection does at the least. cpu-us/answer is the reading
// thread's CPU; the answering goroutine runs on other threads.
func BenchmarkIOFloorAnswer(b *testing.B) {
	if threadCPU() == 0 {
		b.Skip("no per-thread CPU time on this platform")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go answerLoop(ln)
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	req := make([]byte, 256)
	body := make([]byte, ioFloorAnswer)
	var cpu time.Duration
	for b.Loop() {
		cpu0 := threadCPU()
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, body); err != nil {
			b.Fatal(err)
		}
		cpu += threadCPU() - cpu0
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/answer")
	b.SetBytes(ioFloorAnswer)
}

// answerLoop answers every 256-byte request on each connection with
// ioFloorAnswer bytes.
func answerLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			req, body := make([]byte, 256), make([]byte, ioFloorAnswer)
			for {
				if _, err := io.ReadFull(r, req); err != nil {
					return
				}
				if _, err := c.Write(body); err != nil {
					return
				}
			}
		}()
	}
}

// BenchmarkIOFloorObject: one 9 KB object made durable the way the
// directory sink does it, in a new directory as each tenant's dataset has:
// mkdir, create a temporary file, write, fsync, close, rename, fsync the
// directory. It runs where the bench writes its output (/dev/shm when
// there is one).
func BenchmarkIOFloorObject(b *testing.B) {
	if threadCPU() == 0 {
		b.Skip("no per-thread CPU time on this platform")
	}
	root, err := os.MkdirTemp(scratchRoot(), "centralmsp-iofloor-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(root)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	data := make([]byte, ioFloorObject)
	var cpu time.Duration
	i := 0
	for b.Loop() {
		dir := filepath.Join(root, strconv.Itoa(i))
		i++
		cpu0 := threadCPU()
		if err := writeDurably(dir, data); err != nil {
			b.Fatal(err)
		}
		cpu += threadCPU() - cpu0
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/object")
}

func writeDurably(dir string, data []byte) error {
	if err := syscall.Mkdir(dir, 0o700); err != nil {
		return err
	}
	tmp, final := filepath.Join(dir, ".tmp"), filepath.Join(dir, "object")
	fd, err := syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	if _, err := syscall.Write(fd, data); err != nil {
		return err
	}
	if err := syscall.Fsync(fd); err != nil {
		return err
	}
	if err := syscall.Close(fd); err != nil {
		return err
	}
	if err := syscall.Rename(tmp, final); err != nil {
		return err
	}
	dfd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(dfd)
	return syscall.Fsync(dfd)
}
