package httpcore

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// ReadBodySize takes Content-Length as a hint only: whatever it announces
// (right, too small, too large, beyond the cap, absent), the bytes read
// decide, and nothing beyond the cap is ever returned.
func TestReadBodySizeLyingContentLength(t *testing.T) {
	const limit = 100
	// ReadBodyInto reads the same, whatever memory it is given: none,
	// too little, or plenty holding an earlier body.
	into := func(buf []byte) func(io.Reader, int64, int64) ([]byte, error) {
		return func(r io.Reader, limit, size int64) ([]byte, error) {
			return ReadBodyInto(r, buf, limit, size)
		}
	}
	readers := []struct {
		name string
		read func(io.Reader, int64, int64) ([]byte, error)
	}{
		{"size", ReadBodySize},
		{"into nil", into(nil)},
		{"into small", into(make([]byte, 3, 8))},
		{"into used", into([]byte(strings.Repeat("old", 100)))},
	}
	body := strings.Repeat("x", 60)
	long := strings.Repeat("y", limit+1)
	for _, tc := range []struct {
		name    string
		body    string
		size    int64
		tooBig  bool
		wantLen int
	}{
		{"exact", body, 60, false, 60},
		{"absent", body, -1, false, 60},
		{"too small", body, 10, false, 60},
		{"zero", body, 0, false, 60},
		{"too large", body, 90, false, 60},
		{"beyond the cap", body, 1 << 40, false, 60},
		{"empty absent", "", -1, false, 0},
		{"empty announced", "", 50, false, 0},
		{"at the cap", long[:limit], limit, false, limit},
		{"over the cap, announced within", long, 10, true, 0},
		{"over the cap, announced at the cap", long, limit, true, 0},
		{"over the cap, announced beyond", long, limit + 1, true, 0},
		{"over the cap, absent", long, -1, true, 0},
		{"far over the cap", strings.Repeat("z", 10*limit), -1, true, 0},
	} {
		for _, r := range []struct {
			name string
			r    func(string) io.Reader
		}{
			{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
			{"bytewise", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
		} {
			for _, rd := range readers {
				raw, err := rd.read(r.r(tc.body), limit, tc.size)
				if tc.tooBig {
					if !errors.Is(err, ErrResponseTooLarge) || raw != nil {
						t.Errorf("%s/%s/%s: %d bytes, error %v; want ErrResponseTooLarge", tc.name, r.name, rd.name, len(raw), err)
					}
					continue
				}
				if err != nil || len(raw) != tc.wantLen || string(raw) != tc.body || raw == nil {
					t.Errorf("%s/%s/%s: %q, %v", tc.name, r.name, rd.name, raw, err)
				}
			}
		}
	}
}

// A read error is returned with the bytes read so far, as io.ReadAll does.
func TestReadBodySizeReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, size := range []int64{-1, 5, 1000} {
		raw, err := ReadBodySize(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 100, size)
		if !errors.Is(err, boom) || string(raw) != "abc" {
			t.Errorf("size %d: %q, %v", size, raw, err)
		}
	}
}

// Through net/http: a Content-Length smaller than the bytes sent cuts the
// body where net/http does; a larger one is an unexpected EOF; bodies of
// unknown length (chunked) are read whole up to the cap.
func TestReadBodySizeHTTP(t *testing.T) {
	read := func(wire string) ([]byte, error) {
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(wire)), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return ReadBodySize(resp.Body, 16, resp.ContentLength)
	}
	if raw, err := read("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello world"); err != nil || string(raw) != "hello" {
		t.Errorf("short Content-Length: %q, %v", raw, err)
	}
	if _, err := read("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello"); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("long Content-Length: %v", err)
	}
	if _, err := read("HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\nhello"); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Content-Length beyond the cap: %v", err)
	}
	if raw, err := read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"); err != nil || string(raw) != "hello world" {
		t.Errorf("chunked: %q, %v", raw, err)
	}
	if _, err := read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + strings.Repeat("a", 10) + "\r\n"); err != nil {
		t.Errorf("exact: %v", err)
	}
	if _, err := read("HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("a", 17)); !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("until close, over the cap: %v", err)
	}
}

// Bodies read through the pool do not share memory.
func TestReadBodySizePooledCopies(t *testing.T) {
	a, _ := ReadBodySize(strings.NewReader("first"), 100, -1)
	b, _ := ReadBodySize(strings.NewReader("second"), 100, -1)
	if string(a) != "first" || string(b) != "second" || bytes.Equal(a, b) {
		t.Fatalf("%q %q", a, b)
	}
}

// A pooled body holds the announced size without growing, and a small
// body never takes (and keeps) a buffer grown for a large one: memory
// follows the pages being read.
func TestTakeBodyClasses(t *testing.T) {
	for range 3 {
		PutBody(make([]byte, 0, 3<<20)) // large buffers in the pools
		PutBody(make([]byte, 0, 600<<10))
	}
	for _, size := range []int64{-1, 0, 100, 32<<10 - 1, 32 << 10, 200 << 10, 3 << 20, 10 << 20} {
		b := TakeBody(size)
		if len(b) != 0 {
			t.Errorf("size %d: a buffer holding %d bytes", size, len(b))
		}
		if size < maxPooledBody && int64(cap(b)) <= size {
			t.Errorf("size %d: capacity %d cannot hold it and one more byte", size, cap(b))
		}
		if most := max(32<<10, 2*(size+1)); size < maxPooledBody && int64(cap(b)) > most {
			t.Errorf("size %d: capacity %d, want at most %d", size, cap(b), most)
		}
		if size >= maxPooledBody && cap(b) != 32<<10 {
			t.Errorf("size %d beyond the classes: capacity %d, want the smallest class", size, cap(b))
		}
	}
	PutBody(make([]byte, 100)) // below the smallest class: not pooled
	PutBody(nil)
}
