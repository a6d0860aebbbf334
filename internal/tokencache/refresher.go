package tokencache

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/internal/errclass"
	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// Tenant is one MSP tenant as the refresher needs it.
type Tenant struct {
	ID   string
	Name string
}

// Source gives the refresher the MSP token, the tenant list and tenant token
// exchanges. The Lambda handler adapts *msp.MSP to it; tests use fakes.
type Source interface {
	MSPToken(ctx context.Context) (*oauth2.Token, error)
	Tenants(ctx context.Context) iter.Seq2[Tenant, error]
	Exchange(ctx context.Context, tenantID string) (*oauth2.Token, error)
}

// DefaultConcurrency is the default number of concurrent exchanges.
const DefaultConcurrency = 8

// MSPEntryID is the tenant_id of the MSP's own entry in <prefix>/msp.
const MSPEntryID = "msp"

// RefresherOptions configure a Refresher.
type RefresherOptions struct {
	// Prefix is the name prefix of the cache objects (required).
	Prefix  string
	Backend Backend // required
	Source  Source  // required
	// Schedule (zero fields take DefaultSchedule's).
	Schedule Schedule
	// Layout (zero fields take DefaultLayout's).
	Layout Layout
	// Concurrency bounds concurrent exchanges (default DefaultConcurrency).
	// The Source's own rate budgets still apply on top.
	Concurrency int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Classify names the class of an exchange error for the entry and the
	// result (default DefaultClassify). It must not return the message.
	Classify func(error) string
}

// Refresher keeps the cache's secrets fresh for the next collection window.
// One Refresher may run Refresh many times; Refresh is not meant to be
// called concurrently on the same Refresher (separate Refreshers, even in
// separate processes, may run at once: see Refresh).
type Refresher struct {
	o       RefresherOptions
	limiter *rate.Limiter
}

// NewRefresher validates opts and returns a Refresher.
func NewRefresher(opts RefresherOptions) (*Refresher, error) {
	if err := ValidatePrefix(opts.Prefix); err != nil {
		return nil, err
	}
	if opts.Backend == nil || opts.Source == nil {
		return nil, errors.New("tokencache: a refresher needs a Backend and a Source")
	}
	opts.Schedule = opts.Schedule.withDefaults()
	if err := opts.Schedule.Validate(); err != nil {
		return nil, err
	}
	opts.Layout = opts.Layout.withDefaults()
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Classify == nil {
		opts.Classify = DefaultClassify
	}
	return &Refresher{o: opts, limiter: rate.NewLimiter(rate.Limit(opts.Schedule.WriteRate), 1)}, nil
}

// Result summarises one Refresh. It never holds a token.
type Result struct {
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Tenants     int       `json:"tenants"`
	// DuplicateTenants counts repeated tenant ids in the list (normalised
	// comparison): each tenant is cached once, under its first listing.
	DuplicateTenants int `json:"duplicate_tenants,omitempty"`
	// ListComplete is false when the tenant list failed part way (then no
	// tenant was dropped from the cache).
	ListComplete     bool   `json:"list_complete"`
	ListError        string `json:"list_error,omitempty"`
	TenantSecrets    int    `json:"shards"`
	NewTenantSecrets int    `json:"new_shards"`
	NewTenants       int    `json:"new_tenants"`
	Dropped          int    `json:"dropped_tenants"`
	Exchanged        int    `json:"exchanged"`
	// Written lists the objects written (secrets and the MSP object).
	Written []string `json:"written"`
	// Skipped lists objects not written and why (fresh, written recently,
	// written by another refresher).
	Skipped  []Skip             `json:"skipped,omitempty"`
	Failures []TenantFailure    `json:"failures,omitempty"`
	Errors   []ObjectError      `json:"write_errors,omitempty"`
	Sizes    map[string]int     `json:"sizes,omitempty"`
	Duration time.Duration      `json:"duration_ns"`
	Counts   map[SkipReason]int `json:"skip_counts,omitempty"`
}

// SkipReason says why an object was not written.
type SkipReason string

// Skip reasons.
const (
	SkipFresh    SkipReason = "fresh"    // every entry outlives the window
	SkipRecent   SkipReason = "recent"   // a version is younger than MinWriteInterval
	SkipConflict SkipReason = "conflict" // another writer wrote it since it was read
)

