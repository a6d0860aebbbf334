// Package collector is the multi-tenant inventory engine: for every selected
// MSP tenant it reads every selected dataset (datasets.go) page by page and
// streams it as gzip NDJSON into a sink, one object per tenant and dataset,
// then writes a run manifest. The Lambda handler and the CLI both call Run.
//
// # Output layout (keys relative to the sink, which holds any prefix)
//
//	inventory/dataset=<dataset>/dt=<YYYY-MM-DD>/run=<run-id>/tenant=<tenant-id>.ndjson.gz
//	inventory/dataset=tenant-health/dt=<YYYY-MM-DD>/run=<run-id>/msp.ndjson.gz   (MSP-level, once per run)
//	runs/<run-id>/manifest.json           (the run's Manifest)
//	runs/<run-id>/shards/<shard>.json     (a shard's partial Manifest; see Join)
//
// dt is the UTC date the run started (Config.Date); tenant-id is the 32-hex
// workspace id.
//
// # Records
//
// Each NDJSON line is one API item with its fields kept verbatim (an item
// spread over several lines is compacted to one) and four fields added in
// front:
//
//	_tenant_id     the tenant's workspace id (32 hex)
//	_tenant_name   the tenant's workspace name
//	_run_id        the run id
//	_collected_at  when the item's page was received (RFC 3339, UTC, ms)
//
// An item that is not a JSON object is kept under "_value".
//
// # Guarantees
//
// An object is committed only when its dataset was read completely; any
// error aborts it, so no partial object is ever visible. Memory is bounded by
// Concurrency x (page size + gzip state and its input buffer + sink
// buffers), never by a tenant's size. A tenant's failure is recorded in the
// manifest and never stops the others; a panic is recovered at the tenant
// boundary.
package collector

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// Defaults of Config.
const (
	DefaultConcurrency = 8
	DefaultReserve     = 30 * time.Second
	DefaultFinishTime  = 10 * time.Second
)

// GzipLevel is the compression level of the dataset objects: BestSpeed of
// github.com/klauspost/compress, which writes standard gzip several times
// faster than compress/gzip's default level for somewhat bigger files, with
// the same state per writer (figures: BenchmarkGzip, docs/benchmarks.md). Gzip
// is most of the collector's CPU, and a Lambda bills its time, while S3 and
// Athena bill compressed bytes at a few dollars per TB.
const GzipLevel = gzip.BestSpeed

// ContentType is the content type of the dataset objects.
const ContentType = "application/gzip"

// Config configures one run.
type Config struct {
	// MSP lists tenants and gives tenant clients (required); see FromMSP.
	MSP MSP
	// Sink receives the objects and the manifest (required).
	Sink sink.Sink
	// Datasets are the names of the datasets to collect; empty means all
	// but the opt-in ones (audit-logs). MSP-level ones (tenant-health) are
	// read once per run, not per tenant, and never by a shard.
	Datasets []string
	// Params adds query parameters per dataset name, over the dataset's own
	// (e.g. the audit-logs createdAt filter of an audit request).
	Params map[string]map[string]any
	// Listed, when not nil, is the tenant list already read (ListTenants):
	// the engine selects from it instead of listing the MSP's tenants.
	Listed []ListedTenant
	// Tenants selects tenants by workspace id (with or without dashes) or
	// by exact name; empty means every tenant. A selector that matches no
	// tenant (or a name that matches several) is a failed tenant with class
	// not_found.
	Tenants []string
	// Concurrency is the number of tenants collected in parallel
	// (default DefaultConcurrency). A tenant's datasets run three at a
	// time, so up to three times Concurrency datasets are in flight, each
	// holding one page and one gzip stream: memory grows with it.
	Concurrency int
	// RunID names the run (letters, digits, '.', '_', '-'); default NewRunID.
	RunID string
	// Shard, when set, makes this run one shard of RunID: its manifest is
	// written to ShardKey(RunID, Shard) for Join, instead of ManifestKey.
	Shard string
	// Date is the dt partition (YYYY-MM-DD); default the UTC date this
	// engine run starts. The shards of one run pass the run's date, so a
	// shard that starts after midnight writes to the run's partition.
	Date string
	// Now is the clock (default time.Now). The deadline check, durations,
	// the dt partition and _collected_at use it.
	Now func() time.Time
	// Reserve: when ctx has a deadline and less than Reserve is left (by
	// Now), no new tenant is started and the rest are deferred. Default
	// DefaultReserve; negative disables the check.
	Reserve time.Duration
	// FinishTime is kept at the end of ctx's deadline for aborting uploads
	// and writing the manifest: in-flight work is cancelled FinishTime
	// before the deadline, and the manifest is written on a context detached
	// from ctx with this timeout. Default DefaultFinishTime.
	FinishTime time.Duration
	// Logger receives progress and errors (default: discard).
	Logger *slog.Logger
	// Progress, if set, is called for each event. Calls are serialised, so
	// it needs no locking, but it should return quickly.
	Progress func(Event)
	// Observer, if set, sees every item as it is streamed and each
	// tenant's end (see ItemObserver); drift detection uses it. One that
	// also implements MSPObserver sees the MSP-level datasets first.
	Observer ItemObserver
}

