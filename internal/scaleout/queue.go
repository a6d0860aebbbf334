package scaleout

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// SQSQueue is the Queue of the Lambda function: the shard queue in SQS.
type SQSQueue struct {
	Client QueueAPI
	URL    string
}

var _ Queue = (*SQSQueue)(nil)

// Send implements Queue with SendMessageBatch (see Sender).
func (q *SQSQueue) Send(ctx context.Context, msgs ...ShardMessage) error {
	return (&Sender{Client: q.Client, QueueURL: q.URL}).Send(ctx, msgs...)
}

// Backlog implements Queue with the queue's approximate message counts.
func (q *SQSQueue) Backlog(ctx context.Context) (waiting, inFlight int, err error) {
	return queueBacklog(ctx, q.Client, q.URL)
}

// RetryLater implements Queue with ChangeMessageVisibility.
func (q *SQSQueue) RetryLater(ctx context.Context, receipt string, receiveCount int) (time.Duration, error) {
	return changeVisibility(ctx, q.Client, q.URL, receipt, receiveCount)
}

// LocalQueue is an in-process Queue: the demo drains it after a scheduled
// run, so the sharded path runs on a laptop. Bodies are encoded as they
// would be for SQS.
type LocalQueue struct {
	mu      sync.Mutex
	pending [][]byte
}

var _ Queue = (*LocalQueue)(nil)

// Send implements Queue.
func (q *LocalQueue) Send(ctx context.Context, msgs ...ShardMessage) error {
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("scaleout: encoding shard %s: %w", m.ID(), err)
		}
		q.mu.Lock()
		q.pending = append(q.pending, b)
		q.mu.Unlock()
	}
	return ctx.Err()
}

// Backlog implements Queue: the messages not yet taken by Drain.
func (q *LocalQueue) Backlog(ctx context.Context) (waiting, inFlight int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending), 0, nil
}

// RetryLater implements Queue; Drain retries at once.
func (q *LocalQueue) RetryLater(ctx context.Context, receipt string, receiveCount int) (time.Duration, error) {
	return 0, nil
}

// Drain runs fn on every message, including those sent while draining,
// in order. A message fn fails is tried up to maxReceives times in all,
// like the shard queue before its dead-letter queue; the errors of the
// messages given up are returned.
func (q *LocalQueue) Drain(ctx context.Context, maxReceives int, fn func(ctx context.Context, body []byte) error) []error {
	var failed []error
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.mu.Unlock()
			return failed
		}
		body := q.pending[0]
		q.pending = q.pending[1:]
		q.mu.Unlock()
		var err error
		for range max(maxReceives, 1) {
			if err = fn(ctx, body); err == nil {
				break
			}
		}
		if err != nil {
			failed = append(failed, err)
		}
	}
}