// Skip is an object the refresher did not write.
type Skip struct {
	Name   string     `json:"name"`
	Reason SkipReason `json:"reason"`
	Detail string     `json:"detail,omitempty"`
}

// TenantFailure is a tenant whose exchange failed.
type TenantFailure struct {
	TenantID string `json:"tenant_id"`
	Name     string `json:"name,omitempty"`
	Class    string `json:"class"`
	Message  string `json:"message"`
	// KeptPrevious is true when the previous, still valid token was kept.
	KeptPrevious bool `json:"kept_previous"`
}

// ObjectError is an object that could not be written.
type ObjectError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// secretState is one secret during a refresh.
type secretState struct {
	name    string
	index   int
	kind    Kind
	create  bool
	version string
	written time.Time // newest evidence of the last write
	entries []Entry   // kept and new entries, in order
	drop    map[string]bool
	newIDs  map[string]bool
	budget  int

	pending   []int // indexes into entries to exchange
	remaining atomic.Int64
	mu        sync.Mutex
}

// Refresh loads the cache, lists the tenants, exchanges the tokens of every
// secret that needs a write for the coming collection window and writes those
// secrets.
//
// It writes nothing and returns an error when a cache object does not parse,
// when the cache cannot be read, or when the MSP token cannot be had. A
// tenant's failed exchange is recorded in its entry and in the result (the
// Lambda publishes the count as a metric with an alarm); the call fails
// (after writing what it could) only when nothing could be written.
//
// Overlapping refreshers are safe: a secret is written only when its latest
// version (checked right before the write) is the one this refresher read and
// is older than MinWriteInterval, and the write's idempotency token is
// derived from the secret name, the window and the version read, so two
// refreshers that read the same version cannot both add one.
func (r *Refresher) Refresh(ctx context.Context) (*Result, error) {
	o := r.o
	started := o.Now()
	ws, we := o.Schedule.WindowAt(started)
	res := &Result{WindowStart: ws, WindowEnd: we, Sizes: map[string]int{}, Counts: map[SkipReason]int{}}
	log := o.Logger.With("cache", o.Backend.String(), "prefix", o.Prefix)

	secrets, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	mspState, err := r.loadOne(ctx, MSPName(o.Prefix), -1, KindMSP)
	if err != nil {
		return nil, err
	}

	mspTok, err := o.Source.MSPToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("tokencache: cannot get the MSP token: %w", err)
	}
	if mspTok == nil || mspTok.AccessToken == "" {
		return nil, errors.New("tokencache: cannot get the MSP token: the source returned an empty token")
	}

	tenants, dups, listErr := collectTenants(ctx, o.Source, log)
	res.DuplicateTenants = dups
	res.ListComplete = listErr == nil
	if listErr != nil {
		res.ListError = redact(listErr.Error(), mspTok.AccessToken)
		if len(tenants) == 0 {
			return nil, fmt.Errorf("tokencache: listing tenants: %w", listErr)
		}
		log.WarnContext(ctx, "tenant list incomplete; no tenant is dropped", "listed", len(tenants), "err", res.ListError)
	}
	res.Tenants = len(tenants)

	// The MSP object first: the collector needs it even if tenants fail.
	r.writeMSP(ctx, mspState, mspTok, ws, we, res, log)

	secrets = assign(o.Prefix, o.Layout, secrets, tenants, res.ListComplete, res)
	res.TenantSecrets = len(secrets)

	todo := r.pending(secrets, started, we, res)
	res.Exchanged = r.exchange(ctx, todo, mspTok.AccessToken, ws, res, log)
	slices.SortFunc(res.Failures, func(a, b TenantFailure) int { return cmp.Compare(a.TenantID, b.TenantID) })
	slices.Sort(res.Written)
	res.Duration = o.Now().Sub(started)
	log.InfoContext(ctx, "token cache refreshed",
		"window_start", ws, "tenants", res.Tenants, "tenant_secrets", res.TenantSecrets, "new_tenant_secrets", res.NewTenantSecrets,
		"exchanged", res.Exchanged, "failed", len(res.Failures), "written", len(res.Written),
		"skipped", len(res.Skipped), "write_errors", len(res.Errors))

	switch {
	case len(res.Errors) > 0 && len(res.Written) == 0:
		return res, fmt.Errorf("tokencache: nothing could be written: %d write error(s), first: %s", len(res.Errors), res.Errors[0].Message)
	}
	return res, nil
}

