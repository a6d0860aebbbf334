// Package envconf reads a Lambda function's configuration from its
// environment variables. Every value is trimmed, every error names its
// variable, and the errors are collected rather than returned one by one,
// so that one failed start-up lists everything an operator has to fix.
package envconf

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Reader reads variables through getenv and collects their errors.
type Reader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Reader of getenv (os.Getenv, or a map's lookup in tests).
func New(getenv func(string) string) *Reader { return &Reader{getenv: getenv} }

// Get returns the variable's value without surrounding spaces.
func (r *Reader) Get(name string) string { return strings.TrimSpace(r.getenv(name)) }

// Required returns the variable's value; when it is unset or blank it
// records "<name> is not set: <hint>".
func (r *Reader) Required(name, hint string) string {
	v := r.Get(name)
	if v == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is not set: %s", name, hint))
	}
	return v
}

// Bad records that the variable's value is unusable: `<name>="<value>":
// <want>`, where want says what would be.
func (r *Reader) Bad(name, value, want string) {
	r.errs = append(r.errs, fmt.Errorf("%s=%q: %s", name, value, want))
}

// Check records err, when not nil, as "<name>: <err>".
func (r *Reader) Check(name string, err error) {
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: %w", name, err))
	}
}

// Bool sets *dst from the variable when it is set: a boolean as
// strconv.ParseBool reads it (true, false, 1, 0, ...).
func (r *Reader) Bool(name string, dst *bool) {
	v := r.Get(name)
	if v == "" {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.Bad(name, v, "want true or false")
		return
	}
	*dst = b
}

// Duration sets *dst from the variable when it is set: a positive Go
// duration; example is quoted in the error (such as "50m").
func (r *Reader) Duration(name, example string, dst *time.Duration) {
	v := r.Get(name)
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.Bad(name, v, "want a positive duration such as "+example)
		return
	}
	*dst = d
}

// Int sets *dst from the variable when it is set: a whole number from lo
// to hi.
func (r *Reader) Int(name string, lo, hi int, dst *int) {
	v := r.Get(name)
	if v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.Bad(name, v, fmt.Sprintf("want a whole number from %d to %d", lo, hi))
		return
	}
	*dst = n
}

// Float sets *dst from the variable when it is set: a number above above
// and at most atMost (a rate or a fraction, never zero).
func (r *Reader) Float(name string, above, atMost float64, dst *float64) {
	v := r.Get(name)
	if v == "" {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f <= above || f > atMost {
		r.Bad(name, v, fmt.Sprintf("want a number above %g and at most %g", above, atMost))
		return
	}
	*dst = f
}

// Err is every recorded error joined under "<fn>: configuration: ", or nil
// when there was none.
func (r *Reader) Err(fn string) error {
	if err := errors.Join(r.errs...); err != nil {
		return fmt.Errorf("%s: configuration: %w", fn, err)
	}
	return nil
}

// AWSConfig loads the AWS SDK's default configuration, so the standard
// variables (AWS_REGION, AWS_ENDPOINT_URL_S3, _SECRETS_MANAGER, _SQS, ...)
// apply. fn names the function in the error; optFns add load options (the
// collector's default region).
func AWSConfig(ctx context.Context, fn string, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("%s: loading the AWS configuration: %w", fn, err)
	}
	return cfg, nil
}

// MemoryLimitShare is the share of the function's memory that MemoryLimit
// gives the Go runtime; the rest is the binary, the runtime's own
// overheads and what the heap may briefly exceed before the collector
// catches up.
const MemoryLimitShare = 0.85

// MemoryLimit returns a soft memory limit for the Go runtime (for
// debug.SetMemoryLimit) of MemoryLimitShare of the function's memory
// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB), or 0 when GOMEMLIMIT is set
// (the runtime already applies it) or the size is missing or outside
// Lambda's 128–10,240 MB. Without a limit the heap may grow to twice
// what is live before a collection, and a function the size of its
// working set is killed for memory when a busy moment doubles it; with
// one, the collector works harder near the limit instead.
func MemoryLimit(getenv func(string) string) int64 {
	if strings.TrimSpace(getenv("GOMEMLIMIT")) != "" {
		return 0
	}
	mb := FunctionMemoryMB(getenv)
	if mb == 0 {
		return 0
	}
	return int64(float64(int64(mb)<<20) * MemoryLimitShare)
}

// EnvFunctionMemory is the variable in which Lambda gives a function its
// memory size in MB.
const EnvFunctionMemory = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"

// FunctionMemoryMB is the function's memory in MB (EnvFunctionMemory),
// or 0 when it is missing or outside Lambda's 128–10,240 MB.
func FunctionMemoryMB(getenv func(string) string) int {
	mb, err := strconv.Atoi(strings.TrimSpace(getenv(EnvFunctionMemory)))
	if err != nil || mb < 128 || mb > 10240 {
		return 0
	}
	return mb
}

// LimitMemory applies MemoryLimit, when there is one, to the Go runtime;
// both functions call it first thing in main.
func LimitMemory(getenv func(string) string) {
	if n := MemoryLimit(getenv); n > 0 {
		debug.SetMemoryLimit(n)
	}
}