// EventKind says what an Event reports.
type EventKind int

const (
	// TenantsListed: the tenant list is known; TenantsTotal is set.
	TenantsListed EventKind = iota
	// TenantStarted: a tenant's collection began.
	TenantStarted
	// DatasetDone: one dataset of a tenant ended (Status, Records).
	DatasetDone
	// TenantDone: a tenant ended, was deferred or could not be found.
	TenantDone
)

// Event is a progress report.
type Event struct {
	Kind       EventKind
	TenantID   string
	TenantName string
	Dataset    string // DatasetDone only
	Status     Status // DatasetDone and TenantDone
	Records    int64  // the dataset's, or the tenant's total
	Error      *ErrorInfo
	// TenantsDone and TenantsTotal count tenants for a progress bar.
	TenantsDone, TenantsTotal int
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// NewRunID returns a sortable run id such as "20261123T141500Z-3fa9c2d1".
func NewRunID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ObjectKey returns the key of a tenant's dataset object.
func ObjectKey(dataset, date, runID, tenantID string) string {
	return "inventory/dataset=" + dataset + "/dt=" + date + "/run=" + runID + "/tenant=" + tenantID + ".ndjson.gz"
}

// ManifestKey returns the key of a run's manifest.
func ManifestKey(runID string) string { return "runs/" + runID + "/manifest.json" }

// ShardKey returns the key of a shard's partial manifest.
func ShardKey(runID, shard string) string { return "runs/" + runID + "/shards/" + shard + ".json" }

// WriteManifest stores m at its key (ShardKey when m.Shard is set).
func WriteManifest(ctx context.Context, s sink.Sink, m *Manifest) error {
	b, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("collector: encoding manifest: %w", err)
	}
	key := ManifestKey(m.RunID)
	if m.Shard != "" {
		key = ShardKey(m.RunID, m.Shard)
	}
	if err := s.Put(ctx, key, b, "application/json"); err != nil {
		return &SinkError{Key: key, Err: err}
	}
	return nil
}

// run is the state of one Run.
type run struct {
	cfg         Config
	datasets    []Dataset
	mspDatasets []Dataset
	// listed is every tenant listed (before the Tenants filter; an unusable
	// id as ""), to label MSP-level records by name.
	listed []msp.Tenant
	// mspDone is closed when the MSP-level datasets were read (or none
	// is): a tenant's observer end waits for it.
	mspDone  chan struct{}
	date     string
	log      *slog.Logger
	now      func() time.Time
	deadline time.Time // zero: none

	encoders  encoderPool
	deferring atomic.Bool

	progMu      sync.Mutex
	done, total int

	sinkMu  sync.Mutex
	sinkErr error
}

