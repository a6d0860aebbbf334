package httpcore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// CheckRetry decides whether a failed attempt of an idempotent request is
// retried: resp is the answer (nil when none arrived), err the transport
// error or the 2xx body's decoding error. It is asked about transport
// errors, answers other than 2xx, 401 and 429, and malformed 2xx bodies;
// 401 and 429 are handled by Hooks. A non-nil error ends the call with it.
type CheckRetry func(ctx context.Context, resp *Response, err error) (bool, error)

// Backoff returns the wait before retry number attempt (0-based), given
// the policy's minimum and maximum delay and the answer (nil if none).
type Backoff func(min, max time.Duration, attempt int, resp *Response) time.Duration

// DefaultCheckRetry retries transport errors, malformed bodies and 5xx
// answers except 501 and 505.
func DefaultCheckRetry(ctx context.Context, resp *Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return !errors.Is(err, ErrResponseTooLarge), nil
	}
	return resp != nil && RetryableStatus(resp.StatusCode), nil
}

// JitterBackoff returns exponential backoff with full jitter:
// rand() * min(min * 2^attempt, max).
func JitterBackoff(rand func() float64) Backoff {
	return func(lo, hi time.Duration, attempt int, _ *Response) time.Duration {
		ceil := hi
		if attempt < 32 {
			if d := lo << uint(attempt); d > 0 && d < ceil {
				ceil = d
			}
		}
		f := rand()
		if f < 0 {
			f = 0
		} else if f >= 1 {
			f = 0.999999
		}
		return time.Duration(f * float64(ceil))
	}
}

// Policy bounds the retries of one call.
type Policy struct {
	MaxAttempts        int           // HTTP attempts, the 401 renewal not counted
	MaxWait            time.Duration // total wait for retries and pauses
	MinDelay, MaxDelay time.Duration // passed to Backoff
	Sleep              func(ctx context.Context, d time.Duration) error
	Quota              *RetryQuota // nil: no quota
	CheckRetry         CheckRetry  // nil: DefaultCheckRetry
	Backoff            Backoff     // required
}

// Hooks are the client-specific steps of a call. Wait, Token, RateLimited
// and Pause are required.
type Hooks struct {
	Log       *slog.Logger
	LogPrefix string // prepended to every message, e.g. "classic: "
	LogAttrs  []any  // appended to every log record, e.g. "method", "GET"
	// Wait runs before every attempt (rate budget, limiter) and returns the
	// time waited; observe, if not nil, is given the attempt's answer.
	Wait  func(ctx context.Context, attempts int) (waited time.Duration, observe func(*Response), err error)
	Token func(ctx context.Context) (*oauth2.Token, error)
	// RenewFailed wraps the error of a token that could not be renewed
	// after a 401 (nil: the error as is, without the answer).
	RenewFailed func(err error) error
	// Authorization is the header value for tok (default tok.Type() + " " +
	// tok.AccessToken).
	Authorization func(tok *oauth2.Token) string
	// Secrets adds the secrets sent with tok to sent (default: the
	// Authorization value). They are scrubbed from every error answer.
	Secrets func(tok *oauth2.Token, sent *Secrets)
	// Unauthorized handles the first 401: true renews the token (done by
	// the hook) and retries once.
	Unauthorized func(ctx context.Context, resp *Response, tok *oauth2.Token) (bool, error)
	// RateLimited returns the wait before retrying a 429 (retries made so
	// far given), or an error that ends the call.
	RateLimited func(resp *Response, retries int) (time.Duration, error)
	// Pause makes every request sharing the rate budget wait d.
	Pause func(d time.Duration)
	// Decode runs on 2xx answers; its error marks the body as malformed.
	Decode func(*Response) error
}

// Client sends prepared requests through the retry loop.
type Client struct {
	HTTP    *http.Client
	MaxBody int64 // response size cap
}

// Do sends p until it gets an answer to return, retrying as pol allows.
// It returns the last answer, the secrets sent on the way (to scrub errors
// built from the answer) and an error when no usable answer came.
func (c *Client) Do(ctx context.Context, p *Prepared, pol Policy, h *Hooks) (*Response, *Secrets, error) {
	if pol.CheckRetry == nil {
		pol.CheckRetry = DefaultCheckRetry
	}
	k := &call{ctx: ctx, c: c, p: p, pol: pol, h: h, stats: CallStatsFrom(ctx), idem: Idempotent(p.Method)}
	resp, err := k.run()
	return resp, &k.sent, err
}

