// Package events publishes centralmsp's change, finding and run events to an
// Amazon EventBridge bus with PutEvents.
//
// Every event has source "centralmsp". The detail types and their shapes are
// internal/audit's (audit.DetailInventoryChange, audit.InventoryChangeDetail
// and the others, see docs/events.md); events/schemas holds a JSON Schema
// (draft 2020-12) for each. This package only encodes and sends them; the
// bus is the caller's configuration (the collector Lambda's
// CENTRALMSP_EVENT_BUS).
//
// # Limits (EventBridge PutEvents)
//
// A call carries at most MaxEntriesPerCall entries whose sizes total at most
// MaxCallBytes. An entry's size is computed as AWS documents it (EntrySize):
// 14 bytes when Time is set, plus the UTF-8 bytes of Source, DetailType,
// Detail and each Resources entry. An entry larger than MaxCallBytes can never
// be sent: the publisher refuses it alone (it is counted failed with code
// EntryTooLarge and never sent) and sends the rest.
//
// # Retries
//
// PutEvents answers one result per entry; failed ones carry an error code.
// The publisher resends only the failed entries whose code is retryable
// (InternalFailure, ThrottlingException, or a code it does not know), with
// exponential backoff and full jitter, at most MaxAttempts times, and stops
// when the context ends. A call that fails as a whole (after the SDK's own
// retries) counts as a failure of each of its entries, retried the same way
// when the error is a throttle or a server fault. Entries that still failed
// are returned, with their codes, so the caller can count them.
package events

import (
	"encoding/json"
	"time"
)

// Source is the source of every event centralmsp publishes.
const Source = "centralmsp"

// DefaultBus is the account's default event bus.
const DefaultBus = "default"

// PutEvents limits.
const (
	// MaxEntriesPerCall is the most entries one PutEvents call carries.
	MaxEntriesPerCall = 10
	// MaxCallBytes is the most the entry sizes of one call may total
	// (256 KiB); it is also the largest entry that can be sent.
	MaxCallBytes = 256 * 1024
	// timeBytes is what a set Time adds to an entry's size.
	timeBytes = 14
)

// Entry is one event to publish: a detail type, its JSON detail and
// optional resources. The publisher adds the source and the bus.
type Entry struct {
	DetailType string
	Detail     json.RawMessage
	Resources  []string
	// Time is the event's time; zero leaves it to EventBridge (the time of
	// the call) and does not count in the entry's size.
	Time time.Time
}

// EntrySize is the size EventBridge counts for e against the call limit:
// 14 bytes if Time is set, plus the UTF-8 bytes of the source, the detail
// type, the detail and each resource.
func EntrySize(e Entry) int {
	n := len(Source) + len(e.DetailType) + len(e.Detail)
	if !e.Time.IsZero() {
		n += timeBytes
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// NewEntry marshals detail (an audit event detail, or any JSON value)
// into an Entry of the given detail type.
func NewEntry(detailType string, detail any) (Entry, error) {
	b, err := json.Marshal(detail)
	if err != nil {
		return Entry{}, err
	}
	return Entry{DetailType: detailType, Detail: b}, nil
}