// writeMSP writes the MSP object unless its token is still valid for the
// window.
func (r *Refresher) writeMSP(ctx context.Context, mspState *secretState, mspTok *oauth2.Token, ws, we time.Time, res *Result, log *slog.Logger) {
	o := r.o
	mspEntry := Entry{TenantID: MSPEntryID, Name: "MSP", Token: mspTok.AccessToken, TokenType: mspTok.Type(), Expiry: mspTok.Expiry, Status: StatusOK, Updated: o.Now()}
	if mspEntry.Expiry.IsZero() {
		mspEntry.Expiry = o.Now().Add(o.Schedule.TokenLifetime)
	}
	if prev := first(mspState.entries); prev == nil || !prev.ValidFor(we, 0) {
		mspState.entries = []Entry{mspEntry}
		res.apply(r.write(ctx, mspState, ws, log))
	} else {
		res.skip(mspState.name, SkipFresh, "")
	}
}

// pending decides which cache secrets to write and which of their entries
// to exchange; the others are recorded as skipped.
func (r *Refresher) pending(secrets []*secretState, started, we time.Time, res *Result) []*secretState {
	o := r.o
	var todo []*secretState
	for _, st := range secrets {
		for i, e := range st.entries {
			if st.drop[e.TenantID] {
				continue
			}
			if st.newIDs[e.TenantID] || !e.ValidFor(we, 0) || (e.Status == StatusOK && entryBindError(e) != "") {
				st.pending = append(st.pending, i)
			}
		}
		switch {
		case len(st.pending) == 0:
			res.skip(st.name, SkipFresh, "")
		case !st.create && !st.written.IsZero() && started.Sub(st.written) < o.Schedule.MinWriteInterval:
			res.skip(st.name, SkipRecent, fmt.Sprintf("last version %s ago", started.Sub(st.written).Round(time.Second)))
		default:
			todo = append(todo, st)
		}
	}
	return todo
}

// exchange exchanges every pending entry, writing each cache secret as soon
// as its last entry is done, and returns the tokens exchanged. Failures are
// recorded in res.
func (r *Refresher) exchange(ctx context.Context, todo []*secretState, mspToken string, ws time.Time, res *Result, log *slog.Logger) int {
	// Keep a reserve of the invocation's time for the writes.
	exCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		reserve := min(20*time.Second, time.Until(dl)/5)
		var cancel context.CancelFunc
		exCtx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}
	var (
		g       errgroup.Group
		mu      sync.Mutex
		okCount atomic.Int64
	)
	g.SetLimit(r.o.Concurrency)
	for _, st := range todo {
		st.remaining.Store(int64(len(st.pending)))
		for _, i := range st.pending {
			g.Go(func() error {
				fail := r.exchangeOne(exCtx, st, i, mspToken)
				if fail == nil {
					okCount.Add(1)
				} else {
					mu.Lock()
					res.Failures = append(res.Failures, *fail)
					mu.Unlock()
				}
				if st.remaining.Add(-1) == 0 {
					oc := r.write(ctx, st, ws, log)
					mu.Lock()
					res.apply(oc)
					mu.Unlock()
				}
				return nil
			})
		}
	}
	_ = g.Wait() // workers record failures as data and return nil
	return int(okCount.Load())
}

func (res *Result) skip(name string, why SkipReason, detail string) {
	res.Skipped = append(res.Skipped, Skip{Name: name, Reason: why, Detail: detail})
	res.Counts[why]++
}

func first(es []Entry) *Entry {
	if len(es) == 0 {
		return nil
	}
	return &es[0]
}

// exchangeOne refreshes entry i of st; it returns the failure, if any.
func (r *Refresher) exchangeOne(ctx context.Context, st *secretState, i int, mspToken string) (fail *TenantFailure) {
	st.mu.Lock()
	prev := st.entries[i]
	st.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			fail = r.failed(st, i, prev, "panic", errors.New("panic during the token exchange"), mspToken)
		}
	}()
	tok, err := r.o.Source.Exchange(ctx, prev.TenantID)
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("the exchange returned an empty token")
	}
	if err != nil {
		return r.failed(st, i, prev, r.o.Classify(err), err, mspToken)
	}
	now := r.o.Now()
	e := prev
	e.Token, e.TokenType, e.Expiry = tok.AccessToken, tok.Type(), tok.Expiry
	if e.Expiry.IsZero() {
		e.Expiry = now.Add(r.o.Schedule.TokenLifetime)
	}
	e.Status, e.ErrorClass, e.Updated = StatusOK, "", now
	st.mu.Lock()
	st.entries[i] = e
	st.mu.Unlock()
	return nil
}

