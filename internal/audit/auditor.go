package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// DefaultKeepChanges is how many changes per tenant an Auditor keeps in
// memory for the report (all of them are in the drift objects).
const DefaultKeepChanges = 500

// Options configure an Auditor for one run.
type Options struct {
	// Sink receives drift, baselines and the summary (the collector's sink).
	Sink sink.Sink
	// Store reads the baselines back from the same root (SinkStore on the same sink).
	Store Store
	// RunID and Date must be the collector run's (collector.Config.RunID
	// and Date).
	RunID, Date string
	// Shard is the collector run's shard (collector.Config.Shard): a
	// shard's summary and report are under the run's, one per shard.
	Shard string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (default: discard).
	Logger *slog.Logger
	// KeepChanges per tenant for Result (default DefaultKeepChanges;
	// negative keeps none).
	KeepChanges int
	// Rules configure the findings (default DefaultRules()).
	Rules *Rules
	// Health holds this run's tenant-health figures by tenant workspace id
	// when they come from elsewhere than the run; the tenant-health dataset
	// of the observed run replaces them (see healthStream).
	Health map[string]TenantHealth
	// HealthMapping is how Health was matched to workspaces (for the
	// summary).
	HealthMapping *HealthMapping
	// Publisher, if set, receives the run's events (see Event).
	Publisher Publisher
	// EventCap is the per-tenant, per-run cap of InventoryChange events
	// and, separately, of AuditFinding events (default DefaultEventCap;
	// negative: no cap).
	EventCap int
}

// Auditor observes a collection (as its collector.Config.Observer) and
// computes each tenant's drift when the tenant is done. Call Finish after
// collector.Run returns.
type Auditor struct {
	opts    Options
	log     *slog.Logger
	tenants sync.Map // tenant id -> *tenantState
	streams sync.Map // streamKey -> *stream: the dataset being collected

	mu      sync.Mutex
	results map[string]*TenantAudit

	// The comparison runs off the collector's tenant slot, so the next
	// tenant's collection starts at once and its network waits overlap
	// with this work; sem bounds it (auditConcurrency), Finish waits for
	// it.
	wg  sync.WaitGroup
	sem chan struct{}

	hs healthStream
}

var (
	_ collector.ItemObserver = (*Auditor)(nil)
	_ collector.MSPObserver  = (*Auditor)(nil)
)

// tenantState is a tenant's snapshots being built. A tenant's datasets are
// collected side by side, so sets is guarded by mu; each
// snapshot is filled by its dataset's goroutine alone (see stream).
type tenantState struct {
	mu   sync.Mutex
	sets map[string]*Baseline
}

// streamKey names one tenant's dataset.
type streamKey struct{ tenant, dataset string }

// stream is the snapshot of a dataset being collected; only the goroutine
// collecting that dataset touches it.
type stream struct {
	b    *Baseline
	spec Spec
}

