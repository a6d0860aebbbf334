package scaleout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// batchSize is the most messages one SendMessageBatch call takes.
const batchSize = 10

// SQS limits one message body, and the bodies of one SendMessageBatch call
// together, to 256 KiB (some regions now take more; 256 KiB works in all).
const (
	// maxMessageBytes is the largest shard message body sent with tenant
	// names; a bigger one is sent without them.
	maxMessageBytes = 240 << 10
	// maxBatchBytes bounds the bodies of one SendMessageBatch call.
	maxBatchBytes = 256 << 10
)

// sqsAPI is the part of the SQS client Sender uses.
type sqsAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// QueueAPI is the part of the SQS client the collector uses: sending
// shards, reading the queue's backlog and scheduling a failed shard's retry.
type QueueAPI interface {
	sqsAPI
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Retry delays of a failed shard message: the first retry after
// retryBase, each later one twice the one before, at most retryMax.
const (
	retryBase = time.Minute
	retryMax  = 15 * time.Minute
)

// retryDelay is how long a shard message that failed on its receiveCount-th
// receive (SQS's ApproximateReceiveCount, from 1) stays invisible before
// SQS delivers it again. Without it the message would wait for the queue's
// whole visibility timeout (sized to the function's timeout), although a
// failed shard usually failed fast (the API or a store was unreachable).
func retryDelay(receiveCount int) time.Duration {
	d := retryBase
	for i := 1; i < receiveCount && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// changeVisibility makes a received message visible again after
// retryDelay(receiveCount) (SQS ChangeMessageVisibility).
func changeVisibility(ctx context.Context, client QueueAPI, queueURL, receiptHandle string, receiveCount int) (time.Duration, error) {
	d := retryDelay(receiveCount)
	_, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(queueURL), ReceiptHandle: aws.String(receiptHandle), VisibilityTimeout: int32(d / time.Second),
	})
	if err != nil {
		return 0, fmt.Errorf("scaleout: scheduling the retry in %s: %w", d, err)
	}
	return d, nil
}

// queueBacklog returns the shard messages waiting in the queue
// (ApproximateNumberOfMessages) and those being processed or waiting for a
// retry (ApproximateNumberOfMessagesNotVisible). A scheduled run that finds
// messages waiting skips: an earlier run is still being collected, and
// starting another would only lengthen the queue. Messages in flight do not
// stop it: a failed shard stays invisible for retryDelay (the collector
// shortens the queue's visibility timeout) before its retry.
func queueBacklog(ctx context.Context, client QueueAPI, queueURL string) (waiting, inFlight int, err error) {
	visible, hidden := types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{visible, hidden}})
	if err != nil {
		return 0, 0, fmt.Errorf("scaleout: reading the backlog of %s: %w", queueURL, err)
	}
	get := func(k types.QueueAttributeName) (int, error) {
		v, ok := out.Attributes[string(k)]
		if !ok {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("scaleout: %s of %s is %q", k, queueURL, v)
		}
		return n, nil
	}
	if waiting, err = get(visible); err != nil {
		return 0, 0, err
	}
	if inFlight, err = get(hidden); err != nil {
		return 0, 0, err
	}
	return waiting, inFlight, nil
}

// Sender sends shard messages to the shard queue.
type Sender struct {
	Client   sqsAPI
	QueueURL string
}

// SendError lists the shards SQS did not accept.
type SendError struct {
	QueueURL string
	Failed   []string // shard ids with SQS's reason
	Err      error    // a call that failed as a whole
	// Unsent holds every message not known to be sent: those SQS failed,
	// and, after a call failed as a whole, that call's and all later ones
	// (SQS may still have accepted some of that call's).
	Unsent []ShardMessage
}

func (e *SendError) Error() string {
	msg := fmt.Sprintf("scaleout: sending shards to %s failed", e.QueueURL)
	if len(e.Failed) > 0 {
		msg += ": " + strings.Join(e.Failed, "; ")
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the call's error.
func (e *SendError) Unwrap() error { return e.Err }

// Send sends one message per shard, in SendMessageBatch calls of at most
// batchSize messages and maxBatchBytes of bodies. Entries SQS reports as
// failed without a sender fault are sent once more; anything still failed
// is a *SendError. The SDK retries whole calls.
func (s *Sender) Send(ctx context.Context, msgs ...ShardMessage) error {
	msgs = slices.Clone(msgs) // names may be dropped below; not the caller's
	bodies := make([]string, len(msgs))
	for i := range msgs {
		body, err := json.Marshal(msgs[i])
		if err == nil && len(body) > maxMessageBytes && len(msgs[i].Names) > 0 {
			// Too big with the names: the shard lists tenants itself.
			msgs[i].Names = nil
			body, err = json.Marshal(msgs[i])
		}
		if err != nil {
			return fmt.Errorf("scaleout: encoding shard %s: %w", msgs[i].ID(), err)
		}
		bodies[i] = string(body)
	}
	var failed []string
	var unsent []ShardMessage
	for start := 0; start < len(msgs); {
		end, size := start, 0
		for end < len(msgs) && end-start < batchSize && (end == start || size+len(bodies[end]) <= maxBatchBytes) {
			size += len(bodies[end])
			end++
		}
		pending := make(map[string]ShardMessage, end-start)
		var entries []types.SendMessageBatchRequestEntry
		for i := start; i < end; i++ {
			id := strconv.Itoa(i - start)
			pending[id] = msgs[i]
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(bodies[i])})
		}
		for attempt := 0; len(entries) > 0; attempt++ {
			out, err := s.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.QueueURL), Entries: entries})
			if err != nil {
				for _, e := range entries {
					unsent = append(unsent, pending[aws.ToString(e.Id)])
				}
				unsent = append(unsent, msgs[end:]...)
				return &SendError{QueueURL: s.QueueURL, Failed: failed, Err: err, Unsent: unsent}
			}
			var retry []types.SendMessageBatchRequestEntry
			for _, f := range out.Failed {
				id := aws.ToString(f.Id)
				m := pending[id]
				if attempt == 0 && !f.SenderFault {
					for _, e := range entries {
						if aws.ToString(e.Id) == id {
							retry = append(retry, e)
						}
					}
					continue
				}
				failed = append(failed, fmt.Sprintf("shard %s: %s %s", m.ID(), aws.ToString(f.Code), aws.ToString(f.Message)))
				unsent = append(unsent, m)
			}
			entries = retry
		}
		start = end
	}
	if len(failed) > 0 {
		return &SendError{QueueURL: s.QueueURL, Failed: failed, Unsent: unsent}
	}
	return nil
}