// Run collects the selected datasets of the selected tenants into cfg.Sink
// and writes the manifest, which it returns.
//
// Tenant and dataset failures are data in the manifest. Run returns an error
// only for an invalid Config (with a nil manifest), when tenants were
// selected but nothing was collected (ErrNothingCollected, e.g. the tenant
// list could not be read), or when the sink failed (*SinkError, including
// the manifest write). The manifest is returned whenever the run started.
func Run(ctx context.Context, cfg Config) (*Manifest, error) {
	r, err := newRun(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return r.execute(ctx)
}

func newRun(ctx context.Context, cfg Config) (*run, error) {
	if cfg.MSP == nil {
		return nil, errors.New("collector: Config.MSP is required")
	}
	if cfg.Sink == nil {
		return nil, errors.New("collector: Config.Sink is required")
	}
	ds, err := SelectDatasets(cfg.Datasets...)
	if err != nil {
		return nil, err
	}
	mds, _ := SelectMSPDatasets(cfg.Datasets...) // the same names: already valid
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Reserve == 0 {
		cfg.Reserve = DefaultReserve
	}
	if cfg.FinishTime <= 0 {
		cfg.FinishTime = DefaultFinishTime
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RunID == "" {
		cfg.RunID = NewRunID(cfg.Now())
	}
	if !nameRE.MatchString(cfg.RunID) {
		return nil, fmt.Errorf("collector: invalid run id %q (letters, digits, '.', '_', '-'; at most 128)", cfg.RunID)
	}
	if cfg.Shard != "" && !nameRE.MatchString(cfg.Shard) {
		return nil, fmt.Errorf("collector: invalid shard %q", cfg.Shard)
	}
	if cfg.Date != "" {
		if _, err := time.Parse(time.DateOnly, cfg.Date); err != nil {
			return nil, fmt.Errorf("collector: invalid date %q (want YYYY-MM-DD)", cfg.Date)
		}
	}
	r := &run{cfg: cfg, datasets: ds, mspDatasets: mds, log: cfg.Logger.With(slog.String("run_id", cfg.RunID)), now: cfg.Now}
	if dl, ok := ctx.Deadline(); ok {
		r.deadline = dl
	}
	return r, nil
}

func (r *run) execute(ctx context.Context) (*Manifest, error) {
	start := r.now()
	r.date = r.cfg.Date
	if r.date == "" {
		r.date = start.UTC().Format(time.DateOnly)
	}
	var tok0 TokenStats
	ts, hasTS := r.cfg.MSP.(TokenStatser)
	if hasTS {
		tok0 = ts.TokenStats()
	}
	m := &Manifest{
		Version: ManifestVersion, RunID: r.cfg.RunID, Shard: r.cfg.Shard, Date: r.date,
		Sink: r.cfg.Sink.String(), StartedAt: start.UTC(), Tenants: []TenantResult{},
	}
	for _, d := range r.datasets {
		m.Datasets = append(m.Datasets, d.Name)
	}

	// In-flight work stops FinishTime before the deadline, so aborts and the
	// manifest still fit.
	work := ctx
	if !r.deadline.IsZero() {
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, r.deadline.Add(-r.cfg.FinishTime))
		defer cancel()
	}

	tenants, unresolved, dups, listErr := r.selectTenants(work)
	m.Totals.DuplicateTenants = dups
	if listErr != nil {
		m.Error = errorInfo(listErr)
		r.log.Error("listing tenants failed", slog.Any("error", listErr))
	}
	// MSP-level datasets alongside the tenants (one call per 100 tenants
	// need not delay every tenant by its latency); a tenant's observer end
	// waits for them. With no tenant-level dataset no tenant is connected.
	var mspRes []MSPDatasetResult
	r.mspDone = make(chan struct{})
	go func() {
		defer close(r.mspDone)
		mspRes = r.collectMSP(work, listErr)
	}()
	r.replayMSP(work, tenants)
	if len(r.datasets) == 0 && r.readsMSP() {
		tenants = nil
	}
	r.total = len(tenants) + len(unresolved)
	r.emit(Event{Kind: TenantsListed})
	for _, u := range unresolved {
		r.emit(Event{Kind: TenantDone, TenantID: u.ID, Status: u.Status, Error: u.Error})
	}

	m.Tenants = append(m.Tenants, r.collectAll(work, tenants)...)
	<-r.mspDone
	m.MSP = mspRes
	m.Tenants = append(m.Tenants, unresolved...)
	end := r.now()
	m.FinishedAt = end.UTC()
	m.Totals.DurationMS = end.Sub(start).Milliseconds()
	if hasTS {
		t1 := ts.TokenStats()
		m.Totals.Exchanges = t1.Exchanges - tok0.Exchanges
		m.Totals.TokenCacheHits = t1.CacheHits - tok0.CacheHits
		m.Totals.TokenCacheMisses = t1.CacheMisses - tok0.CacheMisses
	}
	if br, ok := r.cfg.MSP.(BudgetReporter); ok {
		m.Budgets = br.BudgetReport()
	}
	m.Summarize()

	return m, r.finish(ctx, m, listErr)
}

// collectAll collects the tenants, Concurrency at a time; tenants not
// started before the deadline are deferred.
func (r *run) collectAll(work context.Context, tenants []msp.Tenant) []TenantResult {
	results := make([]TenantResult, len(tenants))
	var g errgroup.Group
	g.SetLimit(r.cfg.Concurrency)
	for i, t := range tenants {
		if r.deferring.Load() || work.Err() != nil {
			results[i] = r.deferred(t)
			continue
		}
		g.Go(func() error {
			results[i] = r.tenant(work, t)
			<-r.mspDone // the observer has the MSP-level datasets before any tenant's end
			r.observeTenant(work, t, &results[i])
			return nil
		})
	}
	_ = g.Wait() // workers never return errors: failures are data
	return results
}

// finish writes the manifest and returns the run's errors: the manifest's
// or an object's write, and ErrNothingCollected when no dataset was.
func (r *run) finish(ctx context.Context, m *Manifest, listErr error) error {
	// Never the work ctx (possibly expired) for the final write.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.FinishTime)
	defer cancel()
	var errs []error
	if err := WriteManifest(wctx, r.cfg.Sink, m); err != nil {
		errs = append(errs, err)
	}
	r.sinkMu.Lock()
	if r.sinkErr != nil {
		errs = append(errs, r.sinkErr)
	}
	r.sinkMu.Unlock()
	mspOnly := len(r.datasets) == 0 && len(m.MSP) > 0
	if m.Totals.DatasetsOK == 0 && (m.Totals.Tenants > 0 || listErr != nil) || mspOnly && m.Totals.MSPDatasetsOK == 0 {
		if listErr != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrNothingCollected, listErr))
		} else {
			errs = append(errs, ErrNothingCollected)
		}
	}
	r.log.Info("run finished",
		slog.Bool("complete", m.Complete), slog.Int("tenants_ok", m.Totals.TenantsOK),
		slog.Int("tenants_failed", m.Totals.TenantsFailed), slog.Int("tenants_deferred", m.Totals.TenantsDeferred),
		slog.Int64("records", m.Totals.Records), slog.Int64("api_calls", m.Totals.APICalls),
		slog.Int64("duration_ms", m.Totals.DurationMS))
	return errors.Join(errs...)
}