func (r *Refresher) failed(st *secretState, i int, prev Entry, class string, err error, mspToken string) *TenantFailure {
	now := r.o.Now()
	e := prev
	kept := !st.newIDs[prev.TenantID] && prev.ValidFor(now, 0)
	if !kept {
		e.Status, e.Token, e.TokenType, e.Expiry = StatusFailed, "", "", time.Time{}
		e.Updated = now
	}
	e.ErrorClass = class
	st.mu.Lock()
	st.entries[i] = e
	st.mu.Unlock()
	return &TenantFailure{TenantID: prev.TenantID, Name: prev.Name, Class: class, Message: redact(err.Error(), mspToken, prev.Token), KeptPrevious: kept}
}

// outcome is what became of one object write.
type outcome struct {
	name string
	size int
	skip *Skip
	err  error
}

func (res *Result) apply(oc outcome) {
	switch {
	case oc.skip != nil:
		res.skip(oc.skip.Name, oc.skip.Reason, oc.skip.Detail)
	case oc.err != nil:
		res.Errors = append(res.Errors, ObjectError{Name: oc.name, Message: oc.err.Error()})
	default:
		res.Written = append(res.Written, oc.name)
		res.Sizes[oc.name] = oc.size
	}
}

// write writes st for the window starting at ws unless another writer got
// there first.
func (r *Refresher) write(ctx context.Context, st *secretState, ws time.Time, log *slog.Logger) outcome {
	o := r.o
	oc := outcome{name: st.name}
	skip := func(why SkipReason, detail string) outcome {
		oc.skip = &Skip{Name: st.name, Reason: why, Detail: detail}
		log.InfoContext(ctx, "cache object not written", "name", st.name, "reason", why, "detail", detail)
		return oc
	}
	st.mu.Lock()
	entries := make([]Entry, 0, len(st.entries))
	for _, e := range st.entries {
		if !st.drop[e.TenantID] {
			entries = append(entries, e)
		}
	}
	st.mu.Unlock()
	doc := &CacheSecret{Format: FormatName, Version: FormatVersion, Kind: st.kind, Index: st.index, WrittenAt: o.Now().UTC(), Window: ws, Entries: entries}
	data, err := doc.Encode()
	if err != nil {
		oc.err = err
		return oc
	}
	if err := r.limiter.Wait(ctx); err != nil {
		oc.err = fmt.Errorf("tokencache: waiting for the write budget for %q: %w", st.name, err)
		return oc
	}
	if !st.create {
		l, err := o.Backend.Latest(ctx, st.name)
		if err != nil {
			oc.err = err
			return oc
		}
		now := o.Now()
		// The store's date, or the writer's written_at of the version read
		// (same version), whichever is newer: either clock may lag.
		last := l.Written
		if st.written.After(last) {
			last = st.written
		}
		switch {
		case l.VersionID != "" && st.version != "" && l.VersionID != st.version:
			return skip(SkipConflict, "a newer version appeared since it was read")
		case !last.IsZero() && now.Sub(last) < o.Schedule.MinWriteInterval:
			if last.Sub(now) > time.Minute {
				// A version from the future: this clock is behind the store's.
				// Skipping is the safe side of the version quota.
				log.WarnContext(ctx, "cache object's last version is dated in the future; check the clock", "name", st.name, "ahead", last.Sub(now).Round(time.Second))
			}
			return skip(SkipRecent, fmt.Sprintf("last version %s ago", now.Sub(last).Round(time.Second)))
		}
	}
	err = o.Backend.Put(ctx, st.name, data, PutOptions{Create: st.create, PrevVersionID: st.version, Token: writeToken(st.name, ws, st.version)})
	switch {
	case errors.Is(err, ErrConflict):
		return skip(SkipConflict, "another refresher wrote it first")
	case err != nil:
		log.ErrorContext(ctx, "writing cache object failed", "name", st.name, "err", err)
		oc.err = err
	default:
		oc.size = len(data)
		log.DebugContext(ctx, "cache object written", "name", st.name, "bytes", len(data), "entries", len(entries))
	}
	return oc
}

