package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/centralmsp/centralmsp/pkg/msp"
)

// ItemObserver sees a run's items while they are streamed, so a consumer
// (drift detection) can build its own view without reading the objects
// back. Calls for one tenant's dataset come from one goroutine, in order:
// OnDatasetStart, then OnItem for each item of the dataset. A tenant's
// datasets are collected concurrently; OnTenantDone is called once after
// all of them ended.
// Different tenants call concurrently.
//
// Items seen for a dataset that then fails are not in the output: only a
// dataset whose DatasetResult in OnTenantDone has StatusOK was committed.
type ItemObserver interface {
	// OnDatasetStart is called before the first page of a tenant's dataset
	// (also when it is retried within the run, which drops what was seen).
	OnDatasetStart(t msp.Tenant, dataset string)
	// OnItem is called for each item written. item shares the page's body:
	// it must not be kept or modified after the call returns.
	OnItem(t msp.Tenant, dataset string, item json.RawMessage)
	// OnTenantDone is called once after the tenant's datasets ended (their
	// objects committed or aborted), with the tenant's result. It may do
	// I/O under ctx; an error or panic is logged, never failing the
	// tenant's data (the observer keeps its own account of failures).
	OnTenantDone(ctx context.Context, t msp.Tenant, tr *TenantResult) error
}

// observeTenant runs the observer's end of tenant, recovering a panic.
func (r *run) observeTenant(ctx context.Context, t msp.Tenant, tr *TenantResult) {
	obs := r.cfg.Observer
	if obs == nil || tr.Status == StatusDeferred && len(tr.Datasets) == 0 {
		return
	}
	err := callObserver(func() error { return obs.OnTenantDone(ctx, t, tr) })
	if err != nil {
		r.log.Warn("observer failed", slog.String("tenant", t.ID), slog.Any("error", fmt.Errorf("collector: observer: %w", err)))
	}
}

// Mapping says how an MSP-level record was matched to a tenant.
type Mapping string

// Mappings of MSP-level records (the _mapping field of their records).
const (
	// Mapped: the record's name names exactly one listed tenant.
	Mapped Mapping = "mapped"
	// Unmatched: no listed tenant has the record's name.
	Unmatched Mapping = "unmatched"
	// Ambiguous: several listed tenants have the record's name, or the
	// name is too long to be compared safely.
	Ambiguous Mapping = "ambiguous"
)

// TenantLabel is the tenant an MSP-level record was matched to: TenantID
// and TenantName are set only when Mapping is Mapped.
type TenantLabel struct {
	TenantID, TenantName string
	Mapping              Mapping
	// Candidates are the tenant ids an ambiguous name matched (at most
	// maxCandidates).
	Candidates []string
}

// MSPObserver is implemented by an ItemObserver that also wants the
// MSP-level datasets. They are read alongside the tenants, and every call
// below happens before the first tenant's OnTenantDone, from one
// goroutine: OnMSPDatasetStart, OnMSPItem per record written, then
// OnMSPDatasetDone with the result (items of a dataset that failed were
// not committed). An error or panic of OnMSPDatasetDone is logged, never
// failing the dataset.
type MSPObserver interface {
	OnMSPDatasetStart(dataset string)
	// OnMSPItem: item shares the page's body and must not be kept.
	OnMSPItem(dataset string, label TenantLabel, item json.RawMessage)
	OnMSPDatasetDone(ctx context.Context, res *MSPDatasetResult) error
}

// callObserver runs an observer's call, turning a panic into a
// *PanicError: an observer never takes the run down.
func callObserver(call func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return call()
}
