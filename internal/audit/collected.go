package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// maxCollectedBytes caps a stored collected state.
const maxCollectedBytes = 64 << 10

// maxRunIDLen caps a run id read back from storage.
const maxRunIDLen = 128

// CollectedKey is where a tenant's collected state is stored.
func CollectedKey(tenantID string) string {
	return "baseline/tenant=" + tenantID + "/collected.json"
}

// collectedState is, per dataset, the run and time of a tenant's last
// complete collection. A baseline is rewritten only when its items change,
// so its own run id and time can be older: this one small object per
// tenant keeps the later runs that found the items unchanged, and a
// change's previous_run_id and previous_time stay those of the last
// complete collection.
type collectedState struct {
	Version  int                     `json:"version"`
	TenantID string                  `json:"tenant_id"`
	Datasets map[string]collectedRun `json:"datasets"`
}

// collectedRun is one dataset's last complete collection.
type collectedRun struct {
	RunID string    `json:"run_id"`
	Time  time.Time `json:"time"`
}

// decodeCollected reads a stored collected state (hostile input): bounded,
// strict JSON, for the tenant, known datasets and bounded run ids.
func decodeCollected(data []byte, tenantID string) (*collectedState, error) {
	if len(data) > maxCollectedBytes {
		return nil, fmt.Errorf("audit: collected state larger than %d bytes", maxCollectedBytes)
	}
	var c collectedState
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("audit: collected state: %w", err)
	}
	switch {
	case c.Version != 1:
		return nil, fmt.Errorf("audit: collected state version %d, want 1", c.Version)
	case c.TenantID != tenantID:
		return nil, fmt.Errorf("audit: collected state names tenant %q", c.TenantID)
	}
	for ds, r := range c.Datasets {
		if _, ok := SpecOf(ds); !ok || r.RunID == "" || len(r.RunID) > maxRunIDLen {
			return nil, fmt.Errorf("audit: collected state: dataset %q or its run id refused", ds)
		}
	}
	if c.Datasets == nil {
		c.Datasets = map[string]collectedRun{}
	}
	return &c, nil
}

// readCollected returns the tenant's collected state; a missing, unreadable
// or refused one is empty (logged): changes then name the baseline's own
// run, an older complete collection, and nothing else is lost.
func (a *Auditor) readCollected(ctx context.Context, tenantID string) *collectedState {
	empty := &collectedState{Version: 1, TenantID: tenantID, Datasets: map[string]collectedRun{}}
	data, err := a.opts.Store.Get(ctx, CollectedKey(tenantID), maxCollectedBytes)
	if errors.Is(err, ErrNotFound) {
		return empty
	}
	var c *collectedState
	if err == nil {
		c, err = decodeCollected(data, tenantID)
	}
	if err != nil {
		a.log.Warn("collected state not read; changes name the baselines' runs", slog.String("tenant", tenantID), slog.Any("error", err))
		return empty
	}
	return c
}

// writeCollected stores the tenant's collected state.
func (a *Auditor) writeCollected(ctx context.Context, c *collectedState) error {
	b, err := json.Marshal(c)
	if err == nil {
		err = a.opts.Sink.Put(ctx, CollectedKey(c.TenantID), append(b, '\n'), "application/json")
	}
	if err != nil {
		return fmt.Errorf("audit: writing the collected state: %w", err)
	}
	return nil
}
