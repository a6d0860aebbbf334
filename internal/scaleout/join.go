package scaleout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
)

// planVersion is the version of the plan and pointer formats.
const planVersion = 1

// LatestRunKey is the key of the pointer to the last finished scheduled run.
const LatestRunKey = "runs/latest.json"

// planKey returns the key of a run's plan.
func planKey(runID string) string { return "runs/" + runID + "/plan.json" }

// continuationKey returns the key where a shard records the continuation it
// enqueued.
func continuationKey(runID, shard string) string {
	return "runs/" + runID + "/continuations/" + shard + ".json"
}

// RunPlan is a sharded run's plan (planKey): which shards the joined manifest
// must hold.
type RunPlan struct {
	Version   int       `json:"version"`
	RunID     string    `json:"run_id"`
	CreatedAt time.Time `json:"created_at"`
	Datasets  []string  `json:"datasets"`
	// ShardConcurrency is the shard invocations expected at once; each
	// used 1/ShardConcurrency of the shared budgets.
	ShardConcurrency int      `json:"shard_concurrency"`
	DeadlineUnix     int64    `json:"deadline_unix,omitempty"`
	Reason           string   `json:"reason"`
	Estimate         Estimate `json:"estimate"`
	// RunEstimate is decision.Run: the sharded run's estimated wall time.
	RunEstimate time.Duration  `json:"run_estimate_ns"`
	Shards      []PlannedShard `json:"shards"`
	// TenantNames maps tenant ids to names, as the run listed them; the
	// shard messages carry them so shards need not list tenants again.
	TenantNames map[string]string `json:"tenant_names,omitempty"`
	// MSPPart says the scheduling invocation read the run's MSP-level
	// datasets (collector.MSPShard's manifest): the join expects it.
	MSPPart bool `json:"msp_part,omitempty"`
}

// Messages returns one message per planned shard.
func (p *RunPlan) Messages() []ShardMessage {
	out := make([]ShardMessage, len(p.Shards))
	for i, s := range p.Shards {
		n, _, _ := parseShardID(s.ID)
		out[i] = ShardMessage{RunID: p.RunID, Shard: n, Shards: len(p.Shards), Tenants: s.Tenants, Datasets: p.Datasets, DeadlineUnix: p.DeadlineUnix}
		out[i].Names = namesFor(s.Tenants, p.TenantNames)
	}
	return out
}