// DuplicateCounter is implemented by an MSP that skips repeated tenant ids
// itself (*msp.MSP does): its count is added to the manifest's.
type DuplicateCounter interface {
	DuplicateTenants() int
}

// matchTenants finds the listed tenants a selector names: by id when it is
// one, else by exact name.
func matchTenants(all []msp.Tenant, sel string) []msp.Tenant {
	var match []msp.Tenant
	if id, err := msp.NormalizeTenantID(sel); err == nil {
		for _, t := range all {
			if t.ID == id {
				match = append(match, t)
			}
		}
	}
	if len(match) == 0 {
		for _, t := range all {
			if t.Name == sel {
				match = append(match, t)
			}
		}
	}
	return match
}

// selectTenants lists the tenants and applies the Tenants filter. It returns
// the tenants to collect, failed results for selectors that match none, and
// how many repeated tenant ids were skipped (the list is untrusted: each
// normalised id, or each unusable raw id, is taken once, the first time).
func (r *run) selectTenants(ctx context.Context) ([]msp.Tenant, []TenantResult, int, error) {
	var all []msp.Tenant
	var bad []TenantResult
	var listErr error
	var ids msp.TenantSet
	dc, hasDC := r.cfg.MSP.(DuplicateCounter)
	dup0 := 0
	if hasDC {
		dup0 = dc.DuplicateTenants()
	}
	for t, err := range r.tenants(ctx) {
		// Untrusted text: what is stored of it (manifest, records) is
		// bounded whatever the MSP implementation.
		t.Name, t.WorkspaceID = termsafe.Name(t.Name), termsafe.Name(t.WorkspaceID)
		key := t.ID
		if key == "" {
			key = t.WorkspaceID
		}
		if (key != "" || err == nil) && !ids.Add(key) {
			r.log.Warn("duplicate tenant in the tenant list: keeping the first", slog.String("tenant_id", msp.LogID(key)))
			continue
		}
		if err == nil || errors.As(err, new(*msp.InvalidTenantIDError)) {
			r.listed = append(r.listed, msp.Tenant{ID: t.ID, Name: t.Name})
		}
		if err != nil {
			var inv *msp.InvalidTenantIDError
			if errors.As(err, &inv) && (t.WorkspaceID != "" || t.Name != "") {
				if len(r.cfg.Tenants) == 0 {
					bad = append(bad, r.failedTenant(t.WorkspaceID, t.Name, err))
				}
				continue
			}
			listErr = fmt.Errorf("collector: listing tenants: %w", err)
			break
		}
		all = append(all, t)
	}
	dups := ids.Duplicates
	if hasDC {
		dups += dc.DuplicateTenants() - dup0
	}
	if len(r.cfg.Tenants) == 0 {
		return all, bad, dups, listErr
	}
	var out []msp.Tenant
	seen := map[string]bool{}
	for _, sel := range r.cfg.Tenants {
		sel = strings.TrimSpace(sel)
		if sel == "" {
			continue
		}
		match := matchTenants(all, sel)
		switch {
		case len(match) == 1:
			if !seen[match[0].ID] {
				seen[match[0].ID] = true
				out = append(out, match[0])
			}
		case len(match) > 1:
			ids := make([]string, len(match))
			for i, t := range match {
				ids[i] = t.WorkspaceID
			}
			bad = append(bad, r.failedTenant(sel, sel, &msp.AmbiguousTenantError{Name: sel, IDs: ids}))
		case listErr == nil:
			bad = append(bad, r.failedTenant(sel, "", &msp.TenantNotFoundError{Name: sel}))
		default:
			bad = append(bad, r.failedTenant(sel, "", listErr))
		}
	}
	return out, bad, dups, listErr
}

// failedTenant is a tenant result where every dataset failed with err.
func (r *run) failedTenant(id, name string, err error) TenantResult {
	id, name = termsafe.Name(id), termsafe.Name(name)
	ei := errorInfo(err)
	tr := TenantResult{ID: id, Name: name, Status: StatusFailed, Error: ei}
	for _, d := range r.datasets {
		tr.Datasets = append(tr.Datasets, DatasetResult{Dataset: d.Name, Status: StatusFailed, Error: ei})
	}
	return tr
}

// deferred is the result of a tenant not started for lack of time.
func (r *run) deferred(t msp.Tenant) TenantResult {
	tr := TenantResult{ID: t.ID, Name: t.Name, Status: StatusDeferred}
	for _, d := range r.datasets {
		tr.Datasets = append(tr.Datasets, DatasetResult{Dataset: d.Name, Status: StatusDeferred})
	}
	r.emit(Event{Kind: TenantDone, TenantID: t.ID, TenantName: t.Name, Status: StatusDeferred})
	return tr
}

// tooLate reports whether less than Reserve is left before the deadline.
func (r *run) tooLate() bool {
	return r.cfg.Reserve > 0 && !r.deadline.IsZero() && r.deadline.Sub(r.now()) < r.cfg.Reserve
}

