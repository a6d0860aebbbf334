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
	"time"
)

// ioFloorRequest is the size of the request each answer follows.
const ioFloorRequest = 256

// answersCPU is the calling thread's CPU time for n rounds of writing a
// request to a kept-alive loopback TCP connection and reading a size-byte
// answer back, as an HTTP/1.1 client does at the least. The answering
// goroutine runs on other threads.
func answersCPU(n, size int) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go answerLoop(ln, size)
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	req, body := make([]byte, ioFloorRequest), make([]byte, size)
	var cpu time.Duration
	for range n {
		cpu0 := threadCPU()
		if _, err := conn.Write(req); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(conn, body); err != nil {
			return 0, err
		}
		cpu += threadCPU() - cpu0
	}
	return cpu, nil
}

// answerLoop answers every request on each connection with size bytes.
func answerLoop(ln net.Listener, size int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			req, body := make([]byte, ioFloorRequest), make([]byte, size)
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

// objectsCPU is the calling thread's CPU time for making n objects of size
// bytes durable in one new directory under root (a run writes each
// dataset's objects into one directory), then removes them.
func objectsCPU(root string, n, size int) (time.Duration, error) {
	dir, err := os.MkdirTemp(root, "centralmsp-iofloor-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	data := make([]byte, size)
	var cpu time.Duration
	for i := range n {
		cpu0 := threadCPU()
		if err := writeDurably(dir, strconv.Itoa(i), data); err != nil {
			return 0, err
		}
		cpu += threadCPU() - cpu0
	}
	return cpu, nil
}

// writeDurably makes dir/name hold data with the directory sink's system
// calls.
func writeDurably(dir, name string, data []byte) error {
	tmp, final := filepath.Join(dir, "."+name+".tmp"), filepath.Join(dir, name)
	fd, err := syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	if _, err := syscall.Write(fd, data); err != nil {
		syscall.Close(fd)
		return err
	}
	if err := syscall.Fsync(fd); err != nil {
		syscall.Close(fd)
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