// LatestRun points at the last finished scheduled run (LatestRunKey), whose
// manifest the next scheduled run reads for its estimate and its deferred
// tenants.
type LatestRun struct {
	Version    int       `json:"version"`
	RunID      string    `json:"run_id"`
	Manifest   string    `json:"manifest"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Complete   bool      `json:"complete"`
	Tenants    int       `json:"tenants"`
	Deferred   int       `json:"deferred"`
	APICalls   int64     `json:"api_calls"`
	Shards     int       `json:"shards,omitempty"`
}

func putJSON(ctx context.Context, st sink.Sink, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("scaleout: encoding %s: %w", key, err)
	}
	return st.Put(ctx, key, append(b, '\n'), "application/json")
}

func getJSON(ctx context.Context, st sink.Sink, key string, v any) error {
	b, err := st.Get(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("scaleout: decoding %s: %w", key, err)
	}
	return nil
}

// getIfExists reads key into v and reports whether it exists, deciding
// existence by listing (see sink.Sink.List).
func getIfExists(ctx context.Context, st sink.Sink, key string, v any) (bool, error) {
	keys, err := st.List(ctx, key)
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if k == key {
			err := getJSON(ctx, st, key, v)
			if errors.Is(err, sink.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		}
	}
	return false, nil
}

// writePlan stores the plan.
func writePlan(ctx context.Context, st sink.Sink, p *RunPlan) error {
	return putJSON(ctx, st, planKey(p.RunID), p)
}

// readPlan reads a run's plan (an error matching ErrNotFound if none).
func readPlan(ctx context.Context, st sink.Sink, runID string) (*RunPlan, error) {
	var p RunPlan
	if err := getJSON(ctx, st, planKey(runID), &p); err != nil {
		return nil, err
	}
	if p.Version != planVersion || p.RunID != runID {
		return nil, fmt.Errorf("scaleout: %s: version %d run %q, want version %d run %q", planKey(runID), p.Version, p.RunID, planVersion, runID)
	}
	return &p, nil
}

// recordContinuation stores the continuation shard `from` enqueues, before
// it is sent, so the joiner waits for it. It is idempotent: a retried shard
// records the same id.
func recordContinuation(ctx context.Context, st sink.Sink, from string, next ShardMessage) error {
	return putJSON(ctx, st, continuationKey(next.RunID, from), next)
}

// readManifest reads the manifest at key.
func readManifest(ctx context.Context, st sink.Sink, key string) (*collector.Manifest, error) {
	b, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	m, err := collector.ReadManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("scaleout: %s: %w", key, err)
	}
	return m, nil
}

// joinResult is what tryJoin found.
type joinResult struct {
	// Joined is the run manifest, written to collector.ManifestKey; nil
	// while a shard is missing.
	Joined *collector.Manifest
	// Expected are the shard ids known so far (planned plus recorded
	// continuations); Missing the first one without a manifest.
	Expected []string
	Missing  string
}

// tryJoin joins a sharded run if every expected shard has its manifest:
// the planned shards and, transitively, the continuations they recorded.
// It stops at the first missing shard. When complete it writes the joined
// manifest and updates the LatestRun pointer. Joining is idempotent: shards
// racing to be last read the same manifests and write the same result.
func tryJoin(ctx context.Context, st sink.Sink, runID string) (*joinResult, error) {
	// One listing tells whether the plan, the shard manifests and the
	// continuation records exist (a GET of a missing key would need an
	// unconditional s3:ListBucket to be told apart from a denial).
	exists, err := listed(ctx, st, "runs/"+runID+"/")
	if err != nil {
		return nil, err
	}
	if !exists[planKey(runID)] {
		return nil, fmt.Errorf("scaleout: run %s has no plan: %w", runID, sink.ErrNotFound)
	}
	plan, err := readPlan(ctx, st, runID)
	if err != nil {
		return nil, err
	}
	res := &joinResult{}
	queue := make([]string, 0, len(plan.Shards))
	for _, s := range plan.Shards {
		queue = append(queue, s.ID)
	}
	if plan.MSPPart {
		queue = append(queue, collector.MSPShard)
	}
	seen := map[string]bool{}
	var shards []*collector.Manifest
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		res.Expected = append(res.Expected, id)
		if !exists[collector.ShardKey(runID, id)] {
			res.Missing = id
			return res, nil
		}
		m, err := readManifest(ctx, st, collector.ShardKey(runID, id))
		if err != nil {
			return res, err
		}
		shards = append(shards, m)
		if exists[continuationKey(runID, id)] {
			var next ShardMessage
			if err := getJSON(ctx, st, continuationKey(runID, id), &next); err != nil {
				return res, err
			}
			queue = append(queue, next.ID())
		}
	}
	joined, err := collector.Join(runID, res.Expected, shards...)
	if err != nil {
		return res, err
	}
	joined.Budgets = mergeBudgets(shards)
	b, err := joined.Marshal()
	if err != nil {
		return res, fmt.Errorf("scaleout: encoding the joined manifest: %w", err)
	}
	if err := st.Put(ctx, collector.ManifestKey(runID), b, "application/json"); err != nil {
		return res, err
	}
	res.Joined = joined
	if err := updateLatest(ctx, st, joined); err != nil {
		return res, err
	}
	return res, nil
}

// listed returns the set of keys under prefix.
func listed(ctx context.Context, st sink.Sink, prefix string) (map[string]bool, error) {
	keys, err := st.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set, nil
}

// updateLatest points LatestRunKey at m's run unless it already points at a
// run that started later.
func updateLatest(ctx context.Context, st sink.Sink, m *collector.Manifest) error {
	var cur LatestRun
	switch ok, err := getIfExists(ctx, st, LatestRunKey, &cur); {
	case ok && cur.RunID != m.RunID && cur.StartedAt.After(m.StartedAt):
		return nil
	case err != nil:
		// An unreadable pointer is replaced.
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			return err
		}
	}
	return putJSON(ctx, st, LatestRunKey, LatestRun{
		Version: planVersion, RunID: m.RunID, Manifest: collector.ManifestKey(m.RunID), StartedAt: m.StartedAt, FinishedAt: m.FinishedAt,
		Complete: m.Complete, Tenants: m.Totals.Tenants, Deferred: m.Totals.TenantsDeferred, APICalls: m.Totals.APICalls,
		Shards: len(m.Shards),
	})
}

// Previous returns the manifest LatestRun points at, or nil when there is no
// previous run.
func Previous(ctx context.Context, st sink.Sink) (*collector.Manifest, error) {
	var cur LatestRun
	ok, err := getIfExists(ctx, st, LatestRunKey, &cur)
	if !ok || err != nil {
		return nil, err
	}
	return readManifest(ctx, st, cur.Manifest)
}

// deferredManifest is the manifest of a shard that starts none of its
// tenants (received after its deadline): every tenant and dataset is
// deferred, so the joined manifest lists them for the next scheduled run.
func deferredManifest(msg *ShardMessage, datasets []string, tenantNames map[string]string, now time.Time) *collector.Manifest {
	m := &collector.Manifest{
		Version: collector.ManifestVersion, RunID: msg.RunID, Shard: msg.ID(), Date: runDate(msg.RunID, now),
		Datasets: datasets, StartedAt: now.UTC(), FinishedAt: now.UTC(), Tenants: []collector.TenantResult{},
	}
	for _, id := range msg.Tenants {
		tr := collector.TenantResult{ID: id, Name: tenantNames[id], Status: collector.StatusDeferred}
		for _, d := range datasets {
			tr.Datasets = append(tr.Datasets, collector.DatasetResult{Dataset: d, Status: collector.StatusDeferred})
		}
		m.Tenants = append(m.Tenants, tr)
	}
	m.Summarize()
	return m
}

// deferUnsent writes deferredManifest for every message that was never sent
// (SendError.Unsent) and has no shard manifest yet, so the run can still be
// joined: its tenants are listed as deferred and the next scheduled run
// collects them first. A message SQS accepted after all runs anyway and
// replaces the deferred manifest with its own, then joins again.
func deferUnsent(ctx context.Context, st sink.Sink, unsent []ShardMessage, datasets []string, now time.Time) error {
	if len(unsent) == 0 {
		return nil
	}
	// Existence by listing (see tryJoin).
	exists, err := listed(ctx, st, "runs/"+unsent[0].RunID+"/shards/")
	if err != nil {
		return err
	}
	for i := range unsent {
		msg := &unsent[i]
		key := collector.ShardKey(msg.RunID, msg.ID())
		if exists[key] {
			continue
		}
		b, err := deferredManifest(msg, datasets, msg.TenantNames(), now).Marshal()
		if err != nil {
			return fmt.Errorf("scaleout: encoding shard %s's deferred manifest: %w", msg.ID(), err)
		}
		if err := st.Put(ctx, key, b, "application/json"); err != nil {
			return err
		}
	}
	return nil
}

// runDate is the dt partition of a run id made by collector.NewRunID, or
// now's date for other ids.
func runDate(runID string, now time.Time) string {
	if len(runID) >= 16 {
		if t, err := time.Parse("20060102T150405Z", runID[:16]); err == nil {
			return t.Format("2006-01-02")
		}
	}
	return now.UTC().Format("2006-01-02")
}
