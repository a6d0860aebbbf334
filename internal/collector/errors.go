package collector

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/centralmsp/centralmsp/internal/errclass"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// ErrorClass is a coarse, stable error category for the manifest and
// alarms: the one vocabulary of internal/errclass.
type ErrorClass = errclass.Class

// Classes Classify returns (see internal/errclass).
const (
	ClassLogin         = errclass.Login
	ClassUnauthorized  = errclass.Unauthorized
	ClassRateLimited   = errclass.RateLimited
	ClassAPIError      = errclass.APIError
	ClassPagination    = errclass.Pagination
	ClassTimeout       = errclass.Timeout
	ClassNotFound      = errclass.NotFound
	ClassNotConfigured = errclass.NotConfigured
	ClassSink          = errclass.Sink
	ClassIncomplete    = errclass.Incomplete
	ClassInternal      = errclass.Internal
)

// ErrorInfo is an error as recorded in the manifest. Message is the error's
// text with anything that looks like a credential removed, capped in length.
type ErrorInfo struct {
	Class      ErrorClass `json:"class"`
	Message    string     `json:"message"`
	StatusCode int        `json:"status_code,omitempty"`
}

// SinkError wraps a failure to write output (an object or the manifest).
type SinkError struct {
	Key string
	Err error
}

func (e *SinkError) Error() string { return fmt.Sprintf("collector: writing %s: %v", e.Key, e.Err) }

// Unwrap returns the sink's error.
func (e *SinkError) Unwrap() error { return e.Err }

// PanicError is a panic recovered at the tenant boundary.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("collector: panic: %v", e.Value) }

// ErrNothingCollected is returned by Run when tenants were selected but no
// dataset of any tenant was collected.
var ErrNothingCollected = errors.New("collector: nothing could be collected")

// Classify maps an error to its class (through errors.As/Is on the typed
// errors of pkg/central, pkg/msp and this package) and its HTTP status, if
// one is known.
func Classify(err error) (ErrorClass, int) {
	if err == nil {
		return "", 0
	}
	status := 0
	var apiErr *central.APIError
	if errors.As(err, &apiErr) {
		status = apiErr.StatusCode
	}
	var (
		sinkErr  *SinkError
		loginErr *central.LoginError
		rlErr    *central.RateLimitError
		pgErr    *central.PaginationError
		respErr  *central.ResponseError
		panicErr *PanicError
	)
	switch {
	case errors.As(err, &panicErr):
		return ClassInternal, 0
	case errors.As(err, &sinkErr):
		return ClassSink, 0
	case errors.As(err, &loginErr):
		return ClassLogin, cmpNZ(loginErr.StatusCode, status)
	case errors.As(err, &rlErr), errors.Is(err, central.ErrRateLimited):
		return ClassRateLimited, cmpNZ(status, 429)
	case errors.Is(err, central.ErrUnauthorized), status == 403:
		return ClassUnauthorized, status
	case errors.As(err, &pgErr):
		return ClassPagination, status
	case errors.Is(err, central.ErrAppNotConfigured):
		return ClassNotConfigured, 0
	case errors.Is(err, msp.ErrTenantNotFound), errors.Is(err, msp.ErrAmbiguousTenant), errors.Is(err, msp.ErrInvalidTenantID):
		return ClassNotFound, 0
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ClassTimeout, status
	case apiErr != nil:
		return ClassAPIError, status
	case errors.As(err, &respErr):
		return ClassAPIError, respErr.StatusCode
	}
	return ClassInternal, status
}

func cmpNZ(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// maxMessage caps a recorded error message.
const maxMessage = 1000

var secretish = regexp.MustCompile(`(?i)(authorization["=:\s]+(?:bearer\s+|basic\s+)?|bearer\s+|(?:access_token|refresh_token|client_secret|subject_token)["=:\s]+)[^\s"&,;]+`)

// errorInfo builds the manifest's record of err.
func errorInfo(err error) *ErrorInfo {
	if err == nil {
		return nil
	}
	class, status := Classify(err)
	return &ErrorInfo{Class: class, Message: redact(err.Error()), StatusCode: status}
}

// redact removes token-like values (defence in depth: pkg/central's errors
// never carry secrets) and caps the length.
func redact(s string) string {
	s = secretish.ReplaceAllString(s, "${1}[redacted]")
	if len(s) > maxMessage {
		s = s[:maxMessage] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
