package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/centralmsp/centralmsp/pkg/msp"

	"github.com/klauspost/compress/gzip"
)

// maxFindingStateBytes caps a finding state's decompressed size.
const maxFindingStateBytes = 64 << 20

// FindingState is a tenant's findings of its last run, by rule, so the next
// run can tell new findings; stored at FindingStateKey.
type FindingState struct {
	Version  int                 `json:"version"`
	TenantID string              `json:"tenant_id"`
	RunID    string              `json:"run_id"`
	Time     time.Time           `json:"time"`
	Rules    map[string][]string `json:"rules"`
	Health   *TenantHealth       `json:"health,omitempty"`
}

// FindingStateKey is where a tenant's finding state is stored.
func FindingStateKey(tenantID string) string {
	return "baseline/tenant=" + tenantID + "/findings.json.gz"
}

// FindingsKey is the key of a tenant's findings in a run.
func FindingsKey(date, runID, tenantID string) string {
	return "findings/dt=" + date + "/run=" + runID + "/tenant=" + tenantID + "/findings.ndjson.gz"
}

func encodeFindingState(s *FindingState) ([]byte, error) {
	var buf bytes.Buffer
	zw := getGzip(&buf)
	defer putGzip(zw)
	if err := json.NewEncoder(zw).Encode(s); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeFindingState reads a stored finding state (hostile input): gzip
// JSON of bounded size, for the tenant.
func decodeFindingState(data []byte, tenantID string) (*FindingState, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("audit: finding state: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxFindingStateBytes+1))
	if err != nil || len(raw) > maxFindingStateBytes {
		return nil, fmt.Errorf("audit: finding state unreadable or larger than %d bytes", maxFindingStateBytes)
	}
	var s FindingState
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("audit: finding state: %w", err)
	}
	if s.Version != 1 || s.TenantID != tenantID {
		return nil, fmt.Errorf("audit: finding state of tenant %q version %d refused", s.TenantID, s.Version)
	}
	return &s, nil
}

// findings evaluates the rules on the tenant's complete snapshots, marks
// the new ones against the stored finding state, writes them and the new
// state (rules not evaluated this run keep their previous ids).
func (a *Auditor) findings(ctx context.Context, t msp.Tenant, ta *TenantAudit, sets map[string]*Baseline, now time.Time) error {
	var prev *FindingState
	data, err := a.opts.Store.Get(ctx, FindingStateKey(t.ID), maxFindingStateBytes)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return err // without the state, "new" cannot be told: no findings this run
	default:
		if prev, err = decodeFindingState(data, t.ID); err != nil {
			ta.Errors = append(ta.Errors, err.Error())
			prev = nil
		}
	}
	in := evalInput{TenantID: t.ID, TenantName: t.Name, RunID: a.opts.RunID, Now: now, Sets: sets}
	if h, ok := a.healthOf(t.ID); ok {
		in.Health = &h
	}
	if prev != nil {
		in.PrevHealth = prev.Health
	}
	fs, evaluated := a.opts.Rules.evaluate(in)
	next := &FindingState{Version: 1, TenantID: t.ID, RunID: a.opts.RunID, Time: now, Rules: map[string][]string{}, Health: in.Health}
	if next.Health == nil && prev != nil {
		next.Health = prev.Health
	}
	if prev != nil {
		for r, ids := range prev.Rules {
			if !slices.Contains(evaluated, r) {
				next.Rules[r] = ids
			}
		}
	}
	for _, r := range evaluated {
		next.Rules[r] = []string{}
	}
	seen := map[string]bool{}
	if prev != nil {
		for _, ids := range prev.Rules {
			for _, id := range ids {
				seen[id] = true
			}
		}
	}
	for i := range fs {
		fs[i].New = !seen[fs[i].ID]
		if fs[i].New {
			ta.NewFindings++
		}
		next.Rules[fs[i].Rule] = append(next.Rules[fs[i].Rule], fs[i].ID)
	}
	ta.Findings, ta.FindingCount = fs, len(fs)
	if len(fs) > 0 {
		key := FindingsKey(a.opts.Date, a.opts.RunID, t.ID)
		if err := writeNDJSON(ctx, a.opts.Sink, key, fs); err != nil {
			return err
		}
		ta.FindingsKey = key
	}
	b, err := encodeFindingState(next)
	if err == nil {
		err = a.opts.Sink.Put(ctx, FindingStateKey(t.ID), b, "application/gzip")
	}
	if err != nil {
		return fmt.Errorf("audit: writing finding state: %w", err)
	}
	return nil
}
