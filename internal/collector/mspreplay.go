package collector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// Bounds on replaying a stored MSP-level object: it is read back from the
// store, so it is treated like any outside input.
const (
	maxReplayBytes = 64 << 20 // decompressed
	maxReplayLine  = 1 << 20
)

// replayMSP gives a tenant shard's MSPObserver the run's MSP-level records
// of the shard's own tenants, as the scheduling invocation stored them (the
// MSPShard part): a shard never reads MSP-level datasets itself, but its
// audit needs each tenant's health. Only records mapped to one of tenants
// are passed on; without a stored part nothing is.
func (r *run) replayMSP(ctx context.Context, tenants []msp.Tenant) {
	obs, ok := r.cfg.Observer.(MSPObserver)
	if !ok || r.cfg.Shard == "" || r.cfg.Shard == MSPShard || len(tenants) == 0 {
		return
	}
	b, err := r.cfg.Sink.Get(ctx, ShardKey(r.cfg.RunID, MSPShard))
	if err != nil {
		if !errors.Is(err, sink.ErrNotFound) {
			r.log.Warn("the run's MSP-level part cannot be read", slog.Any("error", err))
		}
		return
	}
	var part Manifest
	if err := json.Unmarshal(b, &part); err != nil || part.RunID != r.cfg.RunID {
		r.log.Warn("the run's MSP-level part is not this run's manifest: ignored", slog.Any("error", err))
		return
	}
	want := make(map[string]bool, len(tenants))
	for _, t := range tenants {
		want[t.ID] = true
	}
	for _, res := range part.MSP {
		obs.OnMSPDatasetStart(res.Dataset)
		if res.Status == StatusOK {
			if err := r.replayObject(ctx, obs, res, want); err != nil {
				res.Status, res.Error = StatusFailed, errorInfo(fmt.Errorf("replaying %s: %w", res.Key, err))
			}
		}
		r.observeMSP(ctx, &res)
	}
}

// replayObject passes the mapped records of one stored MSP-level object whose
// tenant is in want to obs.
func (r *run) replayObject(ctx context.Context, obs MSPObserver, res MSPDatasetResult, want map[string]bool) error {
	if res.Key == "" {
		return errors.New("no object key")
	}
	b, err := r.cfg.Sink.Get(ctx, res.Key)
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer zr.Close()
	sc := bufio.NewScanner(io.LimitReader(zr, maxReplayBytes))
	sc.Buffer(make([]byte, 0, 64<<10), maxReplayLine)
	for n := 0; sc.Scan(); n++ {
		if n >= maxMSPItems {
			return fmt.Errorf("more than %d records", maxMSPItems)
		}
		var label struct {
			TenantID string  `json:"_tenant_id"`
			Mapping  Mapping `json:"_mapping"`
		}
		if json.Unmarshal(sc.Bytes(), &label) != nil || label.Mapping != Mapped || !want[label.TenantID] {
			continue
		}
		obs.OnMSPItem(res.Dataset, TenantLabel{TenantID: label.TenantID, Mapping: Mapped}, sc.Bytes())
	}
	return sc.Err()
}