// call is the state of one call's retry loop.
type call struct {
	ctx   context.Context
	c     *Client
	p     *Prepared
	pol   Policy
	h     *Hooks
	stats *CallStats
	idem  bool

	attempts, retries, quotaTaken int
	renewed                       bool
	totalWait                     time.Duration
	last                          *Response
	sent                          Secrets
}

func (k *call) log(level slog.Level, msg string, args ...any) {
	if k.h.Log == nil || !k.h.Log.Enabled(k.ctx, level) {
		return
	}
	k.h.Log.Log(k.ctx, level, k.h.LogPrefix+msg, append(args, k.h.LogAttrs...)...)
}

func (k *call) run() (*Response, error) {
	for {
		w, observe, err := k.h.Wait(k.ctx, k.attempts)
		k.totalWait += w
		k.stats.wait(int64(w))
		if err != nil {
			return k.last, err
		}
		tok, err := k.h.Token(k.ctx)
		if err != nil {
			if k.renewed && k.last != nil && k.h.RenewFailed != nil {
				return k.last, k.h.RenewFailed(err)
			}
			return nil, err
		}
		k.attempts++
		k.stats.request()
		start := time.Now()
		resp, err := k.send(tok)
		if err != nil {
			if again, rerr := k.failed(resp, err); !again {
				return nil, rerr
			}
			continue
		}
		k.last = resp
		resp.Attempts = k.attempts
		k.log(slog.LevelDebug, "api call", "status", resp.StatusCode, "attempt", k.attempts, "duration", time.Since(start))
		if observe != nil {
			observe(resp)
		}
		if again, out, err := k.answer(resp, tok); !again {
			return out, err
		}
	}
}

// failed handles an attempt without a usable answer: true retries.
func (k *call) failed(resp *Response, err error) (bool, error) {
	if k.ctx.Err() != nil {
		return false, k.ctx.Err()
	}
	reason, status := "transport error", 0
	if resp != nil {
		reason, status = "response body cut short", resp.StatusCode
	}
	if errors.Is(err, ErrResponseTooLarge) {
		return false, &ResponseError{Method: k.p.Method, Path: k.p.Path, StatusCode: status, Reason: "response body too large", Attempts: k.attempts, Err: err}
	}
	k.log(slog.LevelWarn, "request failed", "attempt", k.attempts, "error", err)
	cost := RetryCost
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		cost = RetryTimeoutCost
	}
	if again, werr := k.retry(resp, err, reason, cost); werr != nil || again {
		return again, werr
	}
	return false, &ResponseError{Method: k.p.Method, Path: k.p.Path, StatusCode: status, Reason: reason, Attempts: k.attempts, Err: err}
}

// retry asks CheckRetry (idempotent methods only) and backs off.
func (k *call) retry(resp *Response, err error, reason string, cost int) (bool, error) {
	if !k.idem {
		return false, nil
	}
	again, cerr := k.pol.CheckRetry(k.ctx, resp, err)
	if cerr != nil || !again {
		return false, cerr
	}
	return k.backoff(reason, k.pol.Backoff(k.pol.MinDelay, k.pol.MaxDelay, k.retries, resp), cost)
}

// backoff waits d before a retry; false means the retry budget or the
// shared retry quota is spent.
func (k *call) backoff(reason string, d time.Duration, cost int) (bool, error) {
	if k.attempts >= k.pol.MaxAttempts || k.totalWait+d > k.pol.MaxWait || ExceedsDeadline(k.ctx, d) {
		return false, nil
	}
	if !k.pol.Quota.Take(cost) {
		k.log(slog.LevelWarn, "retry quota exhausted; not retrying", "reason", reason, "attempt", k.attempts)
		return false, nil
	}
	k.quotaTaken += cost
	k.log(slog.LevelWarn, "retrying request", "reason", reason, "attempt", k.attempts, "wait", d)
	k.stats.retry()
	k.retries++
	if d > 0 {
		if err := k.pol.Sleep(k.ctx, d); err != nil {
			return false, err
		}
		k.totalWait += d
		k.stats.wait(int64(d))
	}
	return true, nil
}

// answer handles an HTTP answer: true sends the request again; otherwise
// the response and error are the call's result.
func (k *call) answer(resp *Response, tok *oauth2.Token) (bool, *Response, error) {
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		return k.unauthorized(resp, tok)
	case code == http.StatusTooManyRequests:
		return k.rateLimited(resp)
	case code >= 200 && code <= 299:
		return k.success(resp)
	default:
		again, err := k.retry(resp, nil, fmt.Sprintf("status %d", code), RetryCost)
		return again, resp, err
	}
}

