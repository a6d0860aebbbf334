// Package audittrail copies each tenant's GreenLake audit log into the sink
// incrementally, so that across runs every event is written exactly once.
//
// # Protocol (per tenant)
//
// A watermark object (WatermarkKey) holds a Mark: every event with createdAt
// before Mark.At has been written, and so have the events listed in
// Mark.IDs, whose createdAt is exactly Mark.At. A run:
//
//  1. reads the watermark and its version token (none: the first run starts
//     Lookback before now, with no ids);
//  2. if the watermark holds a Pending range, first writes that range again
//     (step 5 on) — a previous run claimed it and may have stopped anywhere
//     after the claim;
//  3. asks for createdAt ge Mark.At, page by page, and streams into a new
//     object every event the mark does not cover (and each id once: offset
//     paging over a list that grows can repeat an item), keeping the
//     greatest createdAt seen and the ids at it: the range's end;
//  4. with nothing new, aborts the object and stops;
//  5. claims the range: a conditional write of the watermark (same Mark,
//     Pending = the end) against the version read. Losing the write means
//     another run moved the watermark: this run aborts its object and has
//     written nothing;
//  6. commits the object, at a key derived from the range's start only
//     (ObjectKey): writing a range again replaces the same object;
//  7. commits the watermark (Mark = the end, no Pending), conditional on the
//     claim's version.
//
// A run that stops after step 5 leaves a Pending range; the next run reads
// that exact range again (events after its start, up to and including its
// end, by the same rule), writes the same key and commits. An event is
// therefore in exactly one object: objects are keyed by their range's
// start, ranges do not overlap, and a range is committed before the next
// one starts. The clock is used only for the first run's start; ranges end
// at createdAt values the API returned.
//
// What no cursor protocol can recover is an event that becomes visible
// with a createdAt earlier than the greatest one already read; see
// docs/events.md.
package audittrail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// Audit log API versions.
const (
	APIv1      = "v1"
	APIv2beta1 = "v2beta1"
)

// Defaults of Config.
const (
	DefaultLookback    = 24 * time.Hour
	DefaultPageLimit   = 2000
	DefaultConcurrency = 4
	// Dataset is the dataset name in object keys.
	Dataset = "audit-trail"
)

// Config configures a Run.
type Config struct {
	// MSP lists tenants and gives tenant clients (required).
	MSP collector.MSP
	// Sink receives the event objects (required).
	Sink sink.Sink
	// Store keeps the watermarks (required).
	Store Store
	// Tenants selects tenants by workspace id (32 hex, with or without
	// dashes); empty means all.
	Tenants []string
	// API is APIv1 (default, GET /audit-log/v1/logs) or APIv2beta1.
	API string
	// Lookback is how far back a tenant's first run starts (default 24h).
	Lookback time.Duration
	// PageLimit is the page size (default and maximum 2000).
	PageLimit int
	// Concurrency is the number of tenants read at once (default 4).
	Concurrency int
	// RunID names the run (default collector.NewRunID).
	RunID string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives progress (default: discard).
	Logger *slog.Logger
}

// Status is a tenant's outcome.
type Status string

// Tenant outcomes.
const (
	// StatusWritten: a range was written and the watermark advanced.
	StatusWritten Status = "written"
	// StatusUpToDate: there was nothing new.
	StatusUpToDate Status = "up_to_date"
	// StatusLostRace: another run moved the watermark first; this run wrote
	// nothing for the tenant.
	StatusLostRace Status = "lost_race"
	// StatusFailed: the tenant failed; the watermark did not advance past
	// anything not written (Error says why).
	StatusFailed Status = "failed"
)

// TenantResult is one tenant's outcome.
type TenantResult struct {
	TenantID   string `json:"tenantId"`
	TenantName string `json:"tenantName"`
	Status     Status `json:"status"`
	// Replayed is true when the run first rewrote a pending range.
	Replayed bool `json:"replayed,omitempty"`
	// Records counts the events written (including a replayed range).
	Records int `json:"records"`
	// Keys are the objects committed.
	Keys []string `json:"keys,omitempty"`
	// From and To are the last range's start and end.
	From *Mark  `json:"from,omitempty"`
	To   *Mark  `json:"to,omitempty"`
	Err  string `json:"error,omitempty"`
	err  error
}

// Error returns the tenant's error, if it failed.
func (r TenantResult) Error() error { return r.err }

// Result is a run's outcome.
type Result struct {
	RunID   string         `json:"runId"`
	Tenants []TenantResult `json:"tenants"`
}

