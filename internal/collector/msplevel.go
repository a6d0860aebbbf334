package collector

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/termsafe"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// Bounds on an MSP-level read, whatever the server sends: HPE documents at
// most 10,000 tenants per MSP, so twice that in 100-item pages is ample.
const (
	maxMSPPages   = 200
	maxMSPItems   = 20000
	maxCandidates = 8
)

// MSPObjectKey returns the key of an MSP-level dataset's object: one per
// run, under the same Hive-style prefix as the tenant-level datasets.
//
//	inventory/dataset=<dataset>/dt=<YYYY-MM-DD>/run=<run-id>/msp.ndjson.gz
func MSPObjectKey(dataset, date, runID string) string {
	return "inventory/dataset=" + dataset + "/dt=" + date + "/run=" + runID + "/msp.ndjson.gz"
}

// TenantHealth is what the collector and the audit read of a tenant-health
// item (a network-msp/v1/list-tenants entry).
type TenantHealth struct {
	TenantID      string `json:"tenantId"`
	TenantName    string `json:"tenantName"`
	TotalSites    int    `json:"totalSites"`
	DegradedSites int    `json:"degradedSites"`
	Alerts        struct {
		Total int `json:"total"`
	} `json:"alerts"`
}

// ParseTenantHealth reads a tenant-health item's figures; ok is false when
// the item is not an object of that shape (e.g. a figure that is not an
// integer), in which case nothing of it should be trusted.
func ParseTenantHealth(item json.RawMessage) (TenantHealth, bool) {
	var h TenantHealth
	if err := json.Unmarshal(item, &h); err != nil {
		return TenantHealth{}, false
	}
	return h, true
}

// itemIdentity returns an item's tenantName and tenantId when they are
// strings ("" otherwise), so an item with odd figures is still labelled.
func itemIdentity(item json.RawMessage) (name, id string) {
	var v struct {
		TenantID   json.RawMessage `json:"tenantId"`
		TenantName json.RawMessage `json:"tenantName"`
	}
	if json.Unmarshal(item, &v) != nil {
		return "", ""
	}
	_ = json.Unmarshal(v.TenantName, &name)
	_ = json.Unmarshal(v.TenantID, &id)
	return name, id
}

// nameIndex matches MSP-level records to listed tenants by name: New
// Central's tenantId is not the GLP workspace id, and the name is all the
// two lists share.
type nameIndex struct {
	ids map[string][]string // name -> tenant ids ("" for an unusable id)
	// uncertain names may have been cut (termsafe.MaxName) or had invalid
	// bytes replaced when listed, so an equal name may be another tenant's.
	uncertain map[string]bool
}

func newNameIndex(listed []msp.Tenant) nameIndex {
	ix := nameIndex{ids: map[string][]string{}, uncertain: map[string]bool{}}
	for _, t := range listed {
		ix.ids[t.Name] = append(ix.ids[t.Name], t.ID)
		if len(t.Name) > termsafe.MaxName-utf8.UTFMax || strings.ContainsRune(t.Name, utf8.RuneError) {
			ix.uncertain[t.Name] = true
		}
	}
	return ix
}

// label returns the tenant a record's name maps to. A record is attributed
// to a tenant only when the name names exactly that one, with certainty.
func (ix nameIndex) label(name string) TenantLabel {
	if name == "" || len(name) > termsafe.MaxName || strings.ContainsRune(name, utf8.RuneError) {
		return TenantLabel{Mapping: Unmatched}
	}
	ids := ix.ids[name]
	switch {
	case len(ids) == 0:
		return TenantLabel{Mapping: Unmatched}
	case len(ids) == 1 && ids[0] != "" && !ix.uncertain[name]:
		return TenantLabel{TenantID: ids[0], TenantName: name, Mapping: Mapped}
	}
	l := TenantLabel{Mapping: Ambiguous}
	for _, id := range ids {
		if id != "" && len(l.Candidates) < maxCandidates {
			l.Candidates = append(l.Candidates, id)
		}
	}
	return l
}

// MSPShard is the shard name of a sharded run's MSP-level part: the
// scheduling invocation reads the MSP-level datasets once for the whole run
// with the whole tenant list, under this name, and the join expects it.
const MSPShard = "msp"

