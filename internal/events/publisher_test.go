package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/centralmsp/centralmsp/internal/audit"
)

// fakeAPI answers PutEvents with answer(call number, entry) per entry: ""
// accepts the entry, anything else is its error code. callErr, when set,
// fails whole calls.
type fakeAPI struct {
	mu      sync.Mutex
	calls   [][]types.PutEventsRequestEntry
	answer  func(call int, e types.PutEventsRequestEntry) string
	callErr func(call int) error
}

func (f *fakeAPI) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.calls)
	f.calls = append(f.calls, in.Entries)
	if len(in.Entries) > MaxEntriesPerCall {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "too many entries"}
	}
	total := 0
	for _, e := range in.Entries {
		total += EntrySize(Entry{DetailType: *e.DetailType, Detail: json.RawMessage(*e.Detail), Resources: e.Resources, Time: aws.ToTime(e.Time)})
	}
	if total > MaxCallBytes {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "Total size of the entries in the request is over the limit."}
	}
	if f.callErr != nil {
		if err := f.callErr(n); err != nil {
			return nil, err
		}
	}
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		code := ""
		if f.answer != nil {
			code = f.answer(n, e)
		}
		if code == "" {
			out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String(fmt.Sprint("id-", n))})
			continue
		}
		out.FailedEntryCount++
		out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("injected " + code)})
	}
	return out, nil
}

// sleeps records backoff waits without waiting.
type sleeps struct{ d []time.Duration }

func (s *sleeps) opts(o *Options) {
	o.Rand = func() float64 { return 0.999999 }
	o.Sleep = func(ctx context.Context, d time.Duration) error { s.d = append(s.d, d); return ctx.Err() }
}

func entryN(i, pad int) Entry {
	d := fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", pad))
	return Entry{DetailType: audit.DetailInventoryChange, Detail: json.RawMessage(d)}
}

func nOf(e types.PutEventsRequestEntry) int {
	var v struct{ N int }
	_ = json.Unmarshal([]byte(*e.Detail), &v)
	return v.N
}

func TestEntrySize(t *testing.T) {
	e := Entry{DetailType: "InventoryChange", Detail: json.RawMessage(`{"a":"é"}`), Resources: []string{"r1", "rr2"}}
	want := len("centralmsp") + len("InventoryChange") + len(`{"a":"é"}`) + 2 + 3
	if got := EntrySize(e); got != want {
		t.Fatalf("size %d, want %d", got, want)
	}
	e.Time = time.Unix(1, 0)
	if got := EntrySize(e); got != want+14 {
		t.Fatalf("with Time: %d, want %d", got, want+14)
	}
}

func TestBatchesRespectLimits(t *testing.T) {
	var small []Entry
	for i := range 25 {
		small = append(small, entryN(i, 10))
	}
	if got := sizes(Batches(small)); got != "10,10,5" {
		t.Fatalf("small: %s", got)
	}
	// 100 KiB details: two fit under 256 KiB, three do not.
	var big []Entry
	for i := range 5 {
		big = append(big, entryN(i, 100*1024))
	}
	if got := sizes(Batches(big)); got != "2,2,1" {
		t.Fatalf("big: %s", got)
	}
	// An entry of exactly MaxCallBytes travels alone.
	exact := Entry{DetailType: audit.DetailInventoryChange}
	exact.Detail = json.RawMessage(`{"pad":"` + strings.Repeat("y", MaxCallBytes-len(Source)-len(exact.DetailType)-len(`{"pad":""}`)) + `"}`)
	if EntrySize(exact) != MaxCallBytes {
		t.Fatalf("exact entry is %d bytes", EntrySize(exact))
	}
	if got := sizes(Batches([]Entry{small[0], exact, small[1]})); got != "1,1,1" {
		t.Fatalf("exact: %s", got)
	}
}

func sizes(bs [][]Entry) string {
	var s []string
	for _, b := range bs {
		s = append(s, fmt.Sprint(len(b)))
	}
	return strings.Join(s, ",")
}

// TestPublishResendsOnlyFailed: per-entry failures are resent alone;
// permanent codes are not resent; the counts add up.
func TestPublishResendsOnlyFailed(t *testing.T) {
	api := &fakeAPI{answer: func(call int, e types.PutEventsRequestEntry) string {
		n := nOf(e)
		switch {
		case n == 3:
			return "MalformedDetail" // permanent
		case n%5 == 0 && call < 3:
			return "ThrottlingException" // first attempt of the 3 calls
		case n == 7 && call < 3:
			return "InternalFailure"
		}
		return ""
	}}
	var sl sleeps
	p := New(api, "bus-a", sl.opts)
	var in []Entry
	for i := range 25 {
		in = append(in, entryN(i, 10))
	}
	res, err := p.Publish(t.Context(), in)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v, want ErrFailed", err)
	}
	if res.Sent != 24 || res.Failed != 1 || res.Failures[0].Code != "MalformedDetail" || nOf(types.PutEventsRequestEntry{Detail: aws.String(string(res.Failures[0].Entry.Detail))}) != 3 {
		t.Fatalf("result %+v", res)
	}
	// Call 4 resends exactly the 6 failed retryable entries (0,5,10,15,20 and 7).
	if len(api.calls) != 4 {
		t.Fatalf("%d calls, want 4", len(api.calls))
	}
	var resent []int
	for _, e := range api.calls[3] {
		resent = append(resent, nOf(e))
		if *e.Source != Source || *e.EventBusName != "bus-a" || *e.DetailType != audit.DetailInventoryChange {
			t.Fatalf("entry %+v", e)
		}
	}
	if fmt.Sprint(resent) != "[0 5 7 10 15 20]" {
		t.Fatalf("resent %v", resent)
	}
	if res.Calls != 4 || res.Retried != 6 || len(sl.d) != 1 {
		t.Fatalf("calls %d retried %d sleeps %v", res.Calls, res.Retried, sl.d)
	}
}