// emit delivers a progress event, serialised, with the tenant counters.
func (r *run) emit(e Event) {
	r.progMu.Lock()
	defer r.progMu.Unlock()
	if e.Kind == TenantDone {
		r.done++
	}
	e.TenantsDone, e.TenantsTotal = r.done, r.total
	if r.cfg.Progress != nil {
		r.cfg.Progress(e)
	}
}

// tenant collects one tenant; it never panics and never returns an error.
func (r *run) tenant(ctx context.Context, t msp.Tenant) (tr TenantResult) {
	if r.deferring.Load() || r.tooLate() {
		r.deferring.Store(true)
		return r.deferred(t)
	}
	log := r.log.With(slog.String("tenant", t.ID))
	start := r.now()
	tr = TenantResult{ID: t.ID, Name: t.Name}
	r.emit(Event{Kind: TenantStarted, TenantID: t.ID, TenantName: t.Name})
	defer func() {
		if v := recover(); v != nil {
			perr := &PanicError{Value: v, Stack: debug.Stack()}
			log.Error("tenant panicked", slog.Any("panic", v), slog.String("stack", string(perr.Stack)))
			tr.Error = errorInfo(perr)
			r.fillRemaining(&tr, StatusFailed, tr.Error)
		}
		tr.recompute()
		tr.DurationMS = r.now().Sub(start).Milliseconds()
		var recs int64
		for _, d := range tr.Datasets {
			recs += d.Records
		}
		r.emit(Event{Kind: TenantDone, TenantID: t.ID, TenantName: t.Name, Status: tr.Status, Records: recs, Error: tr.Error})
	}()

	client, err := r.cfg.MSP.TenantClient(ctx, t.ID)
	if err != nil {
		log.Warn("tenant connection failed", slog.Any("error", err))
		tr.Error = errorInfo(err)
		r.fillRemaining(&tr, StatusFailed, tr.Error)
		return tr
	}
	defer func() {
		if err := r.cfg.MSP.CloseTenant(t.ID); err != nil {
			log.Debug("closing tenant failed", slog.Any("error", err))
		}
	}()

	done, loginErr, perr := r.collectDatasets(ctx, client, t, log)
	for _, res := range done {
		if res != nil {
			tr.Datasets = append(tr.Datasets, *res)
		}
	}
	switch {
	case perr != nil:
		log.Error("tenant panicked", slog.Any("panic", perr.Value), slog.String("stack", string(perr.Stack)))
		tr.Error = errorInfo(perr)
		r.fillRemaining(&tr, StatusFailed, tr.Error)
	case loginErr != nil:
		// The tenant's token cannot be had: no dataset tries again.
		tr.Error = loginErr
		r.fillRemaining(&tr, StatusFailed, loginErr)
	case len(tr.Datasets) < len(r.datasets):
		// Out of time before the rest started.
		r.fillRemaining(&tr, StatusDeferred, nil)
	}
	return tr
}

// tenantDatasetConcurrency bounds a tenant's datasets in progress at once:
// enough that the budget, not the answers' processing, paces a tenant's
// requests; few enough that Concurrency tenants do not hold 8 pages and
// objects each when the machine, not the API, is the limit.
const tenantDatasetConcurrency = 3

// collectDatasets collects a tenant's datasets side by side
// (tenantDatasetConcurrency at a time, the APIs spread evenly): the budgets
// pace the requests, so a tenant's next request goes out when its budget
// allows, not when the previous dataset's answer was processed, and GLP's
// datasets do not wait for New Central's. A tenant takes as long as its
// budget-paced requests, not the sum of its answers' times. Each dataset's
// object is opened at its first page and committed at once, so few are
// open at a time. It returns the results in the datasets' order (nil for
// one not started: out of time, or after a login failure, which stops the
// others and is returned), and the first panic.
//
// The calling goroutine is one of the workers and each worker takes the
// next dataset in order when it finishes one: a goroutine per dataset grew
// its stack from scratch through the SDK's and net/http's frames each time,
// 5% of the collector's CPU at 1,000 tenants.
func (r *run) collectDatasets(ctx context.Context, client *central.Client, t msp.Tenant, log *slog.Logger) ([]*DatasetResult, *ErrorInfo, *PanicError) {
	results := make([]*DatasetResult, len(r.datasets))
	var loginErr atomic.Pointer[ErrorInfo]
	var panicked atomic.Pointer[PanicError]
	order := spreadAPIs(r.datasets)
	var next atomic.Int64
	one := func(i int) { // a panic ends its dataset, not its worker
		defer func() {
			if v := recover(); v != nil {
				panicked.CompareAndSwap(nil, &PanicError{Value: v, Stack: debug.Stack()})
			}
		}()
		res := r.collectDataset(ctx, client, t, r.datasets[i], log)
		results[i] = &res
		if res.Error != nil && res.Error.Class == ClassLogin {
			loginErr.CompareAndSwap(nil, res.Error)
		}
	}
	work := func() {
		for {
			n := int(next.Add(1)) - 1
			if n >= len(order) || ctx.Err() != nil || loginErr.Load() != nil {
				return
			}
			one(order[n])
		}
	}
	var wg sync.WaitGroup
	for range min(tenantDatasetConcurrency, len(order)) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return results, loginErr.Load(), panicked.Load()
}

