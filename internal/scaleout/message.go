package scaleout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// maxContinuations bounds the chain of continuation shards of one shard
// ("3", "3c1", ..., "3c8"). A continuation always makes progress (the engine
// starts at least one tenant when the invocation has time), so the bound
// only guards against a misconfigured timeout; tenants still deferred after
// it are picked up by the next scheduled run.
const maxContinuations = 8

// maxShardTenants caps the tenants of one shard so that a shard message
// (about 35 bytes per tenant) stays far below SQS's 256 KiB body limit.
const maxShardTenants = 2000

// ShardMessage is the SQS message body of one shard of a scheduled run (the
// sample is events/shard-message.json):
//
//	{"run_id":"20261124T140000Z-3fa9c2d1","shard":1,"shards":4,
//	 "tenants":["5f0c6e2a9b8d4c7e8a1b2c3d4e5f6a7b", ...],
//	 "datasets":["devices", ...], "deadline_unix":1795532100}
//
// A continuation of shard 3 (its tenants deferred when shard 3 ran out of
// time) carries "shard":3 and "continuation":1; its id is "3c1".
type ShardMessage struct {
	// RunID is the scheduled run the shard belongs to.
	RunID string `json:"run_id"`
	// Shard is the 1-based shard number; Shards the run's shard count.
	Shard  int `json:"shard"`
	Shards int `json:"shards"`
	// Continuation is 0 for a planned shard and n for the n-th
	// continuation of shard Shard.
	Continuation int `json:"continuation,omitempty"`
	// Tenants are workspace ids (32 lowercase hex digits).
	Tenants []string `json:"tenants"`
	// Names, when set, are the tenants' workspace names (Names[i] is
	// Tenants[i]'s), as the scheduled run listed them: the shard then
	// collects without listing the MSP's tenants again. A message too big
	// for SQS with them is sent without (see Sender).
	Names []string `json:"names,omitempty"`
	// Datasets are dataset names; empty means the function's default.
	Datasets []string `json:"datasets,omitempty"`
	// DeadlineUnix (epoch seconds, optional): a shard received after it
	// starts no tenant (all are recorded deferred, for the next scheduled
	// run) and no continuation is sent after it.
	DeadlineUnix int64 `json:"deadline_unix,omitempty"`

	// Duplicates is how many repeated tenant ids DecodeShardMessage
	// dropped (not part of the message).
	Duplicates int `json:"-"`
}

// ID is the shard's name in keys and manifests: "3", or "3c1" for the first
// continuation of shard 3.
func (m *ShardMessage) ID() string { return shardID(m.Shard, m.Continuation) }

// shardID names shard n's c-th continuation ("n" when c is 0).
func shardID(n, c int) string {
	if c == 0 {
		return strconv.Itoa(n)
	}
	return strconv.Itoa(n) + "c" + strconv.Itoa(c)
}

var shardIDRE = regexp.MustCompile(`^([1-9][0-9]*)(?:c([1-9][0-9]*))?$`)

// parseShardID splits a shard id made by shardID.
func parseShardID(id string) (n, c int, ok bool) {
	sm := shardIDRE.FindStringSubmatch(id)
	if sm == nil {
		return 0, 0, false
	}
	n, _ = strconv.Atoi(sm[1])
	if sm[2] != "" {
		c, _ = strconv.Atoi(sm[2])
	}
	return n, c, true
}

// Deadline returns DeadlineUnix as a time (zero when unset).
func (m *ShardMessage) Deadline() time.Time {
	if m.DeadlineUnix <= 0 {
		return time.Time{}
	}
	return time.Unix(m.DeadlineUnix, 0)
}

// Next returns the continuation of this shard for tenants, or false when
// the chain has reached maxContinuations.
func (m *ShardMessage) Next(tenants []string) (ShardMessage, bool) {
	if m.Continuation >= maxContinuations {
		return ShardMessage{}, false
	}
	n := *m
	n.Continuation = m.Continuation + 1
	n.Tenants = append([]string(nil), tenants...)
	n.Names = namesFor(tenants, m.TenantNames())
	return n, true
}

// namesFor returns the names of ids from names, or nil when names is empty.
func namesFor(ids []string, names map[string]string) []string {
	if len(names) == 0 {
		return nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = termsafe.Name(names[id])
	}
	return out
}

// TenantNames maps the message's tenant ids to their names, or is nil when
// the message carries no names.
func (m *ShardMessage) TenantNames() map[string]string {
	if len(m.Names) == 0 || len(m.Names) != len(m.Tenants) {
		return nil
	}
	out := make(map[string]string, len(m.Tenants))
	for i, id := range m.Tenants {
		out[id] = m.Names[i]
	}
	return out
}

// MessageError reports a shard message that cannot be processed.
type MessageError struct {
	Reason string
	Err    error
}

func (e *MessageError) Error() string {
	if e.Err != nil {
		return "scaleout: invalid shard message: " + e.Reason + ": " + e.Err.Error()
	}
	return "scaleout: invalid shard message: " + e.Reason
}

// Unwrap returns the decoding error, if any.
func (e *MessageError) Unwrap() error { return e.Err }

// DecodeShardMessage decodes and validates a shard message body; unknown
// fields are refused. The body is untrusted: a repeated tenant id
// (normalised comparison) is dropped, keeping the first occurrence and its
// name, and counted in Duplicates; names are cut to termsafe.MaxName bytes.
func DecodeShardMessage(body []byte) (*ShardMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var m ShardMessage
	if err := dec.Decode(&m); err != nil {
		return nil, &MessageError{Reason: "decoding the body", Err: err}
	}
	if dec.More() {
		return nil, &MessageError{Reason: "data after the JSON object"}
	}
	m.dedupe()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// dedupe drops repeated tenant ids (and their names) and caps names.
func (m *ShardMessage) dedupe() {
	named := len(m.Names) == len(m.Tenants)
	var names []string
	m.Tenants, m.Duplicates = msp.Unique(m.Tenants, func(i int) {
		if named {
			names = append(names, termsafe.Name(m.Names[i]))
		}
	})
	if named && len(m.Names) > 0 {
		m.Names = names
	}
}

// Validate checks the message's fields.
func (m *ShardMessage) Validate() error {
	var errs []error
	if m.RunID == "" {
		errs = append(errs, errors.New("run_id is required"))
	}
	if m.Shard < 1 || (m.Shards > 0 && m.Shard > m.Shards) {
		errs = append(errs, fmt.Errorf("shard %d: want 1 <= shard <= shards (%d)", m.Shard, m.Shards))
	}
	if m.Continuation < 0 || m.Continuation > maxContinuations {
		errs = append(errs, fmt.Errorf("continuation %d: want 0 to %d", m.Continuation, maxContinuations))
	}
	if len(m.Tenants) == 0 {
		errs = append(errs, errors.New("tenants is empty"))
	}
	if len(m.Names) > 0 && len(m.Names) != len(m.Tenants) {
		errs = append(errs, fmt.Errorf("%d names for %d tenants", len(m.Names), len(m.Tenants)))
	}
	if len(m.Tenants) > maxShardTenants {
		errs = append(errs, fmt.Errorf("%d tenants: at most %d per shard", len(m.Tenants), maxShardTenants))
	}
	for _, t := range m.Tenants {
		if _, err := msp.NormalizeTenantID(t); err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: not a workspace id", t))
			break
		}
	}
	if _, err := collector.SelectDatasets(m.Datasets...); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return &MessageError{Reason: "fields", Err: err}
	}
	return nil
}