// TestPublishThrottledGivesUp: an entry throttled on every attempt is sent
// MaxAttempts times with growing, capped backoff, then reported failed.
func TestPublishThrottledGivesUp(t *testing.T) {
	api := &fakeAPI{answer: func(_ int, e types.PutEventsRequestEntry) string {
		if nOf(e) == 1 {
			return "ThrottlingException"
		}
		return ""
	}}
	var sl sleeps
	p := New(api, "", sl.opts, func(o *Options) { o.MaxAttempts = 6; o.BaseDelay = time.Second; o.MaxDelay = 4 * time.Second })
	res, err := p.Publish(t.Context(), []Entry{entryN(0, 1), entryN(1, 1)})
	if !errors.Is(err, ErrFailed) || res.Sent != 1 || res.Failed != 1 || res.Calls != 6 || res.Failures[0].Code != "ThrottlingException" {
		t.Fatalf("res %+v err %v", res, err)
	}
	if p.Bus() != DefaultBus {
		t.Fatalf("bus %q", p.Bus())
	}
	var caps []string
	for _, d := range sl.d {
		caps = append(caps, d.Round(time.Second).String())
	}
	if strings.Join(caps, " ") != "1s 2s 4s 4s 4s" {
		t.Fatalf("backoff %v", sl.d)
	}
}

// TestPublishSizeLimits: an entry over the limit is refused alone and never
// sent; an invalid one too; the rest go out in calls under the limit.
func TestPublishSizeLimits(t *testing.T) {
	api := &fakeAPI{}
	p := New(api, "b")
	huge := entryN(99, MaxCallBytes)
	in := []Entry{entryN(0, 120*1024), huge, entryN(1, 120*1024), entryN(2, 120*1024),
		{DetailType: audit.DetailAuditFinding, Detail: json.RawMessage(`[1]`)}, {Detail: json.RawMessage(`{}`)}}
	res, err := p.Publish(t.Context(), in)
	if !errors.Is(err, ErrFailed) {
		t.Fatal(err)
	}
	if res.Sent != 3 || res.Failed != 3 || res.Calls != 2 {
		t.Fatalf("res %+v", res)
	}
	codes := map[string]int{}
	for _, f := range res.Failures {
		codes[f.Code]++
	}
	if codes[CodeEntryTooLarge] != 1 || codes[CodeInvalidEntry] != 2 {
		t.Fatalf("codes %v", codes)
	}
	for _, c := range api.calls {
		for _, e := range c {
			if nOf(e) == 99 {
				t.Fatal("the oversized entry was sent")
			}
		}
	}
}

// TestPublishCallErrors: a throttled call is resent whole; a permanent call
// error fails its entries at once.
func TestPublishCallErrors(t *testing.T) {
	api := &fakeAPI{callErr: func(call int) error {
		if call == 0 {
			return &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
		}
		return nil
	}}
	var sl sleeps
	res, err := New(api, "b", sl.opts).Publish(t.Context(), []Entry{entryN(0, 1), entryN(1, 1)})
	if err != nil || res.Sent != 2 || res.Calls != 2 || res.Retried != 2 {
		t.Fatalf("res %+v err %v", res, err)
	}
	api = &fakeAPI{callErr: func(int) error {
		return &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Event bus b does not exist."}
	}}
	res, err = New(api, "b", sl.opts).Publish(t.Context(), []Entry{entryN(0, 1), entryN(1, 1)})
	if !errors.Is(err, ErrFailed) || res.Failed != 2 || res.Calls != 1 || res.Failures[1].Code != "ResourceNotFoundException" {
		t.Fatalf("res %+v err %v", res, err)
	}
	api = &fakeAPI{callErr: func(int) error { return errors.New("dial tcp: connection refused") }}
	res, _ = New(api, "b", sl.opts, func(o *Options) { o.MaxAttempts = 3 }).Publish(t.Context(), []Entry{entryN(0, 1)})
	if res.Failed != 1 || res.Calls != 3 || res.Failures[0].Code != "TransportError" {
		t.Fatalf("transport: %+v", res)
	}
}

// TestPublishCanceled: when the context ends during the backoff, the
// entries still pending are failures with code Canceled.
func TestPublishCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	api := &fakeAPI{answer: func(_ int, e types.PutEventsRequestEntry) string {
		if nOf(e) < 3 {
			return "InternalFailure"
		}
		return ""
	}}
	p := New(api, "b", func(o *Options) {
		o.Sleep = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
	})
	var in []Entry
	for i := range 12 {
		in = append(in, entryN(i, 1))
	}
	res, err := p.Publish(ctx, in)
	if !errors.Is(err, context.Canceled) || res.Sent != 9 || res.Failed != 3 || res.Failures[0].Code != CodeCanceled {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func TestNewFromConfig(t *testing.T) {
	cfg := aws.Config{Region: "eu-west-1"}
	if p := NewFromConfig(cfg, ""); p.Bus() != DefaultBus {
		t.Errorf("bus %q, want %q", p.Bus(), DefaultBus)
	}
	p := NewFromConfig(cfg, "centralmsp")
	if _, ok := p.api.(*eventbridge.Client); !ok || p.Bus() != "centralmsp" {
		t.Errorf("api %T bus %q", p.api, p.Bus())
	}
}
