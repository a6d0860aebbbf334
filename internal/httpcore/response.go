package httpcore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	raw, err := io.ReadAll(io.LimitReader(body, limit+1))
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