// collectMSP reads the selected MSP-level datasets, each once, before any
// tenant. A tenant shard reads none (its tenant list is partial and the run
// has several shards); the run's MSP part (MSPShard) does. listErr is the tenant list's error: without the whole
// list no record can be labelled safely, so the datasets fail with it.
func (r *run) collectMSP(ctx context.Context, listErr error) []MSPDatasetResult {
	if !r.readsMSP() {
		return nil
	}
	var out []MSPDatasetResult
	for _, d := range r.mspDatasets {
		res := r.mspDataset(ctx, d, listErr)
		if res.Error != nil {
			r.log.Warn("MSP dataset failed", slog.String("dataset", d.Name), slog.String("status", string(res.Status)),
				slog.String("class", string(res.Error.Class)), slog.String("error", res.Error.Message))
		}
		r.observeMSP(ctx, &res)
		out = append(out, res)
	}
	return out
}

// readsMSP says whether this run reads MSP-level datasets: some are
// selected, and it is not a tenant shard.
func (r *run) readsMSP() bool {
	return len(r.mspDatasets) > 0 && (r.cfg.Shard == "" || r.cfg.Shard == MSPShard)
}

// mspDataset reads one MSP-level dataset into one object with the MSP's
// client; it never fails the run's tenants.
func (r *run) mspDataset(ctx context.Context, d Dataset, listErr error) (res MSPDatasetResult) {
	start := r.now()
	res.Dataset = d.Name
	var stats central.CallStats
	defer func() {
		res.DurationMS = r.now().Sub(start).Milliseconds()
		res.APICalls, res.Retries = stats.Requests.Load(), stats.Retries.Load()
		res.RateLimited, res.Unauthorized = stats.RateLimited.Load(), stats.Unauthorized.Load()
	}()
	var client *central.Client
	if mc, ok := r.cfg.MSP.(MSPClienter); ok {
		client = mc.MSPClient()
	}
	switch {
	case client == nil || !client.HasApp(d.App):
		res.Status = StatusSkipped
		res.Error = &ErrorInfo{Class: ClassNotConfigured, Message: fmt.Sprintf("the MSP credentials do not configure %s", d.App)}
		return res
	case listErr != nil:
		res.DatasetResult = r.failDataset(res.DatasetResult, fmt.Errorf("collector: %s needs the whole tenant list: %w", d.Name, listErr))
		return res
	case ctx.Err() != nil || r.tooLate():
		res.Status = StatusDeferred
		return res
	}
	key := MSPObjectKey(d.Name, r.date, r.cfg.RunID)
	obj, err := r.cfg.Sink.Create(ctx, key, ContentType)
	if err != nil {
		res.DatasetResult = r.failDataset(res.DatasetResult, &SinkError{Key: key, Err: err})
		return res
	}
	defer func() { _ = obj.Abort(context.WithoutCancel(ctx)) }()
	cw := &countingWriter{w: obj, key: key}
	zw, _ := gzip.NewWriterLevel(cw, GzipLevel) // a valid level: no error
	err = r.writeMSPPages(central.WithCallStats(ctx, &stats), client, d, zw, &res)
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = cw.err
	}
	if err != nil {
		res.DatasetResult = r.failDataset(res.DatasetResult, err)
		return res
	}
	info, err := obj.Commit(ctx)
	if err != nil {
		res.DatasetResult = r.failDataset(res.DatasetResult, &SinkError{Key: key, Err: err})
		return res
	}
	res.Status = StatusOK
	res.Key, res.Bytes, res.SHA256 = info.Key, info.Bytes, info.SHA256
	return res
}

