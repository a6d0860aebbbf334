package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/centralmsp/centralmsp/internal/httpcore"
)

// API is the part of the EventBridge client the publisher uses;
// *eventbridge.Client implements it.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ API = (*eventbridge.Client)(nil)

// Defaults of Options.
const (
	DefaultMaxAttempts = 5
	DefaultBaseDelay   = 100 * time.Millisecond
	DefaultMaxDelay    = 5 * time.Second
)

// Codes the publisher gives entries it never sent or got no result for.
const (
	// CodeEntryTooLarge: the entry alone exceeds MaxCallBytes.
	CodeEntryTooLarge = "EntryTooLarge"
	// CodeInvalidEntry: no detail type, or a detail that is not a JSON object.
	CodeInvalidEntry = "InvalidEntry"
	// CodeNoResult: the answer had no result for the entry.
	CodeNoResult = "NoResult"
	// CodeCanceled: the context ended before the entry was sent.
	CodeCanceled = "Canceled"
)

// Options tune a Publisher.
type Options struct {
	// MaxAttempts bounds the sends of one entry (default DefaultMaxAttempts).
	MaxAttempts int
	// BaseDelay and MaxDelay bound the backoff before a resend: attempt n
	// waits a random duration up to min(MaxDelay, BaseDelay x 2^(n-1)).
	BaseDelay, MaxDelay time.Duration
	// Rand returns a number in [0, 1) for the jitter (default math/rand/v2).
	Rand func() float64
	// Sleep waits d or until ctx ends (default: a timer).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Publisher sends entries to one bus.
type Publisher struct {
	api  API
	bus  string
	opts Options
}

// New returns a publisher to bus (a name or an ARN; "" means DefaultBus).
func New(api API, bus string, optFns ...func(*Options)) *Publisher {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Sleep == nil {
		o.Sleep = httpcore.Sleep
	}
	if bus == "" {
		bus = DefaultBus
	}
	return &Publisher{api: api, bus: bus, opts: o}
}

// NewFromConfig returns a publisher to bus (as New) on an EventBridge
// client made from cfg, so AWS_ENDPOINT_URL_EVENTBRIDGE and the region
// apply as to every other client of the function.
func NewFromConfig(cfg aws.Config, bus string, optFns ...func(*Options)) *Publisher {
	return New(eventbridge.NewFromConfig(cfg), bus, optFns...)
}

// Bus is the bus the publisher sends to.
func (p *Publisher) Bus() string { return p.bus }

// Failure is an entry that was not delivered to the bus.
type Failure struct {
	Entry   Entry
	Code    string
	Message string
	final   bool // a call error that is not worth a resend
}

// Result counts what Publish did.
type Result struct {
	// Sent entries were accepted by EventBridge.
	Sent int `json:"sent"`
	// Failed entries were not (refused locally, failed permanently, or still
	// failing after MaxAttempts); Failures lists them.
	Failed int `json:"failed"`
	// Calls is the number of PutEvents calls made.
	Calls int `json:"calls"`
	// Retried counts entry resends.
	Retried  int       `json:"retried"`
	Failures []Failure `json:"-"`
}

// ErrFailed is matched (errors.Is) by Publish's error when entries failed.
var ErrFailed = errors.New("events: entries not published")

// Publish sends entries in as few calls as the limits allow, resending only
// the entries that failed with a retryable code. Every entry ends up either
// sent or in Result.Failures. The error is nil when all were sent; it
// matches ErrFailed when some failed, and wraps the context's error when
// the context ended first (the unsent entries are then failures with code
// Canceled).
func (p *Publisher) Publish(ctx context.Context, entries []Entry) (Result, error) {
	var res Result
	pending := make([]Entry, 0, len(entries))
	for _, e := range entries {
		if code, msg := check(e); code != "" {
			res.fail(e, code, msg)
			continue
		}
		pending = append(pending, e)
	}
	var ctxErr error
	for attempt := 1; len(pending) > 0; attempt++ {
		if attempt > 1 {
			if err := p.opts.Sleep(ctx, p.backoff(attempt-1)); err != nil {
				ctxErr = err
				break
			}
			res.Retried += len(pending)
		}
		var retry []Entry
		for _, batch := range Batches(pending) {
			if err := ctx.Err(); err != nil {
				ctxErr = err
				retry = append(retry, batch...)
				continue
			}
			failed := p.send(ctx, batch, &res)
			for _, f := range failed {
				if !f.final && retryable(f.Code) && attempt < p.opts.MaxAttempts {
					retry = append(retry, f.Entry)
				} else {
					res.fail(f.Entry, f.Code, f.Message)
				}
			}
		}
		pending = retry
		if ctxErr != nil {
			break
		}
	}
	for _, e := range pending {
		res.fail(e, CodeCanceled, "context ended before the entry was sent")
	}
	switch {
	case ctxErr != nil:
		return res, fmt.Errorf("events: publishing to %s: %w (%d sent, %d failed)", p.bus, ctxErr, res.Sent, res.Failed)
	case res.Failed > 0:
		f := res.Failures[0]
		return res, fmt.Errorf("%w: %d of %d to %s (first: %s: %s)", ErrFailed, res.Failed, len(entries), p.bus, f.Code, f.Message)
	}
	return res, nil
}

func (r *Result) fail(e Entry, code, msg string) {
	r.Failed++
	r.Failures = append(r.Failures, Failure{Entry: e, Code: code, Message: msg})
}

// check refuses entries that cannot be sent.
func check(e Entry) (code, msg string) {
	if e.DetailType == "" {
		return CodeInvalidEntry, "no detail type"
	}
	d := bytes.TrimSpace(e.Detail)
	if len(d) == 0 || d[0] != '{' || !json.Valid(d) {
		return CodeInvalidEntry, "detail is not a JSON object"
	}
	if n := EntrySize(e); n > MaxCallBytes {
		return CodeEntryTooLarge, fmt.Sprintf("entry is %d bytes; PutEvents takes at most %d", n, MaxCallBytes)
	}
	return "", ""
}

// Batches splits entries, in order, into PutEvents calls: at most
// MaxEntriesPerCall entries and MaxCallBytes per call. Each entry must fit
// alone (Publish refuses those that do not).
func Batches(entries []Entry) [][]Entry {
	var out [][]Entry
	start, size := 0, 0
	for i, e := range entries {
		n := EntrySize(e)
		if i > start && (i-start == MaxEntriesPerCall || size+n > MaxCallBytes) {
			out = append(out, entries[start:i:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(entries) {
		out = append(out, entries[start:len(entries):len(entries)])
	}
	return out
}

// send makes one call and returns the entries that failed.
func (p *Publisher) send(ctx context.Context, batch []Entry, res *Result) []Failure {
	in := &eventbridge.PutEventsInput{Entries: make([]types.PutEventsRequestEntry, len(batch))}
	for i, e := range batch {
		re := types.PutEventsRequestEntry{
			EventBusName: aws.String(p.bus),
			Source:       aws.String(Source),
			DetailType:   aws.String(e.DetailType),
			Detail:       aws.String(string(e.Detail)),
			Resources:    e.Resources,
		}
		if !e.Time.IsZero() {
			re.Time = aws.Time(e.Time)
		}
		in.Entries[i] = re
	}
	res.Calls++
	out, err := p.api.PutEvents(ctx, in)
	if err != nil {
		code, again := callError(err)
		fs := make([]Failure, len(batch))
		for i, e := range batch {
			fs[i] = Failure{Entry: e, Code: code, Message: err.Error(), final: !again}
		}
		return fs
	}
	var fs []Failure
	for i, e := range batch {
		if i >= len(out.Entries) {
			fs = append(fs, Failure{Entry: e, Code: CodeNoResult, Message: "no result entry in the answer"})
			continue
		}
		r := out.Entries[i]
		if c := aws.ToString(r.ErrorCode); c != "" {
			fs = append(fs, Failure{Entry: e, Code: c, Message: aws.ToString(r.ErrorMessage)})
			continue
		}
		res.Sent++
	}
	return fs
}

// Per-entry codes documented as permanent; any other code is retried.
var permanent = map[string]bool{
	"AccessDeniedException":               true,
	"InvalidAccountIdException":           true,
	"InvalidArgument":                     true,
	"MalformedDetail":                     true,
	"RedactionFailure":                    true,
	"NotAuthorizedForSourceException":     true,
	"NotAuthorizedForDetailTypeException": true,
	"ResourceNotFoundException":           true,
	"ValidationException":                 true,
	CodeEntryTooLarge:                     true,
	CodeInvalidEntry:                      true,
	CodeCanceled:                          true,
}

func retryable(code string) bool { return !permanent[code] }

// Call error codes that are worth a resend (besides server faults and
// transport errors).
var throttles = map[string]bool{
	"ThrottlingException": true, "Throttling": true, "TooManyRequestsException": true,
	"RequestLimitExceeded": true, "InternalFailure": true, "InternalException": true, "ServiceUnavailable": true,
}

// callError classifies an error of the whole call: throttles, server faults
// (code InternalFailure unless the API gave one) and transport errors
// (TransportError) are worth a resend; other API errors keep their code and
// are final, as is the context's end (Canceled).
func callError(err error) (code string, again bool) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return CodeCanceled, false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
		var re *awshttp.ResponseError
		server := ae.ErrorFault() == smithy.FaultServer || errors.As(err, &re) && re.HTTPStatusCode() >= 500
		if code == "" {
			code = "CallFailed"
			if server {
				code = "InternalFailure"
			}
		}
		return code, server || throttles[code]
	}
	return "TransportError", true
}

func (p *Publisher) backoff(n int) time.Duration {
	d := p.opts.BaseDelay << min(n-1, 30)
	if d <= 0 || d > p.opts.MaxDelay {
		d = p.opts.MaxDelay
	}
	return time.Duration(p.opts.Rand() * float64(d))
}