// spreadAPIs orders datasets' indices so each API's datasets are spread
// evenly over the order (a dataset's place is its rank within its API over
// the API's count; the larger API first on a tie): the datasets started
// first draw on different budgets, and no API waits behind all of another's.
func spreadAPIs(ds []Dataset) []int {
	count := map[central.App]int{}
	for _, d := range ds {
		count[d.App]++
	}
	type place struct {
		at        float64
		size, idx int
	}
	seen := map[central.App]int{}
	places := make([]place, len(ds))
	for i, d := range ds {
		places[i] = place{at: (float64(seen[d.App]) + 0.5) / float64(count[d.App]), size: count[d.App], idx: i}
		seen[d.App]++
	}
	slices.SortStableFunc(places, func(a, b place) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(b.size, a.size))
	})
	order := make([]int, len(places))
	for i, p := range places {
		order[i] = p.idx
	}
	return order
}

// collectDataset collects one dataset (or skips one the credentials do not
// configure) and reports it.
func (r *run) collectDataset(ctx context.Context, client *central.Client, t msp.Tenant, d Dataset, log *slog.Logger) DatasetResult {
	var res DatasetResult
	if !client.HasApp(d.App) {
		res = DatasetResult{Dataset: d.Name, Status: StatusSkipped,
			Error: &ErrorInfo{Class: ClassNotConfigured, Message: fmt.Sprintf("the credentials do not configure %s", d.App)}}
	} else {
		res = r.dataset(ctx, client, t, d)
	}
	r.emit(Event{Kind: DatasetDone, TenantID: t.ID, TenantName: t.Name, Dataset: d.Name, Status: res.Status, Records: res.Records, Error: res.Error})
	if res.Error != nil {
		log.Warn("dataset failed", slog.String("dataset", d.Name), slog.String("class", string(res.Error.Class)), slog.String("error", res.Error.Message))
	}
	return res
}

// fillRemaining adds a result with status for every dataset not yet in tr.
func (r *run) fillRemaining(tr *TenantResult, status Status, ei *ErrorInfo) {
	for _, d := range r.datasets {
		if tr.Dataset(d.Name) == nil {
			tr.Datasets = append(tr.Datasets, DatasetResult{Dataset: d.Name, Status: status, Error: ei})
		}
	}
}

// countingWriter forwards to the object and keeps its first error as a
// *SinkError, so a sink failure is told apart from an API failure.
type countingWriter struct {
	w   io.Writer
	key string
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.err = &SinkError{Key: c.key, Err: err}
		return n, c.err
	}
	return n, nil
}

// dataset streams one tenant's dataset into one object.
func (r *run) dataset(ctx context.Context, client *central.Client, t msp.Tenant, d Dataset) (res DatasetResult) {
	start := r.now()
	res = DatasetResult{Dataset: d.Name}
	var stats central.CallStats
	key := ObjectKey(d.Name, r.date, r.cfg.RunID, t.ID)
	defer func() {
		res.DurationMS = r.now().Sub(start).Milliseconds()
		res.APICalls = stats.Requests.Load()
		res.Retries = stats.Retries.Load()
		res.RateLimited = stats.RateLimited.Load()
		res.Unauthorized = stats.Unauthorized.Load()
	}()

	obj, err := r.cfg.Sink.Create(ctx, key, ContentType)
	if err != nil {
		return r.failDataset(res, &SinkError{Key: key, Err: err})
	}
	// After a successful Commit, Abort is a no-op. Detached so an expired
	// ctx still aborts (the S3 sink bounds it by its FailTimeout).
	defer func() { _ = obj.Abort(context.WithoutCancel(ctx)) }()
	cw := &countingWriter{w: obj, key: key}
	enc := &lazyEncoder{pool: &r.encoders, w: cw}
	defer enc.release()

	if err := r.writePages(central.WithCallStats(ctx, &stats), client, t, d, enc, &res); err != nil {
		return r.failDataset(res, err)
	}
	if err := enc.close(); err != nil {
		return r.failDataset(res, err)
	}
	if cw.err != nil {
		return r.failDataset(res, cw.err)
	}
	info, err := obj.Commit(ctx)
	if err != nil {
		return r.failDataset(res, &SinkError{Key: key, Err: err})
	}
	res.Status = StatusOK
	res.Key, res.Bytes, res.SHA256 = info.Key, info.Bytes, info.SHA256
	return res
}

// failDataset marks res failed with err and no object. The first sink
// error is also kept for the run, which returns it from Run (see finish):
// a sink failure is the caller's problem, not only the tenant's.
func (r *run) failDataset(res DatasetResult, err error) DatasetResult {
	var se *SinkError
	if errors.As(err, &se) {
		r.sinkMu.Lock()
		if r.sinkErr == nil {
			r.sinkErr = err
		}
		r.sinkMu.Unlock()
	}
	res.Status = StatusFailed
	res.Error = errorInfo(err)
	res.Key, res.SHA256, res.Bytes = "", "", 0
	return res
}

