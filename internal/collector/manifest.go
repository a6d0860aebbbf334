package collector

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/centralmsp/centralmsp/pkg/central"
)

// ManifestVersion is the version of the manifest format written.
const ManifestVersion = 1

// Status is the outcome of a tenant or of one tenant's dataset.
type Status string

const (
	// StatusOK: collected completely and committed.
	StatusOK Status = "ok"
	// StatusFailed: an error stopped it; no object was committed.
	StatusFailed Status = "failed"
	// StatusSkipped: not attempted because it cannot apply (e.g. the
	// credentials do not cover the dataset's app).
	StatusSkipped Status = "skipped"
	// StatusDeferred: not started because the run ran out of time.
	StatusDeferred Status = "deferred"
)

// Manifest describes one run (or one shard of a run): per tenant and dataset
// what was written, and run totals. It is stored at ManifestKey(RunID) (or
// ShardKey for a shard) as JSON.
type Manifest struct {
	Version int    `json:"version"`
	RunID   string `json:"run_id"`
	// Shard is set on a shard's partial manifest.
	Shard string `json:"shard,omitempty"`
	// Shards lists the shards joined into this manifest.
	Shards []string `json:"shards,omitempty"`
	// Date is the dt= partition of the run's objects (YYYY-MM-DD, UTC).
	Date       string    `json:"dt"`
	Sink       string    `json:"sink,omitempty"`
	Datasets   []string  `json:"datasets"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Complete is true only if every selected tenant x dataset is ok (and,
	// for a joined manifest, every expected shard is present).
	Complete bool `json:"complete"`
	// Error is a run-level error, e.g. the tenant list could not be read.
	Error  *ErrorInfo `json:"error,omitempty"`
	Totals Totals     `json:"totals"`
	// Budgets is what the rate-limit budgets learned from the server: the
	// limits stated, and New Central's scope with its evidence (each
	// tenant's remaining/limit at its first answer).
	Budgets []central.BudgetReport `json:"budgets,omitempty"`
	// MSP holds the MSP-level datasets (tenant-health), each read once per
	// run with the MSP's token; Datasets and Tenants list the tenant-level
	// ones. A shard never reads them.
	MSP     []MSPDatasetResult `json:"msp_datasets,omitempty"`
	Tenants []TenantResult     `json:"tenants"`
}

// MSPDatasetResult is an MSP-level dataset's outcome: one object for the
// run (Key), and how its records were labelled with tenants.
type MSPDatasetResult struct {
	DatasetResult
	// Mapped records name exactly one listed tenant and carry its id;
	// Unmatched ones name none, Ambiguous ones several (or a name too long
	// to compare). Both are kept, labelled with _mapping and no tenant id.
	Mapped    int `json:"mapped"`
	Unmatched int `json:"unmatched"`
	Ambiguous int `json:"ambiguous"`
	// Duplicates are items repeating an earlier item's tenantId: skipped.
	Duplicates int `json:"duplicates"`
}

// Totals are the run's figures.
type Totals struct {
	Tenants         int `json:"tenants"`
	TenantsOK       int `json:"tenants_ok"`
	TenantsFailed   int `json:"tenants_failed"`
	TenantsDeferred int `json:"tenants_deferred"`
	TenantsSkipped  int `json:"tenants_skipped"`
	// DuplicateTenants counts repeated tenant ids in the tenant list (or
	// the shard's list) that were skipped: the first occurrence is
	// collected once, so no object is written twice.
	DuplicateTenants int `json:"duplicate_tenants,omitempty"`

	DatasetsOK       int `json:"datasets_ok"`
	DatasetsFailed   int `json:"datasets_failed"`
	DatasetsDeferred int `json:"datasets_deferred"`
	DatasetsSkipped  int `json:"datasets_skipped"`
	// MSP-level datasets by status (see Manifest.MSP); their records,
	// bytes and calls are in their own results, not in the figures below.
	MSPDatasetsOK      int `json:"msp_datasets_ok,omitempty"`
	MSPDatasetsFailed  int `json:"msp_datasets_failed,omitempty"`
	MSPDatasetsSkipped int `json:"msp_datasets_skipped,omitempty"`

	// Records and Bytes count committed objects only; Pages, APICalls,
	// Retries and RateLimited count all work, failed datasets included.
	Records     int64 `json:"records"`
	Pages       int64 `json:"pages"`
	Bytes       int64 `json:"bytes"`
	APICalls    int64 `json:"api_calls"`
	Retries     int64 `json:"retries"`
	RateLimited int64 `json:"rate_limited"` // responses answered 429

	// Token figures: exchanges made, tenant tokens served from the token
	// cache (hits) and tokens that had to be exchanged (misses).
	Exchanges          int64   `json:"exchanges"`
	TokenCacheHits     int64   `json:"token_cache_hits"`
	TokenCacheMisses   int64   `json:"token_cache_misses"`
	TokenCacheHitRatio float64 `json:"token_cache_hit_ratio"`

	DurationMS int64 `json:"duration_ms"`
}

// TenantResult is one tenant's outcome.
type TenantResult struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Status: ok (every dataset ok), failed (any failed), deferred (not
	// started), skipped (nothing applied).
	Status     Status          `json:"status"`
	DurationMS int64           `json:"duration_ms"`
	Error      *ErrorInfo      `json:"error,omitempty"`
	Datasets   []DatasetResult `json:"datasets"`
}

// DatasetResult is one tenant's dataset.
type DatasetResult struct {
	Dataset string `json:"dataset"`
	Status  Status `json:"status"`
	// Key is the committed object's key (relative to the sink); empty
	// unless Status is ok.
	Key string `json:"key,omitempty"`
	// Records and Pages were read; for a failed dataset, before the
	// failure (nothing of it was stored).
	Records      int64      `json:"records"`
	Pages        int64      `json:"pages"`
	Bytes        int64      `json:"bytes"`
	SHA256       string     `json:"sha256,omitempty"`
	DurationMS   int64      `json:"duration_ms"`
	APICalls     int64      `json:"api_calls"`
	Retries      int64      `json:"retries"`
	RateLimited  int64      `json:"rate_limited"`
	Unauthorized int64      `json:"unauthorized"`
	Error        *ErrorInfo `json:"error,omitempty"`
}

// recompute fills the tenant's Status from its datasets.
func (t *TenantResult) recompute() {
	if len(t.Datasets) == 0 {
		if t.Status == "" {
			t.Status = StatusSkipped
		}
		return
	}
	var ok, failed, deferred int
	for _, d := range t.Datasets {
		switch d.Status {
		case StatusOK:
			ok++
		case StatusFailed:
			failed++
		case StatusDeferred:
			deferred++
		}
	}
	switch {
	case failed > 0:
		t.Status = StatusFailed
	case deferred > 0:
		t.Status = StatusDeferred
	case ok == len(t.Datasets):
		t.Status = StatusOK
	case ok == 0:
		t.Status = StatusSkipped
	default:
		t.Status = StatusOK // ok plus skipped datasets
	}
}

// Summarize recomputes the tenant statuses, Totals (keeping the token
// figures and DurationMS) and Complete from the tenants.
func (m *Manifest) Summarize() {
	tok := m.Totals
	m.Totals = Totals{
		Exchanges: tok.Exchanges, TokenCacheHits: tok.TokenCacheHits, TokenCacheMisses: tok.TokenCacheMisses,
		DurationMS: tok.DurationMS, DuplicateTenants: tok.DuplicateTenants,
	}
	t := &m.Totals
	complete := m.Error == nil
	for i := range m.Tenants {
		tr := &m.Tenants[i]
		tr.recompute()
		t.Tenants++
		switch tr.Status {
		case StatusOK:
			t.TenantsOK++
		case StatusFailed:
			t.TenantsFailed++
		case StatusDeferred:
			t.TenantsDeferred++
		case StatusSkipped:
			t.TenantsSkipped++
		}
		if len(tr.Datasets) == 0 {
			complete = false
		}
		for _, d := range tr.Datasets {
			switch d.Status {
			case StatusOK:
				t.DatasetsOK++
			case StatusFailed:
				t.DatasetsFailed++
			case StatusDeferred:
				t.DatasetsDeferred++
			case StatusSkipped:
				t.DatasetsSkipped++
			}
			if d.Status != StatusOK {
				complete = false
			} else {
				t.Records += d.Records
				t.Bytes += d.Bytes
			}
			t.Pages += d.Pages
			t.APICalls += d.APICalls
			t.Retries += d.Retries
			t.RateLimited += d.RateLimited
		}
	}
	if n := t.TokenCacheHits + t.TokenCacheMisses; n > 0 {
		t.TokenCacheHitRatio = float64(t.TokenCacheHits) / float64(n)
	}
	for _, d := range m.MSP {
		switch d.Status {
		case StatusOK:
			t.MSPDatasetsOK++
		case StatusSkipped:
			t.MSPDatasetsSkipped++
		default:
			t.MSPDatasetsFailed++
		}
		if d.Status != StatusOK {
			complete = false
		}
	}
	m.Complete = complete
}

// Tenant returns the result for a tenant id, or nil.
func (m *Manifest) Tenant(id string) *TenantResult {
	for i := range m.Tenants {
		if m.Tenants[i].ID == id {
			return &m.Tenants[i]
		}
	}
	return nil
}

// Dataset returns a tenant's result for a dataset, or nil.
func (t *TenantResult) Dataset(name string) *DatasetResult {
	for i := range t.Datasets {
		if t.Datasets[i].Dataset == name {
			return &t.Datasets[i]
		}
	}
	return nil
}

// Marshal encodes the manifest as indented JSON with a final newline.
func (m *Manifest) Marshal() ([]byte, error) {
	var compact bytes.Buffer
	enc := json.NewEncoder(&compact)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	// Indenting into a buffer sized once, rather than through the
	// encoder's own doubling one, keeps a 1,000-tenant manifest (about
	// 4 MB) from copying itself several times: it was 4 % of a run's CPU.
	out := bytes.NewBuffer(make([]byte, 0, compact.Len()*2))
	if err := json.Indent(out, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// ReadManifest decodes a manifest (a run's or a shard's).
func ReadManifest(r io.Reader) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(r)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("collector: decoding manifest: %w", err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("collector: manifest version %d, want %d", m.Version, ManifestVersion)
	}
	return &m, nil
}

// Join merges the shard manifests of one run into the run's manifest.
// expected lists the shard names that must be present (nil: the shards
// given); a missing shard makes the joined manifest incomplete with a
// run-level error. When a shard appears more than once (a retried shard),
// the one that finished last wins; a tenant present in several shards keeps
// its ok result, else the latest. Tenants are sorted by id.
func Join(runID string, expected []string, shards ...*Manifest) (*Manifest, error) {
	out := &Manifest{Version: ManifestVersion, RunID: runID, Tenants: []TenantResult{}}
	latest, names, err := latestShards(runID, shards)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, e := range expected {
		if latest[e] == nil {
			missing = append(missing, e)
		}
	}

	tenants := map[string]joinPick{}
	var dsSeen []string
	var errs []string
	for _, n := range names {
		s := latest[n]
		out.Shards = append(out.Shards, n)
		if out.StartedAt.IsZero() || s.StartedAt.Before(out.StartedAt) {
			out.StartedAt = s.StartedAt
		}
		if s.FinishedAt.After(out.FinishedAt) {
			out.FinishedAt = s.FinishedAt
		}
		out.Date = cmp.Or(out.Date, s.Date)
		out.Sink = cmp.Or(out.Sink, s.Sink)
		for _, d := range s.Datasets {
			if !slices.Contains(dsSeen, d) {
				dsSeen = append(dsSeen, d)
			}
		}
		out.Totals.Exchanges += s.Totals.Exchanges
		out.Totals.TokenCacheHits += s.Totals.TokenCacheHits
		out.Totals.TokenCacheMisses += s.Totals.TokenCacheMisses
		if s.Error != nil {
			errs = append(errs, fmt.Sprintf("shard %s: %s", n, s.Error.Message))
		}
		pickTenants(tenants, s)
		out.MSP = pickMSP(out.MSP, s.MSP)
	}
	out.Datasets = orderDatasets(dsSeen)
	for _, p := range tenants {
		out.Tenants = append(out.Tenants, p.tr)
	}
	slices.SortFunc(out.Tenants, func(a, b TenantResult) int { return cmp.Compare(a.ID, b.ID) })
	if len(missing) > 0 {
		errs = append(errs, fmt.Sprintf("missing shard(s): %v", missing))
	}
	if len(errs) > 0 {
		msg := errs[0]
		for _, e := range errs[1:] {
			msg += "; " + e
		}
		out.Error = &ErrorInfo{Class: ClassIncomplete, Message: msg}
	}
	if !out.FinishedAt.IsZero() {
		out.Totals.DurationMS = out.FinishedAt.Sub(out.StartedAt).Milliseconds()
	}
	out.Summarize()
	return out, nil
}

// latestShards keeps, per shard name, the manifest that finished last, and
// returns the names sorted.
func latestShards(runID string, shards []*Manifest) (map[string]*Manifest, []string, error) {
	latest := map[string]*Manifest{}
	for _, s := range shards {
		if s == nil {
			continue
		}
		if s.RunID != runID {
			return nil, nil, fmt.Errorf("collector: joining run %q: shard %q belongs to run %q", runID, s.Shard, s.RunID)
		}
		if p := latest[s.Shard]; p == nil || s.FinishedAt.After(p.FinishedAt) {
			latest[s.Shard] = s
		}
	}
	names := make([]string, 0, len(latest))
	for n := range latest {
		names = append(names, n)
	}
	slices.Sort(names)
	return latest, names, nil
}

// joinPick is a tenant's result chosen so far by Join and when its shard
// finished.
type joinPick struct {
	tr       TenantResult
	finished time.Time
}

// pickTenants merges shard s's tenant results into tenants: an ok result
// is kept over a failed one, else the latest wins.
func pickTenants(tenants map[string]joinPick, s *Manifest) {
	for _, tr := range s.Tenants {
		p, ok := tenants[tr.ID]
		if ok && p.tr.Status == StatusOK && tr.Status != StatusOK {
			continue
		}
		if ok && tr.Status != StatusOK && p.finished.After(s.FinishedAt) {
			continue
		}
		tenants[tr.ID] = joinPick{tr: tr, finished: s.FinishedAt}
	}
}

// pickMSP merges a shard's MSP-level results into picked: per dataset an
// ok result is kept over another, else the later shard's (names are
// visited in order) wins.
func pickMSP(picked, shard []MSPDatasetResult) []MSPDatasetResult {
	for _, d := range shard {
		i := slices.IndexFunc(picked, func(p MSPDatasetResult) bool { return p.Dataset == d.Dataset })
		switch {
		case i < 0:
			picked = append(picked, d)
		case picked[i].Status != StatusOK || d.Status == StatusOK:
			picked[i] = d
		}
	}
	return picked
}

// orderDatasets sorts dataset names in collection order (unknown names last).
func orderDatasets(names []string) []string {
	idx := func(n string) int {
		for i, d := range datasets {
			if d.Name == n {
				return i
			}
		}
		return len(datasets)
	}
	out := slices.Clone(names)
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(idx(a), idx(b)) })
	return out
}