// WatermarkKey is the key of a tenant's watermark in the Store.
func WatermarkKey(tenantID string) string {
	return "watermarks/audit-logs/tenant=" + tenantID + ".json"
}

// ObjectKey is the sink key of the range that starts at from: it depends
// on the range's start only, so writing a range again replaces its object.
//
//	inventory/dataset=audit-trail/dt=<from's date>/run=from-<from's time>-<hash of from>/tenant=<id>.ndjson.gz
func ObjectKey(tenantID string, from Mark) string {
	at := from.At.UTC()
	return collector.ObjectKey(Dataset, at.Format(time.DateOnly), "from-"+at.Format("20060102T150405.000000000Z")+"-"+from.Hash(), tenantID)
}

// Run copies every selected tenant's new audit events. Tenant failures are
// in the result; the error is for an invalid Config or a failed tenant list.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.MSP == nil || cfg.Sink == nil || cfg.Store == nil {
		return nil, errors.New("audittrail: Config.MSP, Sink and Store are required")
	}
	switch cfg.API {
	case "":
		cfg.API = APIv1
	case APIv1, APIv2beta1:
	default:
		return nil, fmt.Errorf("audittrail: unknown API %q (want %s or %s)", cfg.API, APIv1, APIv2beta1)
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = DefaultLookback
	}
	if cfg.PageLimit <= 0 || cfg.PageLimit > DefaultPageLimit {
		cfg.PageLimit = DefaultPageLimit
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RunID == "" {
		cfg.RunID = collector.NewRunID(cfg.Now())
	}
	if !runIDRE.MatchString(cfg.RunID) {
		return nil, fmt.Errorf("audittrail: invalid run id %q", cfg.RunID)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	want := map[string]bool{}
	for _, id := range cfg.Tenants {
		n, err := msp.NormalizeTenantID(id)
		if err != nil {
			return nil, fmt.Errorf("audittrail: tenant %q: %w", id, err)
		}
		want[n] = true
	}
	var tenants []msp.Tenant
	for t, err := range cfg.MSP.Tenants(ctx) {
		if err != nil {
			return nil, fmt.Errorf("audittrail: listing tenants: %w", err)
		}
		if len(want) == 0 || want[t.ID] {
			tenants = append(tenants, t)
		}
	}
	res := &Result{RunID: cfg.RunID, Tenants: make([]TenantResult, len(tenants))}
	var g errgroup.Group
	g.SetLimit(cfg.Concurrency)
	for i, t := range tenants {
		g.Go(func() error {
			tr := (&tenantRun{cfg: cfg, t: t}).run(ctx)
			if tr.err != nil {
				tr.Err = tr.err.Error()
				cfg.Logger.Warn("audit trail failed", "tenant", t.ID, "error", tr.err)
			}
			res.Tenants[i] = tr
			return nil
		})
	}
	_ = g.Wait()
	return res, nil
}

type tenantRun struct {
	cfg    Config
	t      msp.Tenant
	client *central.Client
}

func (r *tenantRun) run(ctx context.Context) (tr TenantResult) {
	tr = TenantResult{TenantID: r.t.ID, TenantName: r.t.Name}
	defer func() {
		if p := recover(); p != nil {
			tr.Status, tr.err = StatusFailed, fmt.Errorf("audittrail: panic: %v", p)
		}
	}()
	fail := func(err error) TenantResult {
		tr.Status, tr.err = StatusFailed, err
		return tr
	}
	client, err := r.cfg.MSP.TenantClient(ctx, r.t.ID)
	if err != nil {
		return fail(err)
	}
	defer r.cfg.MSP.CloseTenant(r.t.ID)
	r.client = client
	key := WatermarkKey(r.t.ID)
	for round := 0; ; round++ {
		wm, version, err := r.load(ctx, key)
		if err != nil {
			return fail(err)
		}
		if wm.Pending != nil {
			if round > 0 {
				// Another run committed the range and claimed the next one.
				tr.Status = StatusLostRace
				return tr
			}
			// A claimed range, written or not: write exactly it again.
			from, to := wm.Mark, wm.Pending.Mark
			n, objKey, err := r.write(ctx, from, &to)
			if err != nil {
				return fail(fmt.Errorf("audittrail: rewriting the pending range: %w", err))
			}
			tr.Replayed, tr.Records, tr.Keys, tr.From, tr.To = true, tr.Records+n, append(tr.Keys, objKey), &from, &to
			if err := r.commit(ctx, key, wm, version); err != nil && !errors.Is(err, ErrConflict) {
				return fail(err)
			}
			// Committed here or by a concurrent run: same range, same key.
			continue
		}
		if round > 1 {
			return fail(errors.New("audittrail: watermark keeps changing"))
		}
		return r.increment(ctx, key, wm, version, tr)
	}
}

// load reads the watermark; a missing one starts Lookback before now.
func (r *tenantRun) load(ctx context.Context, key string) (*Watermark, string, error) {
	body, version, err := r.cfg.Store.Get(ctx, key)
	if errors.Is(err, ErrNotExist) {
		start := r.cfg.Now().UTC().Add(-r.cfg.Lookback).Truncate(time.Millisecond)
		return &Watermark{Version: WatermarkVersion, TenantID: r.t.ID, API: r.cfg.API, Mark: Mark{At: start, IDs: []string{}}}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("audittrail: reading watermark %s: %w", key, err)
	}
	wm, err := DecodeWatermark(body, key, r.t.ID)
	if err != nil {
		return nil, "", err
	}
	return wm, version, nil
}

// increment writes the range after wm's mark (steps 3 to 7).
func (r *tenantRun) increment(ctx context.Context, key string, wm *Watermark, version string, tr TenantResult) TenantResult {
	from := wm.Mark
	tr.From = &from
	obj, err := r.open(ctx, from)
	if err != nil {
		tr.Status, tr.err = StatusFailed, err
		return tr
	}
	defer func() { _ = obj.abort(context.WithoutCancel(ctx)) }()
	to, n, err := r.read(ctx, from, nil, obj)
	if err == nil {
		err = obj.close()
	}
	if err != nil {
		tr.Status, tr.err = StatusFailed, err
		return tr
	}
	if n == 0 {
		tr.Status = StatusUpToDate
		return tr
	}
	tr.To = &to
	// Claim: nobody else may write after this mark now.
	claim := *wm
	claim.RunID, claim.UpdatedAt = r.cfg.RunID, r.cfg.Now()
	claim.Pending = &Pending{Mark: to, RunID: r.cfg.RunID, ClaimedAt: r.cfg.Now(), Key: obj.key}
	body, err := claim.Encode()
	if err != nil {
		tr.Status, tr.err = StatusFailed, err
		return tr
	}
	claimVersion, err := r.cfg.Store.Put(ctx, key, body, version)
	if errors.Is(err, ErrConflict) {
		tr.Status = StatusLostRace
		return tr // the deferred abort discards the object
	}
	if err != nil {
		tr.Status, tr.err = StatusFailed, fmt.Errorf("audittrail: claiming the range: %w", err)
		return tr
	}
	if err := obj.commit(ctx); err != nil {
		tr.Status, tr.err = StatusFailed, err
		return tr
	}
	tr.Records += n
	tr.Keys = append(tr.Keys, obj.key)
	if err := r.commit(ctx, key, &claim, claimVersion); err != nil && !errors.Is(err, ErrConflict) {
		tr.Status, tr.err = StatusFailed, err
		return tr
	}
	tr.Status = StatusWritten
	return tr
}

// commit moves wm's mark to its pending end, conditional on version.
// ErrConflict means another run changed the watermark since the claim:
// having found the same claim, it wrote the same range to the same key.
func (r *tenantRun) commit(ctx context.Context, key string, wm *Watermark, version string) error {
	done := *wm
	done.Mark, done.Pending = wm.Pending.Mark, nil
	done.API, done.RunID, done.UpdatedAt = r.cfg.API, r.cfg.RunID, r.cfg.Now()
	body, err := done.Encode()
	if err != nil {
		return err
	}
	if _, err := r.cfg.Store.Put(ctx, key, body, version); err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("audittrail: committing the watermark: %w", err)
	}
	return nil
}

