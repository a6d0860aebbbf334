package central

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/centralmsp/centralmsp/internal/httpcore"
)

var (
	// ErrUnauthorized matches (errors.Is) an *APIError with status 401.
	ErrUnauthorized = errors.New("central: unauthorized")
	// ErrAppNotConfigured reports a call to an app the credentials do not cover.
	ErrAppNotConfigured = errors.New("central: app not configured")
	// ErrRateLimited matches (errors.Is) a *RateLimitError.
	ErrRateLimited = errors.New("central: rate limit exhausted")
	// ErrResponseTooLarge is matched by the error of a call whose response
	// body exceeded Options.MaxResponseBytes.
	ErrResponseTooLarge = httpcore.ErrResponseTooLarge
)

// APIError is a non-2xx answer. ErrorCode, Message and DebugID come from the
// GLP/New Central error body {debugId, httpStatusCode, errorCode, message}
// or from other common error shapes.
type APIError struct {
	Method, Path string
	StatusCode   int
	ErrorCode    string
	Message      string
	DebugID      string
	// Response is the full answer (headers, raw body).
	Response *Response `json:"-"`
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "central: %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.ErrorCode != "" {
		b.WriteString(": ")
		b.WriteString(e.ErrorCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.DebugID != "" {
		fmt.Fprintf(&b, " (debugId %s)", e.DebugID)
	}
	return b.String()
}

// Is matches ErrUnauthorized for 401 and ErrRateLimited for 429.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// HTTPStatusCode returns the status (behaviour interface for classifiers).
func (e *APIError) HTTPStatusCode() int { return e.StatusCode }

// RateLimitError reports that a call was still rate limited when the retry
// budget (attempts, total wait or the context deadline) ran out.
type RateLimitError struct {
	Budget     string        // budget name, e.g. "central" or "glp-devices"
	RetryAfter time.Duration // the server's last hint (0 if none)
	Attempts   int           // attempts made
	Err        error         // the last *APIError (429), if any
}

// Error implements error.
func (e *RateLimitError) Error() string {
	s := fmt.Sprintf("central: rate limit exhausted on budget %q after %d attempt(s)", e.Budget, e.Attempts)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(", retry after %s", e.RetryAfter)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Unwrap returns the last API error.
func (e *RateLimitError) Unwrap() error { return e.Err }

// ResponseError reports a request that produced no usable answer after the
// retries allowed for its method: a transport error, or a 2xx body that was
// cut short or is not the JSON the API promises. Fields: Method, Path,
// StatusCode (0 when no response arrived), Reason, Attempts, Err.
type ResponseError = httpcore.ResponseError

// newAPIError builds an APIError from a response, parsing the error body.
// Every secret in sent is scrubbed from the answer (raw body, headers,
// decoded body) and from the fields taken from it.
func newAPIError(method, path string, r *Response, sent *httpcore.Secrets) *APIError {
	r.Raw = sent.ScrubBytes(r.Raw)
	sent.ScrubHeader(r.Header)
	r.Body = sent.ScrubAny(r.Body)
	e := &APIError{Method: method, Path: path, StatusCode: r.StatusCode, Response: r}
	parseErrorBody(r.Raw, e)
	e.ErrorCode, e.Message, e.DebugID = sent.Scrub(e.ErrorCode), sent.Scrub(e.Message), sent.Scrub(e.DebugID)
	return e
}

// parseErrorBody fills ErrorCode, Message, DebugID from a GLP/Central error body
// and other common shapes ({"error","error_description"}, {"detail"}).
func parseErrorBody(raw []byte, e *APIError) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		if s := strings.TrimSpace(string(raw)); s != "" && len(s) <= 512 && !strings.ContainsAny(s, "<{") {
			e.Message = s
		}
		return
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			switch v := m[k].(type) {
			case string:
				if v != "" {
					return v
				}
			case map[string]any:
				if s, ok := v["message"].(string); ok && s != "" {
					return s
				}
			}
		}
		return ""
	}
	e.ErrorCode = str("errorCode", "error_code", "code", "error")
	e.Message = str("message", "error_description", "detail", "description", "msg")
	e.DebugID = str("debugId", "debug_id", "requestId")
	if e.Message == e.ErrorCode && e.Message != "" {
		e.Message = ""
	}
}