// writeMSPPages writes each item of d's pages as a record labelled with its
// tenant. The list is hostile: a page that repeats an earlier page is
// refused (a cursor that cycles under new names), an item repeating an
// earlier tenantId is skipped and counted, and pages and items are capped.
func (r *run) writeMSPPages(ctx context.Context, client *central.Client, d Dataset, w io.Writer, res *MSPDatasetResult) error {
	obs, _ := r.cfg.Observer.(MSPObserver)
	if obs != nil {
		obs.OnMSPDatasetStart(d.Name)
	}
	ix := newNameIndex(r.listed)
	seenIDs := map[[sha256.Size]byte]bool{}
	seenPages := map[[sha256.Size]byte]int{}
	var line bytes.Buffer
	items := 0
	spec := central.PageSpec{App: d.App, Path: d.Path, Style: d.Style, Limit: d.Limit, MaxPages: maxMSPPages,
		Params: mergeParams(d.Params, r.cfg.Params[d.Name])}
	for page, err := range central.Pages[json.RawMessage](ctx, client, spec) {
		if err != nil {
			return err
		}
		if len(page.Items) > 0 {
			h := hashItems(page.Items)
			if first, ok := seenPages[h]; ok {
				return &central.PaginationError{Path: d.Path, Page: page.Number, Reason: fmt.Sprintf("page %d repeats page %d", page.Number, first)}
			}
			seenPages[h] = page.Number
		}
		if items += len(page.Items); items > maxMSPItems {
			return &central.PaginationError{Path: d.Path, Page: page.Number, Reason: fmt.Sprintf("more than %d items", maxMSPItems)}
		}
		at := r.now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
		for _, item := range page.Items {
			name, id := itemIdentity(item)
			if id != "" {
				k := sha256.Sum256([]byte(id))
				if seenIDs[k] {
					res.Duplicates++
					continue
				}
				seenIDs[k] = true
			}
			l := ix.label(name)
			line.Reset()
			if err := appendMSPRecord(&line, l, r.cfg.RunID, at, item); err != nil {
				return fmt.Errorf("collector: %s item %d of page %d: %w", d.Name, res.Records, page.Number, err)
			}
			if _, err := w.Write(line.Bytes()); err != nil {
				return err
			}
			res.Records++
			res.count(l.Mapping)
			if obs != nil {
				obs.OnMSPItem(d.Name, l, item)
			}
		}
		res.Pages++
	}
	return nil
}

// count adds a record's mapping to the result's counts.
func (res *MSPDatasetResult) count(m Mapping) {
	switch m {
	case Mapped:
		res.Mapped++
	case Unmatched:
		res.Unmatched++
	default:
		res.Ambiguous++
	}
}

// hashItems is the sha256 of a page's items, each length-prefixed.
func hashItems(items []json.RawMessage) [sha256.Size]byte {
	h := sha256.New()
	for _, it := range items {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(it)))
		h.Write(n[:])
		h.Write(it)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// mspMetaKeys are the fields the collector puts in front of an MSP-level
// record; an item's own member of that name is renamed with ItemKeyPrefix.
var mspMetaKeys = [...]string{"_tenant_id", "_tenant_name", "_mapping", "_run_id", "_collected_at"}

// appendMSPRecord writes one NDJSON line: the label, run and time, then the
// item's members (compacted, invalid UTF-8 replaced, clashing names
// renamed); an item that is not an object is kept under "_value".
func appendMSPRecord(dst *bytes.Buffer, l TenantLabel, runID, at string, item json.RawMessage) error {
	var c bytes.Buffer
	if err := json.Compact(&c, item); err != nil {
		return err
	}
	b := bytes.ToValidUTF8(c.Bytes(), []byte("\uFFFD"))
	dst.WriteString(`{"_tenant_id":`)
	appendString(dst, l.TenantID)
	dst.WriteString(`,"_tenant_name":`)
	appendString(dst, l.TenantName)
	dst.WriteString(`,"_mapping":`)
	appendString(dst, string(l.Mapping))
	dst.WriteString(`,"_run_id":`)
	appendString(dst, runID)
	dst.WriteString(`,"_collected_at":`)
	appendString(dst, at)
	if len(b) == 0 || b[0] != '{' {
		dst.WriteString(`,"_value":`)
		dst.Write(b)
		dst.WriteString("}\n")
		return nil
	}
	if err := appendMembers(dst, b); err != nil {
		return err
	}
	dst.WriteString("}\n")
	return nil
}

// appendMembers writes ,"key":value for each member of the compact object
// obj, renaming a member named like one of mspMetaKeys (or like a name
// already taken by such a renaming).
func appendMembers(dst *bytes.Buffer, obj []byte) error {
	ms, err := members(obj)
	if err != nil {
		return err
	}
	writeMembers(dst, ms, func(k string) bool { return slices.Contains(mspMetaKeys[:], k) })
	return nil
}

// observeMSP hands an MSP-level result to the observer, recovering a panic.
func (r *run) observeMSP(ctx context.Context, res *MSPDatasetResult) {
	obs, ok := r.cfg.Observer.(MSPObserver)
	if !ok {
		return
	}
	err := callObserver(func() error { return obs.OnMSPDatasetDone(ctx, res) })
	if err != nil {
		r.log.Warn("observer failed", slog.String("dataset", res.Dataset), slog.Any("error", fmt.Errorf("collector: observer: %w", err)))
	}
}