// write writes the range (from, to] to its object and commits it.
func (r *tenantRun) write(ctx context.Context, from Mark, to *Mark) (int, string, error) {
	obj, err := r.open(ctx, from)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = obj.abort(context.WithoutCancel(ctx)) }()
	_, n, err := r.read(ctx, from, to, obj)
	if err == nil {
		err = obj.close()
	}
	if err == nil {
		err = obj.commit(ctx)
	}
	if err != nil {
		return 0, "", err
	}
	return n, obj.key, nil
}

// event is what the protocol reads of an audit log item.
type event struct {
	ID        string `json:"id"`
	CreatedAt string `json:"createdAt"`
}

// read streams the events after from (and, when to is set, up to and
// including to) into obj, each id once. It returns the greatest createdAt
// written with the ids at it (merged with from's ids when it is from's
// instant), and the number written.
func (r *tenantRun) read(ctx context.Context, from Mark, to *Mark, obj *object) (Mark, int, error) {
	path := "/audit-log/v1/logs"
	if r.cfg.API == APIv2beta1 {
		path = "/audit-log/v2beta1/logs"
	}
	spec := central.PageSpec{App: central.AppGLP, Path: path, Style: central.OffsetPaging, Limit: r.cfg.PageLimit,
		Params: map[string]any{"filter": "createdAt ge '" + from.At.UTC().Format(time.RFC3339Nano) + "'"}}
	seen := map[string]bool{}
	end := Mark{}
	n := 0
	for page, err := range central.Pages[json.RawMessage](ctx, r.client, spec) {
		if err != nil {
			return Mark{}, 0, err
		}
		collected := r.cfg.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
		for i, item := range page.Items {
			var ev event
			if err := json.Unmarshal(item, &ev); err != nil {
				return Mark{}, 0, fmt.Errorf("audittrail: page %d item %d: %w", page.Number, i, err)
			}
			at, err := time.Parse(time.RFC3339Nano, ev.CreatedAt)
			if err != nil {
				return Mark{}, 0, fmt.Errorf("audittrail: page %d item %d: createdAt %q: %w", page.Number, i, ev.CreatedAt, err)
			}
			if err := checkID(ev.ID); err != nil {
				return Mark{}, 0, fmt.Errorf("audittrail: page %d item %d: %w", page.Number, i, err)
			}
			if from.Covers(at, ev.ID) || seen[ev.ID] || to != nil && !to.Covers(at, ev.ID) {
				continue
			}
			seen[ev.ID] = true
			if err := obj.record(item, collected); err != nil {
				return Mark{}, 0, err
			}
			n++
			switch {
			case end.At.IsZero() || at.After(end.At):
				end = Mark{At: at, IDs: []string{ev.ID}}
			case at.Equal(end.At):
				end.IDs = append(end.IDs, ev.ID)
			}
		}
	}
	if n > 0 && end.At.Equal(from.At) {
		end.IDs = append(slices.Clone(from.IDs), end.IDs...)
	}
	if len(end.IDs) > MaxIDs {
		return Mark{}, 0, fmt.Errorf("audittrail: %d events share createdAt %s, more than %d", len(end.IDs), end.At.Format(time.RFC3339Nano), MaxIDs)
	}
	return end, n, nil
}