// writeToken is the idempotency token of a write of name, for the window
// starting at ws, replacing version prev ("" for a create). Refreshers that
// read the same version compute the same token, so of two overlapping
// writes only one creates a version: Secrets Manager rejects a reused token
// with other data.
func writeToken(name string, ws time.Time, prev string) string {
	h := sha256.Sum256(fmt.Appendf(nil, "centralmsp-token-cache|%s|%d|%s", name, ws.Unix(), prev))
	x := fmt.Sprintf("%x", h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// load reads every secret; any unreadable or malformed secret is an error.
func (r *Refresher) load(ctx context.Context) ([]*secretState, error) {
	o := r.o
	names, err := o.Backend.List(ctx, o.Prefix+"/shard-")
	if err != nil {
		return nil, err
	}
	type named struct {
		name string
		idx  int
	}
	var want []named
	for _, n := range names {
		if idx, ok := parseCacheSecretName(o.Prefix, n); ok {
			want = append(want, named{n, idx})
		} else {
			o.Logger.WarnContext(ctx, "ignoring an object under the cache prefix that is not a secret", "name", n)
		}
	}
	out := make([]*secretState, len(want))
	var g errgroup.Group
	g.SetLimit(8)
	for i, w := range want {
		g.Go(func() error {
			st, err := r.loadOne(ctx, w.name, w.idx, KindTenants)
			if err != nil {
				return err
			}
			if st.create { // listed but gone: ignore
				st = nil
			}
			out[i] = st
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out = slices.DeleteFunc(out, func(s *secretState) bool { return s == nil })
	slices.SortFunc(out, func(a, b *secretState) int { return cmp.Compare(a.index, b.index) })
	return out, nil
}

// loadOne reads one object; a missing object yields a state to create.
func (r *Refresher) loadOne(ctx context.Context, name string, idx int, kind Kind) (*secretState, error) {
	st := &secretState{name: name, index: idx, kind: kind, drop: map[string]bool{}, newIDs: map[string]bool{}}
	obj, err := r.o.Backend.Get(ctx, name)
	if errors.Is(err, ErrNotFound) {
		st.create = true
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	doc, err := DecodeCacheSecret(name, obj.Data)
	if err != nil {
		return nil, err
	}
	if doc.Kind != kind || (kind == KindTenants && doc.Index != idx) {
		return nil, &ParseError{Name: name, Reason: fmt.Sprintf("holds %s %d, want %s %d", doc.Kind, doc.Index, kind, idx)}
	}
	st.version = obj.VersionID
	st.written = obj.Written
	if doc.WrittenAt.After(st.written) {
		st.written = doc.WrittenAt
	}
	st.entries = doc.Entries
	return st, nil
}

// placeKnown indexes the tenants already cached by tenant id: it updates
// their names, marks duplicates and (when the list is complete) unlisted
// tenants for dropping, and sums each secret's budget.
func placeKnown(l Layout, secrets []*secretState, tenants []Tenant, complete bool, res *Result) map[string]*secretState {
	listed := make(map[string]Tenant, len(tenants))
	for _, t := range tenants {
		listed[t.ID] = t
	}
	where := map[string]*secretState{}
	for _, st := range secrets {
		for i := range st.entries {
			e := &st.entries[i]
			if _, dup := where[e.TenantID]; dup {
				st.drop[e.TenantID] = true // keep the first copy
				continue
			}
			where[e.TenantID] = st
			e.Name = termsafe.Name(e.Name) // stored by an older writer
			if t, ok := listed[e.TenantID]; ok {
				if t.Name != "" {
					e.Name = termsafe.Name(t.Name)
				}
			} else if complete {
				st.drop[e.TenantID] = true
				res.Dropped++
			}
		}
		for _, e := range st.entries {
			if !st.drop[e.TenantID] {
				st.budget += l.entryBudget(e)
			}
		}
		st.budget += headerBudget()
	}
	return where
}

// assign maps listed tenants onto secrets: known tenants stay where they are
// (their names are updated; a tenant found in two secrets keeps the copy in
// the lower one), tenants no longer listed are dropped when the list is
// complete, and new tenants fill secrets first-fit by budgeted size, adding
// secrets as needed.
func assign(prefix string, l Layout, secrets []*secretState, tenants []Tenant, complete bool, res *Result) []*secretState {
	where := placeKnown(l, secrets, tenants, complete, res)
	var fresh []Tenant
	var once msp.TenantSet // a tenant listed twice gets one entry
	for _, t := range tenants {
		if where[t.ID] == nil && once.Add(t.ID) {
			fresh = append(fresh, t)
		}
	}
	slices.SortFunc(fresh, func(a, b Tenant) int { return cmp.Compare(a.ID, b.ID) })
	res.NewTenants = len(fresh)
	// New secrets take the lowest free index: a gap means another refresher
	// is creating that secret right now (or it was deleted), and creating the
	// same name again fails instead of scattering tenants over extra secrets.
	used := map[int]bool{}
	for _, st := range secrets {
		used[st.index] = true
	}
	nextFree := func() int {
		for i := 0; ; i++ {
			if !used[i] {
				used[i] = true
				return i
			}
		}
	}
	// full counts leading secrets that cannot take even the smallest entry,
	// so first fit does not rescan them for every tenant.
	full := 0
	minEntry := l.entryBudget(Entry{TenantID: strings.Repeat("0", 32), Status: StatusFailed})
	for _, t := range fresh {
		for full < len(secrets) && !l.fits(secrets[full].budget, len(secrets[full].entries)-len(secrets[full].drop), minEntry) {
			full++
		}
		e := Entry{TenantID: t.ID, Name: termsafe.Name(t.Name), Status: StatusFailed, ErrorClass: string(errclass.Pending)}
		eb := l.entryBudget(e)
		var dst *secretState
		for _, st := range secrets[full:] {
			if l.fits(st.budget, len(st.entries)-len(st.drop), eb) {
				dst = st
				break
			}
		}
		if dst == nil {
			idx := nextFree()
			dst = &secretState{name: CacheSecretName(prefix, idx), index: idx, kind: KindTenants, create: true,
				drop: map[string]bool{}, newIDs: map[string]bool{}, budget: headerBudget()}
			secrets = append(secrets, dst)
			res.NewTenantSecrets++
		}
		dst.entries = append(dst.entries, e)
		dst.newIDs[t.ID] = true
		dst.budget += eb
		where[t.ID] = dst
	}
	return secrets
}

// collectTenants reads the (untrusted) tenant list: ids are normalised and
// an unusable one is skipped, a repeated id is skipped and counted (the
// first listing wins), and names are cut to termsafe.MaxName bytes so one
// name cannot push its secret over the SecretString limit.
func collectTenants(ctx context.Context, src Source, log *slog.Logger) ([]Tenant, int, error) {
	var out []Tenant
	var seen msp.TenantSet
	for t, err := range src.Tenants(ctx) {
		if err != nil {
			return out, seen.Duplicates, err
		}
		id, nerr := msp.NormalizeTenantID(t.ID)
		if nerr != nil {
			log.WarnContext(ctx, "skipping a tenant with an unusable workspace id", "tenant_id", msp.LogID(t.ID))
			continue
		}
		if !seen.Add(id) {
			log.WarnContext(ctx, "duplicate tenant in the tenant list: keeping the first", "tenant_id", id)
			continue
		}
		out = append(out, Tenant{ID: id, Name: termsafe.Name(t.Name)})
	}
	return out, seen.Duplicates, nil
}

// DefaultClassify names an exchange error's class (internal/errclass)
// without its message.
func DefaultClassify(err error) string {
	var re *oauth2.RetrieveError
	var ne net.Error
	var sc interface{ HTTPStatusCode() int }
	code := 0
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return string(errclass.Timeout)
	case errors.Is(err, context.Canceled):
		return string(errclass.Canceled)
	case errors.As(err, &re) && re.Response != nil:
		code = re.Response.StatusCode
	case errors.As(err, &sc):
		code = sc.HTTPStatusCode()
	case errors.As(err, &ne):
		return string(errclass.Network)
	}
	return ClassifyStatus(code)
}

// ClassifyStatus maps an HTTP status to its error class (errclass.FromStatus).
func ClassifyStatus(code int) string { return string(errclass.FromStatus(code)) }

// redact removes secrets from an error message and bounds its length.
func redact(msg string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 8 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return truncate(msg, 300)
}