func (k *call) unauthorized(resp *Response, tok *oauth2.Token) (bool, *Response, error) {
	k.stats.unauthorized()
	if k.renewed {
		k.log(slog.LevelError, "request still unauthorized after token renewal")
		return false, resp, nil
	}
	k.renewed = true
	again, err := k.h.Unauthorized(k.ctx, resp, tok)
	if err != nil || !again {
		return false, resp, err
	}
	k.attempts-- // the renewal retry does not count against MaxAttempts
	return true, nil, nil
}

func (k *call) rateLimited(resp *Response) (bool, *Response, error) {
	k.stats.rateLimited()
	d, err := k.h.RateLimited(resp, k.retries)
	if err != nil {
		return false, resp, err
	}
	if k.attempts >= k.pol.MaxAttempts || k.totalWait+d > k.pol.MaxWait || ExceedsDeadline(k.ctx, d) {
		k.log(slog.LevelWarn, "rate limited; giving up", "attempt", k.attempts, "retry_after", d)
		return false, resp, nil
	}
	// Every request sharing the budget waits, not only this one.
	k.h.Pause(d)
	k.log(slog.LevelWarn, "rate limited; pausing", "attempt", k.attempts, "retry_after", d)
	k.stats.retry()
	k.retries++
	return true, nil, nil
}

func (k *call) success(resp *Response) (bool, *Response, error) {
	if k.h.Decode != nil {
		if derr := k.h.Decode(resp); derr != nil {
			again, werr := k.retry(resp, derr, "malformed body", RetryCost)
			if werr != nil || again {
				return again, resp, werr
			}
			return false, resp, &ResponseError{Method: k.p.Method, Path: k.p.Path, StatusCode: resp.StatusCode, Reason: "malformed JSON body", Attempts: k.attempts, Err: derr}
		}
	}
	// A success gives back what its retries took, or adds one.
	k.pol.Quota.Release(max(k.quotaTaken, 1))
	return false, resp, nil
}

// send makes one attempt and reads the whole body. On a read error the
// returned Response is non-nil (status known) along with the error. An
// error answer is scrubbed of the secrets sent before anyone sees it.
func (k *call) send(tok *oauth2.Token) (*Response, error) {
	var body io.Reader
	if k.p.HasBody {
		body = bytes.NewReader(k.p.Body)
	}
	hreq, err := http.NewRequestWithContext(k.ctx, k.p.Method, k.p.URL, body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	for key, v := range k.p.Header {
		hreq.Header[key] = v
	}
	hreq.Header["Authorization"] = []string{k.authorization(tok)}
	hresp, err := k.c.HTTP.Do(hreq)
	if err != nil {
		return nil, SanitizeTransportErr(err)
	}
	defer hresp.Body.Close()
	raw, err := k.readBody(hresp)
	r := &Response{StatusCode: hresp.StatusCode, Header: hresp.Header, Raw: raw}
	if r.StatusCode < 200 || r.StatusCode > 299 {
		k.scrub(r, tok)
	}
	if errors.Is(err, ErrResponseTooLarge) {
		return r, err
	}
	if err != nil {
		return r, SanitizeTransportErr(err)
	}
	return r, nil
}

// readBody reads hresp's body, into the request's Into when it is a 2xx.
func (k *call) readBody(hresp *http.Response) ([]byte, error) {
	if k.p.Into == nil || hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		return ReadBodySize(hresp.Body, k.c.MaxBody, hresp.ContentLength)
	}
	if size := hresp.ContentLength; *k.p.Into == nil || int64(cap(*k.p.Into)) <= size {
		PutBody(*k.p.Into) // too small for this body: another class's
		*k.p.Into = TakeBody(size)
	}
	raw, err := ReadBodyInto(hresp.Body, *k.p.Into, k.c.MaxBody, hresp.ContentLength)
	if raw != nil {
		*k.p.Into = raw[:0]
	}
	return raw, err
}

func (k *call) authorization(tok *oauth2.Token) string {
	if k.h.Authorization != nil {
		return k.h.Authorization(tok)
	}
	return tok.Type() + " " + tok.AccessToken
}

// scrub replaces every secret sent so far in an error answer's body and
// headers.
func (k *call) scrub(r *Response, tok *oauth2.Token) {
	if k.h.Secrets != nil {
		k.h.Secrets(tok, &k.sent)
	} else {
		k.sent.AddAuthorization(k.authorization(tok))
	}
	r.Raw = k.sent.ScrubBytes(r.Raw)
	k.sent.ScrubHeader(r.Header)
}

// ExceedsDeadline reports whether waiting d would pass ctx's deadline.
func ExceedsDeadline(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < d
}

// Sleep waits d or until ctx ends, whichever is first (ctx's error then):
// the default Policy.Sleep, and the one timer wait of every other
// retry or pacing loop.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