// New returns an Auditor.
func New(opts Options) (*Auditor, error) {
	if opts.Sink == nil || opts.Store == nil {
		return nil, errors.New("audit: Options.Sink and Options.Store are required")
	}
	if opts.RunID == "" || opts.Date == "" {
		return nil, errors.New("audit: Options.RunID and Options.Date are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Rules == nil {
		opts.Rules = DefaultRules()
	}
	if opts.EventCap == 0 {
		opts.EventCap = DefaultEventCap
	}
	if opts.KeepChanges == 0 {
		opts.KeepChanges = DefaultKeepChanges
	}
	a := &Auditor{opts: opts, log: opts.Logger, results: map[string]*TenantAudit{}, sem: make(chan struct{}, auditConcurrency(runtime.GOMAXPROCS(0)))}
	a.hs.health, a.hs.mapping = opts.Health, opts.HealthMapping
	return a, nil
}

// auditConcurrency is how many tenants are audited at once: well more than
// the cores, because a tenant's audit mostly waits for storage (about a
// dozen GETs and PUTs, each an S3 round trip in the Lambda); bounded
// because each holds its tenant's snapshots. With only one per core, those
// waits made the audit fall behind a rate-limited collection.
func auditConcurrency(procs int) int { return max(16, 4*procs) }

func (a *Auditor) state(tenantID string) *tenantState {
	if v, ok := a.tenants.Load(tenantID); ok {
		return v.(*tenantState)
	}
	v, _ := a.tenants.LoadOrStore(tenantID, &tenantState{sets: map[string]*Baseline{}})
	return v.(*tenantState)
}

// OnDatasetStart implements collector.ItemObserver.
func (a *Auditor) OnDatasetStart(t msp.Tenant, dataset string) {
	st := a.state(t.ID)
	key := streamKey{t.ID, dataset}
	st.mu.Lock()
	defer st.mu.Unlock()
	sp, ok := SpecOf(dataset)
	if !ok {
		delete(st.sets, dataset)
		a.streams.Delete(key)
		return
	}
	b := &Baseline{Version: BaselineVersion, TenantID: t.ID, TenantName: t.Name, Dataset: dataset,
		RunID: a.opts.RunID, Fields: sp.FieldNames(), Items: map[string][]string{}}
	st.sets[dataset] = b
	a.streams.Store(key, &stream{b: b, spec: sp})
}

// OnItem implements collector.ItemObserver.
func (a *Auditor) OnItem(t msp.Tenant, dataset string, item json.RawMessage) {
	v, ok := a.streams.Load(streamKey{t.ID, dataset})
	if !ok {
		return
	}
	s := v.(*stream)
	k, vals, ok := s.spec.Extract(item)
	if !ok {
		return
	}
	s.b.Items[k] = vals
}

// DatasetAudit is one dataset's outcome for a tenant.
type DatasetAudit struct {
	Dataset string `json:"dataset"`
	// Status: compared (drift computed), first (no baseline yet: this run
	// made it), not_compared (the dataset failed, was deferred or skipped:
	// baseline kept), refused (the stored baseline was invalid: replaced),
	// error (the baseline could not be read: kept, no drift).
	Status  string `json:"status"`
	Items   int    `json:"items"`
	Created int    `json:"created"`
	Updated int    `json:"updated"`
	Deleted int    `json:"deleted"`
	Error   string `json:"error,omitempty"`
}

// Dataset audit statuses.
const (
	StatusCompared    = "compared"
	StatusFirst       = "first"
	StatusNotCompared = "not_compared"
	StatusRefused     = "refused"
	StatusError       = "error"
)

// TenantAudit is one tenant's audit in a run.
type TenantAudit struct {
	TenantID   string         `json:"tenant_id"`
	TenantName string         `json:"tenant_name"`
	Datasets   []DatasetAudit `json:"datasets"`
	Changes    int            `json:"changes"`
	// DriftKey is the drift object's key (empty when there was no change).
	DriftKey string   `json:"drift_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// FindingCount and NewFindings count the tenant's findings;
	// FindingsKey is their object (empty when none).
	FindingCount int    `json:"findings"`
	NewFindings  int    `json:"new_findings"`
	FindingsKey  string `json:"findings_key,omitempty"`
	// EventsSent and EventsFailed count the tenant's published events;
	// failed ones stay only in the drift and findings objects.
	EventsSent   int `json:"events_sent"`
	EventsFailed int `json:"events_failed"`
	// Kept holds the first changes (Options.KeepChanges) for the report.
	Kept []Change `json:"-"`
	// Findings are the tenant's findings, most severe first.
	Findings []Finding `json:"-"`
	// Subscriptions are the end dates of the tenant's subscriptions, when
	// they were collected completely in this run.
	Subscriptions []SubscriptionEnd `json:"-"`
}

// OnTenantDone implements collector.ItemObserver: it hands the tenant's
// snapshots to a background comparison (see tenantDone) and returns; Finish
// waits for it. The comparison runs on ctx without its cancellation, as the
// collector cancels its context when Run returns.
func (a *Auditor) OnTenantDone(ctx context.Context, t msp.Tenant, tr *collector.TenantResult) error {
	v, _ := a.tenants.LoadAndDelete(t.ID)
	st, _ := v.(*tenantState)
	if st != nil {
		for ds := range st.sets {
			a.streams.Delete(streamKey{t.ID, ds})
		}
	}
	trc := *tr
	trc.Datasets = slices.Clone(tr.Datasets)
	dctx := context.WithoutCancel(ctx)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.sem <- struct{}{}
		defer func() { <-a.sem }()
		ta := &TenantAudit{TenantID: t.ID, TenantName: t.Name}
		defer func() {
			if p := recover(); p != nil {
				ta.Errors = append(ta.Errors, fmt.Sprintf("audit: panic: %v", p))
				a.log.Error("audit panicked", slog.String("tenant", t.ID), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			}
			a.mu.Lock()
			a.results[t.ID] = ta
			a.mu.Unlock()
		}()
		if err := a.tenantDone(dctx, t, &trc, st, ta); err != nil {
			a.log.Warn("audit failed", slog.String("tenant", t.ID), slog.Any("error", err))
		}
	}()
	return nil
}

// Wait waits for the comparisons started by OnTenantDone.
func (a *Auditor) Wait() { a.wg.Wait() }

// tenantDone compares each complete dataset with its baseline, writes the
// tenant's drift object, findings, events, then the new baselines.
func (a *Auditor) tenantDone(ctx context.Context, t msp.Tenant, tr *collector.TenantResult, st *tenantState, ta *TenantAudit) error {
	now := a.opts.Now().UTC()
	changes, newBaselines, seen, complete := a.compareTenant(ctx, t, tr, st, ta, now)
	ta.Changes = len(changes)
	if a.opts.KeepChanges > 0 {
		ta.Kept = slices.Clone(changes[:min(len(changes), a.opts.KeepChanges)])
	}
	// Drift first, then baselines: a failure between them reports the same
	// changes again next run, never loses them.
	if len(changes) > 0 {
		key := DriftKey(a.opts.Date, a.opts.RunID, t.ID)
		if err := writeNDJSON(ctx, a.opts.Sink, key, changes); err != nil {
			ta.Errors = append(ta.Errors, err.Error())
			return err // baselines kept: the changes come again next run
		}
		ta.DriftKey = key
	}
	var errs []error
	if err := a.findings(ctx, t, ta, complete, now); err != nil {
		ta.Errors = append(ta.Errors, err.Error())
		errs = append(errs, err)
	}
	if a.opts.Publisher != nil {
		evs := changeEvents(ta, changes, a.opts.Sink.String(), ta.DriftKey, a.opts.EventCap)
		evs = append(evs, findingEvents(ta, a.opts.Sink.String(), a.opts.EventCap)...)
		a.publish(ctx, evs, &ta.EventsSent, &ta.EventsFailed, &ta.Errors)
	}
	errs = append(errs, a.writeBaselines(ctx, ta, newBaselines, seen, now)...)
	return errors.Join(errs...)
}

// pendingBaseline is a dataset's new baseline, encoded, waiting to be
// written; data is nil when the stored one holds the same items (only the
// collected state then records this run).
type pendingBaseline struct {
	dataset string
	data    []byte
}

// compareTenant compares each selected dataset the collector completed
// with its stored baseline, adding a DatasetAudit per dataset to ta. It
// returns the changes, the baselines to store (only those whose comparison
// did not fail to read the old one, so a read error never overwrites a
// baseline), the tenant's collected state (nil when no dataset was
// complete) and the complete snapshots by dataset, which the rules
// evaluate.
func (a *Auditor) compareTenant(ctx context.Context, t msp.Tenant, tr *collector.TenantResult, st *tenantState, ta *TenantAudit, now time.Time) (changes []Change, newBaselines []pendingBaseline, seen *collectedState, complete map[string]*Baseline) {
	complete = map[string]*Baseline{}
	for _, sp := range specs {
		dr := tr.Dataset(sp.Dataset)
		if dr == nil {
			continue // not selected
		}
		da := DatasetAudit{Dataset: sp.Dataset, Status: StatusNotCompared}
		var cur *Baseline
		if st != nil {
			cur = st.sets[sp.Dataset]
		}
		if dr.Status != collector.StatusOK || cur == nil {
			ta.Datasets = append(ta.Datasets, da)
			continue
		}
		cur.Time = now
		complete[sp.Dataset] = cur
		da.Items = len(cur.Items)
		if sp.Dataset == "subscriptions" {
			ta.Subscriptions = subscriptionEnds(cur)
		}
		if seen == nil {
			seen = a.readCollected(ctx, t.ID)
		}
		cs, data, keep, err := a.compareDataset(ctx, t.ID, sp.Dataset, cur, seen.Datasets[sp.Dataset], &da, ta)
		changes = append(changes, cs...)
		if err != nil {
			err = fmt.Errorf("audit: encoding baseline %s: %w", sp.Dataset, err)
			ta.Errors = append(ta.Errors, err.Error())
		} else if data != nil || keep {
			newBaselines = append(newBaselines, pendingBaseline{dataset: sp.Dataset, data: data})
		}
		ta.Datasets = append(ta.Datasets, da)
	}
	return changes, newBaselines, seen, complete
}

// compareDataset diffs one complete snapshot against its stored baseline,
// records the outcome in da, and returns the new baseline to store: when
// there was none, when it was refused (it would fail again every run), or
// after a comparison that found changes; nil when reading it failed or
// when the stored one holds the same items in the current format (keep:
// it stays, and the collected state records this run). last is the
// dataset's last complete collection by the collected state: when later
// than the baseline's own run, changes name it as their previous run.
func (a *Auditor) compareDataset(ctx context.Context, tenantID, dataset string, cur *Baseline, last collectedRun, da *DatasetAudit, ta *TenantAudit) (cs []Change, store []byte, keep bool, err error) {
	e := encodeLines(cur.Items)
	data, err := a.opts.Store.Get(ctx, BaselineKey(tenantID, dataset), MaxBaselineBytes)
	switch {
	case errors.Is(err, ErrNotFound):
		da.Status = StatusFirst
		store, err = assembleBaseline(cur, e)
		return nil, store, false, err
	case err != nil:
		da.Status, da.Error = StatusError, err.Error()
		ta.Errors = append(ta.Errors, err.Error())
		return nil, nil, false, nil
	}
	prev, derr := readBaseline(data, tenantID, dataset, MaxBaselineBytes)
	var same bool
	if derr == nil {
		if last.Time.After(prev.hdr.Time) {
			prev.hdr.RunID, prev.hdr.Time = last.RunID, last.Time
		}
		cs, same, derr = diffLines(prev, cur, e)
	}
	if derr != nil {
		a.log.Warn("baseline refused; replacing it", slog.String("tenant", tenantID), slog.String("dataset", dataset), slog.Any("error", derr))
		da.Status, da.Error = StatusRefused, derr.Error()
		ta.Errors = append(ta.Errors, derr.Error())
		store, err = assembleBaseline(cur, e)
		return nil, store, false, err
	}
	da.Status = StatusCompared
	for _, c := range cs {
		switch c.ChangeType {
		case Create:
			da.Created++
		case Update:
			da.Updated++
		case Delete:
			da.Deleted++
		}
	}
	if same && prev.current {
		return cs, nil, true, nil
	}
	store, err = assembleBaseline(cur, e)
	return cs, store, false, err
}

// writeBaselines stores the new baselines, then the collected state with
// this run for every dataset whose baseline now holds its items (written,
// or kept as it was); a failed write is recorded in ta and returned, and
// does not stop the others.
func (a *Auditor) writeBaselines(ctx context.Context, ta *TenantAudit, bs []pendingBaseline, seen *collectedState, now time.Time) (errs []error) {
	if len(bs) == 0 || seen == nil {
		return nil
	}
	tenantID := seen.TenantID
	for _, b := range bs {
		if b.data != nil {
			if err := a.opts.Sink.Put(ctx, BaselineKey(tenantID, b.dataset), b.data, "application/gzip"); err != nil {
				err = fmt.Errorf("audit: writing baseline %s: %w", b.dataset, err)
				ta.Errors = append(ta.Errors, err.Error())
				errs = append(errs, err)
				continue // the stored baseline and its collected run still agree
			}
		}
		seen.Datasets[b.dataset] = collectedRun{RunID: a.opts.RunID, Time: now}
	}
	if err := a.writeCollected(ctx, seen); err != nil {
		ta.Errors = append(ta.Errors, err.Error())
		errs = append(errs, err)
	}
	return errs
}

// DriftKey is the key of a tenant's drift records in a run.
func DriftKey(date, runID, tenantID string) string {
	return "drift/dt=" + date + "/run=" + runID + "/tenant=" + tenantID + "/changes.ndjson.gz"
}

// SummaryKey is the key of a run's audit summary.
func SummaryKey(runID string) string { return "audit/run=" + runID + "/summary.json" }

// ShardRun is the run part of a shard's audit keys: SummaryKey(ShardRun(runID,
// shard)) and ReportKey(ShardRun(runID, shard)); runID itself without a shard.
func ShardRun(runID, shard string) string {
	if shard == "" {
		return runID
	}
	return runID + "/shard=" + shard
}

// Key returns the run part of the summary's keys (see ShardRun).
func (s *Summary) Key() string { return ShardRun(s.RunID, s.Shard) }

// writeNDJSON streams records as gzip NDJSON into one object.
func writeNDJSON[T any](ctx context.Context, s sink.Sink, key string, recs []T) error {
	obj, err := s.Create(ctx, key, "application/gzip")
	if err != nil {
		return fmt.Errorf("audit: writing %s: %w", key, err)
	}
	defer func() { _ = obj.Abort(context.WithoutCancel(ctx)) }()
	zw := getGzip(obj)
	defer putGzip(zw)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return fmt.Errorf("audit: writing %s: %w", key, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("audit: writing %s: %w", key, err)
	}
	if _, err := obj.Commit(ctx); err != nil {
		return fmt.Errorf("audit: writing %s: %w", key, err)
	}
	return nil
}

// Summary is a run's audit: per tenant and dataset the counts of changes
// by type. It is stored at SummaryKey.
type Summary struct {
	Version  int           `json:"version"`
	RunID    string        `json:"run_id"`
	Shard    string        `json:"shard,omitempty"`
	Date     string        `json:"dt"`
	Finished time.Time     `json:"finished_at"`
	Totals   SummaryTotals `json:"totals"`
	// RunEventsSent and RunEventsFailed count the AuditRunCompleted event.
	RunEventsSent   int      `json:"run_events_sent"`
	RunEventsFailed int      `json:"run_events_failed"`
	RunErrors       []string `json:"run_errors,omitempty"`
	// Report is the key of the run's HTML report, empty when it could not
	// be written.
	Report  string         `json:"report,omitempty"`
	Health  *HealthMapping `json:"tenant_health,omitempty"`
	Tenants []*TenantAudit `json:"tenants"`
}

// SummaryTotals are the run's audit figures.
type SummaryTotals struct {
	Tenants         int `json:"tenants"`
	TenantsChanged  int `json:"tenants_changed"`
	Changes         int `json:"changes"`
	Created         int `json:"created"`
	Updated         int `json:"updated"`
	Deleted         int `json:"deleted"`
	DatasetsFirst   int `json:"datasets_first"`
	DatasetsSkipped int `json:"datasets_not_compared"`
	Findings        int `json:"findings"`
	NewFindings     int `json:"new_findings"`
	EventsSent      int `json:"events_sent"`
	EventsFailed    int `json:"events_failed"`
	Errors          int `json:"errors"`
}

// Summary returns the run's audit (after waiting for the comparisons in
// progress), tenants sorted by name then id.
func (a *Auditor) Summary() *Summary {
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &Summary{Version: 1, RunID: a.opts.RunID, Shard: a.opts.Shard, Date: a.opts.Date, Tenants: []*TenantAudit{}, Health: a.healthMapping()}
	for _, ta := range a.results {
		s.Tenants = append(s.Tenants, ta)
		s.Totals.Tenants++
		if ta.Changes > 0 {
			s.Totals.TenantsChanged++
		}
		s.Totals.Changes += ta.Changes
		s.Totals.Errors += len(ta.Errors)
		s.Totals.Findings += ta.FindingCount
		s.Totals.NewFindings += ta.NewFindings
		s.Totals.EventsSent += ta.EventsSent
		s.Totals.EventsFailed += ta.EventsFailed
		for _, d := range ta.Datasets {
			s.Totals.Created += d.Created
			s.Totals.Updated += d.Updated
			s.Totals.Deleted += d.Deleted
			switch d.Status {
			case StatusFirst:
				s.Totals.DatasetsFirst++
			case StatusNotCompared:
				s.Totals.DatasetsSkipped++
			}
		}
	}
	slices.SortFunc(s.Tenants, func(x, y *TenantAudit) int {
		if x.TenantName != y.TenantName {
			if x.TenantName < y.TenantName {
				return -1
			}
			return 1
		}
		return bytes.Compare([]byte(x.TenantID), []byte(y.TenantID))
	})
	return s
}

// Finish ends the audit, once, after collector.Run: it writes the run's
// HTML report and summary, then publishes AuditRunCompleted naming them,
// so a consumer reacting to the event finds both (the event is not sent
// when the summary could not be written). The summary is written again
// with the event's outcome. Its Report is the report's key, empty when the
// report could not be written.
func (a *Auditor) Finish(ctx context.Context) (*Summary, error) {
	s := a.Summary()
	s.Finished = a.opts.Now().UTC()
	key, rerr := writeReport(ctx, a.opts.Sink, s, a.opts.Now())
	s.Report = key
	if err := a.putSummary(ctx, s); err != nil || a.opts.Publisher == nil {
		return s, errors.Join(rerr, err)
	}
	ev := Event{DetailType: DetailAuditRunCompleted, Detail: &RunCompletedDetail{RunID: s.RunID, Date: s.Date, Totals: s.Totals,
		SummaryKey: SummaryKey(s.Key()), ReportKey: s.Report, Location: a.opts.Sink.String(), CompletedAt: s.Finished}}
	var errs []string
	a.publish(ctx, []Event{ev}, &s.RunEventsSent, &s.RunEventsFailed, &errs)
	s.RunErrors = append(s.RunErrors, errs...)
	return s, errors.Join(rerr, a.putSummary(ctx, s))
}

func (a *Auditor) putSummary(ctx context.Context, s *Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("audit: encoding summary: %w", err)
	}
	if err := a.opts.Sink.Put(ctx, SummaryKey(s.Key()), append(b, '\n'), "application/json"); err != nil {
		return fmt.Errorf("audit: writing summary: %w", err)
	}
	return nil
}