// object is a gzip NDJSON object being written.
type object struct {
	key  string
	meta []byte
	obj  sink.Object
	zw   *gzip.Writer
	line bytes.Buffer
	once sync.Once
}

func (r *tenantRun) open(ctx context.Context, from Mark) (*object, error) {
	key := ObjectKey(r.t.ID, from)
	so, err := r.cfg.Sink.Create(ctx, key, collector.ContentType)
	if err != nil {
		return nil, fmt.Errorf("audittrail: creating %s: %w", key, err)
	}
	zw, _ := gzip.NewWriterLevel(so, collector.GzipLevel)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	meta := `{"_tenant_id":` + q(r.t.ID) + `,"_tenant_name":` + q(r.t.Name) + `,"_run_id":` + q(r.cfg.RunID) + `,"_collected_at":`
	return &object{key: key, meta: []byte(meta), obj: so, zw: zw}, nil
}

// record writes one line: the added fields, then the item's own, as the
// collector writes its records.
func (o *object) record(item json.RawMessage, collected string) error {
	o.line.Reset()
	o.line.Write(o.meta)
	o.line.WriteString(`"` + collected + `"`)
	var c bytes.Buffer
	if err := json.Compact(&c, item); err != nil {
		return err
	}
	body := c.Bytes()
	switch {
	case len(body) > 2 && body[0] == '{':
		o.line.WriteByte(',')
		o.line.Write(body[1:])
	case len(body) == 2 && body[0] == '{':
		o.line.WriteByte('}')
	default:
		o.line.WriteString(`,"_value":`)
		o.line.Write(body)
		o.line.WriteByte('}')
	}
	o.line.WriteByte('\n')
	_, err := o.zw.Write(o.line.Bytes())
	return err
}

func (o *object) close() error { return o.zw.Close() }

func (o *object) commit(ctx context.Context) error {
	if _, err := o.obj.Commit(ctx); err != nil {
		return fmt.Errorf("audittrail: committing %s: %w", o.key, err)
	}
	return nil
}

func (o *object) abort(ctx context.Context) error {
	var err error
	o.once.Do(func() { err = o.obj.Abort(ctx) })
	return err
}

// ReadObject decodes an object written by Run (for tests and tools): its
// lines, in order.
func ReadObject(r io.Reader) ([]json.RawMessage, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line != "" {
			out = append(out, json.RawMessage(line))
		}
	}
	return out, nil
}
