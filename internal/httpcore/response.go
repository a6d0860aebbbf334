package httpcore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Response is an HTTP answer (pkg/central.Response).
type Response struct {
	StatusCode int
	Header     http.Header
	// Body is the decoded JSON body (map[string]any, []any, ...) or nil when
	// the body is empty or not JSON. Do leaves it nil and decodes into out.
	Body any
	// Raw is the body as received; in an error answer (not 2xx) every
	// secret sent with the request is replaced by [REDACTED].
	Raw []byte
	// Attempts is how many times the request was sent to produce this
	// answer (retries included; the one repeat after a token renewal is not
	// counted, as it is not counted against RetryPolicy.MaxAttempts).
	Attempts int
}

// ErrResponseTooLarge is matched by the error of a call whose response
// body exceeded Options.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("central: response body too large")

// ResponseError reports a request that produced no usable answer after the
// retries allowed for its method: a transport error, or a 2xx body that was
// cut short or is not the JSON the API promises (pkg/central.ResponseError).
type ResponseError struct {
	Method, Path string
	StatusCode   int // 0 when no response arrived
	Reason       string
	Attempts     int
	Err          error
}

// Error implements error.
func (e *ResponseError) Error() string {
	s := fmt.Sprintf("central: %s %s: %s", e.Method, e.Path, e.Reason)
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" (status %d)", e.StatusCode)
	}
	if e.Attempts > 0 {
		s += fmt.Sprintf(", giving up after %d attempt(s)", e.Attempts)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *ResponseError) Unwrap() error { return e.Err }

// ReadBody reads a response body of at most limit bytes; a longer one is an
// error matching ErrResponseTooLarge (and no bytes are returned).
func ReadBody(body io.Reader, limit int64) ([]byte, error) {
	return ReadBodySize(body, limit, -1)
}

// ReadBodySize is ReadBody for a body announced as size bytes (an
// http.Response's ContentLength; -1 when unknown). A size within limit
// sizes the buffer once instead of growing it; the size is only a hint:
// the bytes actually read decide, so a body longer or shorter than
// announced is read as it is, and never beyond limit. A body of unknown
// size, or announced beyond limit, is read into a pooled buffer and copied
// out at its length.
func ReadBodySize(body io.Reader, limit, size int64) ([]byte, error) {
	if size >= 0 && size <= limit {
		return ReadBodyInto(body, nil, limit, size)
	}
	buf, err := readInto(TakeBody(-1), &io.LimitedReader{R: body, N: limit + 1})
	raw := bytes.Clone(buf)
	PutBody(buf)
	return checkBody(raw, err, limit)
}

// ReadBodyInto is ReadBodySize reading into buf's memory (from its
// start, grown when the body does not fit), for a caller that reads many
// bodies in turn and keeps none past the next: the bytes returned alias
// buf's memory, or a larger slice that replaces it.
func ReadBodyInto(body io.Reader, buf []byte, limit, size int64) ([]byte, error) {
	lr := &io.LimitedReader{R: body, N: limit + 1}
	buf = buf[:0]
	if size >= 0 && size <= limit && int64(cap(buf)) <= size {
		buf = make([]byte, 0, size+1) // +1: room to see the end
	}
	buf, err := readInto(buf, lr)
	return checkBody(buf, err, limit)
}

// maxPooledBody is the largest buffer the body pools keep: one grown
// beyond it is left to the garbage collector, so the pools hold no
// outsized buffers.
const maxPooledBody = 4 << 20

// bodyClasses are the capacities of the pooled buffers ReadBodyInto
// reads into, one pool each: a body takes the smallest that holds it, so
// a small page never holds (and keeps pooled) a buffer grown for a large
// one. A buffer is returned to the largest class its capacity reaches.
var bodyClasses = [...]int{32 << 10, 64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, maxPooledBody}

var bodyPools [len(bodyClasses)]sync.Pool

// TakeBody is a pooled buffer for ReadBodyInto that holds a body of size
// bytes (a Content-Length; -1 or beyond the largest class: the smallest
// class, grown as the body is read). PutBody gives it back once nothing
// refers to its bytes.
func TakeBody(size int64) []byte {
	c := 0
	for c < len(bodyClasses)-1 && int64(bodyClasses[c]) <= size {
		c++
	}
	if size >= int64(bodyClasses[c]) {
		c = 0
	}
	if b, ok := bodyPools[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, bodyClasses[c])
}

// PutBody returns a buffer from TakeBody (or any buffer nothing refers
// to) to its class's pool; one smaller than the smallest class or
// beyond the largest is left to the garbage collector.
func PutBody(b []byte) {
	c := len(bodyClasses) - 1
	for c >= 0 && cap(b) < bodyClasses[c] {
		c--
	}
	if c < 0 || cap(b) > maxPooledBody {
		return
	}
	b = b[:0]
	bodyPools[c].Put(&b)
}

// readInto appends r's bytes to buf until EOF or an error, growing buf
// only when full.
func readInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func checkBody(raw []byte, err error, limit int64) ([]byte, error) {
	if err != nil {
		return raw, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes (Options.MaxResponseBytes)", ErrResponseTooLarge, limit)
	}
	return raw, nil
}

// DecodeJSON fills Body from a JSON Raw (or, without fill, only checks that
// it is valid JSON). Non-JSON bodies stay in Raw.
func DecodeJSON(r *Response, fill bool) error {
	raw := bytes.TrimSpace(r.Raw)
	if len(raw) == 0 {
		return nil
	}
	if !LooksJSON(r.Header.Get("Content-Type"), raw) {
		return nil
	}
	if !fill {
		if !json.Valid(raw) {
			return errors.New("invalid JSON")
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	r.Body = v
	return nil
}