// writePages fetches the dataset's pages on ctx and writes each item as a
// record through enc, counting records and pages in res (the error message
// of a bad item names its position from them). This is the per-record hot
// path: records are appended to the encoder's buffer, which gzip
// compresses in large chunks.
func (r *run) writePages(ctx context.Context, client *central.Client, t msp.Tenant, d Dataset, enc *lazyEncoder, res *DatasetResult) error {
	meta := recordMeta(t, r.cfg.RunID)
	obs := r.cfg.Observer
	if obs != nil {
		obs.OnDatasetStart(t, d.Name)
	}
	// Reuse: every item is copied into the record (and the observer keeps
	// none), so the pages can share one body.
	spec := central.PageSpec{App: d.App, Path: d.Path, Style: d.Style, Limit: d.Limit, Params: mergeParams(d.Params, r.cfg.Params[d.Name]), Reuse: true}
	for page, err := range central.Pages[json.RawMessage](ctx, client, spec) {
		if err != nil {
			return err
		}
		at := r.now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
		e := enc.encoder()
		clean := page.Plain // the page's scan checked every item
		for _, item := range page.Items {
			if err := e.record(meta, at, item, clean); err != nil {
				return fmt.Errorf("collector: %s item %d of page %d: %w", d.Name, res.Records, page.Number, err)
			}
			if err := e.spill(); err != nil {
				return err
			}
			res.Records++
			if obs != nil {
				obs.OnItem(t, d.Name, item)
			}
		}
		res.Pages++
	}
	return nil
}

// recordMeta renders the added fields up to (not including) _collected_at's
// value: {"_tenant_id":"…","_tenant_name":"…","_run_id":"…","_collected_at":
func recordMeta(t msp.Tenant, runID string) []byte {
	q := func(s string) []byte { b, _ := json.Marshal(s); return b }
	var b bytes.Buffer
	b.WriteString(`{"_tenant_id":`)
	b.Write(q(t.ID))
	b.WriteString(`,"_tenant_name":`)
	b.Write(q(t.Name))
	b.WriteString(`,"_run_id":`)
	b.Write(q(runID))
	b.WriteString(`,"_collected_at":`)
	return b.Bytes()
}

// The keys the collector adds to every record. An item's own member with
// one of these names (after JSON unescaping) is renamed with ItemKeyPrefix
// ("_tenant_id" becomes "_item_tenant_id", prefixed again while the name is
// taken), so a record can never carry a second _tenant_id that a decoder
// would take instead of ours.
var metaKeys = [...]string{"_tenant_id", "_tenant_name", "_run_id", "_collected_at"}

// ItemKeyPrefix is put before an item's own copy of a collector key.
const ItemKeyPrefix = "_item"

// appendRecord writes one NDJSON line: meta, the collection time, then the
// item's own fields (compacted). Invalid UTF-8 in the item becomes U+FFFD,
// and the item's own copies of the collector's keys are renamed (see
// metaKeys).
func appendRecord(dst, scratch *bytes.Buffer, meta []byte, at string, item json.RawMessage) error {
	scratch.Reset()
	if err := json.Compact(scratch, item); err != nil {
		return err
	}
	c := scratch.Bytes()
	if !utf8.Valid(c) {
		// Invalid bytes can only sit inside strings (JSON's structure is
		// ASCII), so replacing them keeps the JSON valid.
		c = replaceInvalidUTF8(c)
	}
	dst.Write(meta)
	dst.WriteByte('"')
	dst.WriteString(at)
	dst.WriteByte('"')
	switch {
	case len(c) >= 2 && c[0] == '{' && len(c) == 2:
		dst.WriteByte('}')
	case len(c) > 0 && c[0] == '{':
		if mayRelabel(c) {
			if members, ok := relabel(c); ok {
				dst.Write(members)
				break
			}
		}
		dst.WriteByte(',')
		dst.Write(c[1:])
	default:
		dst.WriteString(`,"_value":`)
		dst.Write(c)
		dst.WriteByte('}')
	}
	dst.WriteByte('\n')
	return nil
}

// replaceInvalidUTF8 returns b with each byte that is not part of a valid
// UTF-8 sequence replaced by U+FFFD, as encoding/json reads such a string:
// a record's names and values are then what a decoder of the item would
// have seen. (bytes.ToValidUTF8 replaces a run of such bytes with one
// U+FFFD, so that member "\x8b\x8b" became "\uFFFD" where a decoder of the
// item reads "\uFFFD\uFFFD", and two distinct names could become one.)
func replaceInvalidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/8)
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			out = append(out, b[i])
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

// mayRelabel is the cheap guard before relabel: an item can name one of the
// collector's keys only with a `"_` or an escape (`\u005f`). Both scans
// look for a byte that is rare in API items ('_', '\\') with IndexByte.
func mayRelabel(item []byte) bool {
	return hasPair(item, '"', '_') || hasPair(item, '\\', 'u')
}

// hasPair reports whether b holds the byte a followed by c, searching for
// c's rarer partner: for '_' the preceding byte, for '\\' the following.
func hasPair(b []byte, a, c byte) bool {
	if a == '"' {
		for i := 0; ; {
			j := bytes.IndexByte(b[i:], c)
			if j < 0 {
				return false
			}
			if i+j > 0 && b[i+j-1] == a {
				return true
			}
			i += j + 1
		}
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], a)
		if j < 0 || i+j+1 >= len(b) {
			return false
		}
		if b[i+j+1] == c {
			return true
		}
		i += j + 1
	}
}

// relabel returns ",member,...}" for a compact, valid object whose
// top-level members include one of the collector's keys, with those
// renamed; ok is false when no member needs it.
func relabel(obj []byte) ([]byte, bool) {
	ms, err := members(obj)
	if err != nil || !slices.ContainsFunc(ms, func(m member) bool { return isMetaKey(m.key) }) {
		return nil, false
	}
	var b bytes.Buffer
	writeMembers(&b, ms, isMetaKey)
	b.WriteByte('}')
	return b.Bytes(), true
}

// member is one member of a JSON object, its value raw.
type member struct {
	key string
	val json.RawMessage
}

// members decodes the members of the JSON object obj, in order (names as
// encoding/json reads them: invalid UTF-8 becomes U+FFFD).
func members(obj []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var ms []member
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, member{k, v})
	}
	return ms, nil
}

// writeMembers writes ,"name":value for each member, renaming one whose
// name isMeta says is the collector's own to ItemKeyPrefix+name (again
// while that name is taken too), so an item cannot label itself.
func writeMembers(dst *bytes.Buffer, ms []member, isMeta func(string) bool) {
	taken := make(map[string]bool, len(ms))
	for _, m := range ms {
		taken[m.key] = true
	}
	for _, m := range ms {
		k := m.key
		if isMeta(k) {
			k = ItemKeyPrefix + k
			for taken[k] || isMeta(k) {
				k = ItemKeyPrefix + k
			}
			taken[k] = true
		}
		dst.WriteByte(',')
		appendString(dst, k)
		dst.WriteByte(':')
		dst.Write(m.val)
	}
}

func isMetaKey(k string) bool {
	for _, m := range metaKeys {
		if k == m {
			return true
		}
	}
	return false
}

// appendString writes s (valid UTF-8) as a JSON string, escaping only what
// JSON requires.
func appendString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// cleanText reports whether JSON text can hold neither invalid UTF-8 nor
// a member named like one of the collector's keys (mayRelabel): the check
// of an item whose page is not central.Page.Plain.
func cleanText(b []byte) bool { return !mayRelabel(b) && utf8.Valid(b) }

// appendValidRecord is appendRecord for an item already known to be valid
// JSON (central.Pages validates every page strictly): an object item that
// is already one line, as APIs send them, is copied byte for byte instead
// of going through json.Compact. Valid JSON holds raw line breaks only as
// whitespace between tokens, so an item without CR or LF bytes is one line;
// spaces it may hold between tokens are kept. An item that holds invalid
// UTF-8 or could name one of the collector's keys takes appendRecord's
// path. clean says the item is known to be one line of valid UTF-8 without
// a top-level member whose name begins with '_' (its page is
// central.Page.Plain): it cannot name one of the collector's keys, which
// relabel renames only at the top level.
func appendValidRecord(dst, scratch *bytes.Buffer, meta []byte, at string, item json.RawMessage, clean bool) error {
	if b, ok := appendOneLine(dst.AvailableBuffer(), meta, at, item, clean); ok {
		dst.Write(b)
		return nil
	}
	return appendRecord(dst, scratch, meta, at, item)
}

// appendOneLine appends item's line to dst when appendValidRecord copies
// it byte for byte; ok is false, and dst unchanged, when the item must go
// through appendRecord.
func appendOneLine(dst, meta []byte, at string, item json.RawMessage, clean bool) (_ []byte, ok bool) {
	if len(item) < 2 || item[0] != '{' ||
		(!clean && (bytes.IndexByte(item, '\n') >= 0 || bytes.IndexByte(item, '\r') >= 0 || !cleanText(item))) {
		return dst, false
	}
	dst = append(dst, meta...)
	dst = append(dst, '"')
	dst = append(dst, at...)
	dst = append(dst, '"')
	if body := item[1:]; skipSpace(body) == len(body) || body[skipSpace(body)] == '}' { // {} or { }: no member
		dst = append(dst, '}')
	} else {
		dst = append(dst, ',')
		dst = append(dst, body...)
	}
	return append(dst, '\n'), true
}

// skipSpace returns the index of the first byte of b that is not JSON
// whitespace (len(b) if none).
func skipSpace(b []byte) int {
	for i, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return i
		}
	}
	return len(b)
}

// mergeParams returns base overlaid with extra, or nil when both are empty.
func mergeParams(base, extra map[string]any) map[string]any {
	if len(base) == 0 && len(extra) == 0 {
		return nil
	}
	out := make(map[string]any, len(base)+len(extra))
	maps.Copy(out, base)
	maps.Copy(out, extra)
	return out
}
