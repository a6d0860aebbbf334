// Package scaleout splits a scheduled collection run that cannot finish in
// one Lambda invocation into shards, hands them to SQS, and joins the
// shards' manifests into the run manifest (design: docs/scaleout.md).
//
// # Objects (keys relative to the output sink, next to the collector's)
//
//	runs/latest.json                        LatestRun: the last finished scheduled run
//	runs/<run-id>/plan.json                 RunPlan: shard ids and tenants
//	runs/<run-id>/shards/<id>.json          a shard's manifest (written by the engine)
//	runs/<run-id>/continuations/<id>.json   the continuation a shard enqueued
//	runs/<run-id>/manifest.json             the joined run manifest
//
// # Flow
//
// The scheduled invocation estimates the run (Estimate) from the previous
// run's manifest. If it fits the invocation's deadline it runs in-process.
// Otherwise split makes shards, the plan is written, and one message per
// shard goes to the queue (Sender). Each shard invocation runs the engine on
// its tenants; if it ran out of time it records and enqueues a continuation
// for its deferred tenants; then tryJoin joins the run once every expected
// shard manifest (planned shards plus recorded continuations) exists.
package scaleout

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// Defaults of the estimate.
const (
	// defaultRequestsPerDataset is the requests a tenant is assumed to need
	// per dataset when no previous run tells: two pages (most tenants fit
	// one page of 1000-2000 items; the second covers the larger ones).
	defaultRequestsPerDataset = 2
	// DefaultLatency is the assumed time of one API request.
	DefaultLatency = 250 * time.Millisecond
	// defaultSafety multiplies the lower bound before comparing it with
	// the time available (budget waits, retries, start-up).
	defaultSafety = 1.25
	// DefaultShardFraction is the fraction of the function timeout a shard
	// is sized to, leaving the rest for estimate errors and 429 backoffs.
	DefaultShardFraction = 0.5
)

// Budget is one API budget as the planner sees it.
type Budget struct {
	Name string
	// Rate in requests per second; 0 or +Inf means unlimited.
	Rate float64
	// Shared budgets (central.ScopeAccount) are shared by every tenant and
	// every concurrent invocation of the MSP account; the others are per
	// tenant workspace.
	Shared bool
}

func (b Budget) limited() bool { return b.Rate > 0 && !math.IsInf(b.Rate, 1) }

// BudgetsFrom reads the budgets the datasets use from a registry.
func BudgetsFrom(b *central.Budgets) []Budget {
	var out []Budget
	for _, name := range []string{central.BudgetCentral, central.BudgetGLPDevices, central.BudgetGLPSubscriptions, central.BudgetGLP} {
		s, ok := b.Spec(name)
		if !ok {
			continue
		}
		r := float64(s.Rate)
		if s.Rate == rate.Inf {
			r = math.Inf(1)
		}
		out = append(out, Budget{Name: name, Rate: r, Shared: s.Scope == central.ScopeAccount})
	}
	return out
}

// datasetBudget returns the name of the default budget a dataset's requests
// count against (pkg/central's default path mapping).
func datasetBudget(d collector.Dataset) string {
	switch {
	case d.App == central.AppCentral || d.App == "":
		return central.BudgetCentral
	case d.Path == "/devices/v1/devices":
		return central.BudgetGLPDevices
	case d.Path == "/subscriptions/v1/subscriptions":
		return central.BudgetGLPSubscriptions
	}
	return central.BudgetGLP
}

// tenantCost is a tenant's estimated work.
type tenantCost struct {
	ID string `json:"id"`
	// Requests per budget name.
	Requests map[string]float64 `json:"requests"`
	// Deferred: the previous run did not get to it, so it goes first.
	Deferred bool `json:"deferred,omitempty"`
	// Measured: the figures come from the previous run's manifest.
	Measured bool `json:"measured,omitempty"`
}

// estimateCosts estimates every tenant's requests for the datasets. A tenant found
// in prev (the previous run's manifest, may be nil) uses its API calls per
// dataset (a dataset that did not finish there counts at least the
// default); others use the mean of the measured tenants, or
// defaultRequestsPerDataset per dataset when none was measured. Tenants that
// prev recorded as deferred are marked. The result is in tenantIDs' order.
func estimateCosts(tenantIDs []string, datasets []collector.Dataset, prev *collector.Manifest) []tenantCost {
	tenantIDs, _ = msp.Unique(tenantIDs, nil)
	def := map[string]float64{}
	for _, d := range datasets {
		def[datasetBudget(d)] += defaultRequestsPerDataset
	}
	measured := map[string]tenantCost{}
	if prev != nil {
		sum := map[string]float64{}
		n := 0
		for _, tr := range prev.Tenants {
			tc := tenantCost{ID: tr.ID, Requests: map[string]float64{}, Deferred: tr.Status == collector.StatusDeferred}
			complete := true
			for _, d := range datasets {
				dr := tr.Dataset(d.Name)
				req := float64(defaultRequestsPerDataset)
				switch {
				case dr == nil:
					complete = false
				case dr.Status == collector.StatusSkipped:
					req = 0
				case dr.Status == collector.StatusOK:
					req = float64(dr.APICalls)
				default:
					complete = false
					req = max(req, float64(dr.APICalls))
				}
				tc.Requests[datasetBudget(d)] += req
			}
			tc.Measured = complete
			if complete {
				n++
				for b, r := range tc.Requests {
					sum[b] += r
				}
			}
			measured[tr.ID] = tc
		}
		if n > 0 {
			def = map[string]float64{}
			for b, r := range sum {
				def[b] = r / float64(n)
			}
		}
	}
	out := make([]tenantCost, len(tenantIDs))
	for i, id := range tenantIDs {
		if tc, ok := measured[id]; ok {
			out[i] = tc
			continue
		}
		req := make(map[string]float64, len(def))
		for b, r := range def {
			req[b] = r
		}
		out[i] = tenantCost{ID: id, Requests: req}
	}
	return out
}

// planParams are the planner's inputs besides the tenants.
type planParams struct {
	Budgets []Budget
	// Latency of one request (default DefaultLatency).
	Latency time.Duration
	// Concurrency is the tenants one invocation collects in parallel.
	Concurrency int
	// Available is the time this invocation can spend collecting (its
	// deadline minus the engine's reserve and finish time).
	Available time.Duration
	// ShardConcurrency is the number of shard invocations running at once
	// (the event source mapping's MaximumConcurrency); shared budgets are
	// divided among them.
	ShardConcurrency int
	// ShardTime is the time a shard is sized to: DefaultShardFraction of
	// the function timeout.
	ShardTime time.Duration
	// MaxTenants, when > 0, is the most tenants one invocation collects:
	// more always shard, and no shard gets more.
	MaxTenants int
	// Safety multiplies estimates (default defaultSafety).
	Safety float64
}

func (p planParams) withDefaults() planParams {
	if p.Latency <= 0 {
		p.Latency = DefaultLatency
	}
	p.Concurrency = max(p.Concurrency, 1)
	p.ShardConcurrency = max(p.ShardConcurrency, 1)
	if p.Safety < 1 {
		p.Safety = defaultSafety
	}
	if p.ShardTime <= 0 {
		p.ShardTime = time.Duration(float64(p.Available) * DefaultShardFraction)
	}
	return p
}

// Estimate is a lower bound on a set of tenants' collection time in one
// invocation: the largest of the critical path (the longest tenant, its
// datasets' times added up: the collector runs each API's datasets one after
// another and the APIs side by side, so this overstates a tenant, on the
// safe side for deciding to scale out), the tenants' total time spread over the
// concurrency, and for each shared budget its requests divided by its rate
// (the invocation's share of it).
type Estimate struct {
	Tenants      int                      `json:"tenants"`
	Requests     map[string]float64       `json:"requests"`
	CriticalPath time.Duration            `json:"critical_path_ns"`
	Parallel     time.Duration            `json:"parallel_ns"`
	Budgets      map[string]time.Duration `json:"budgets_ns,omitempty"`
	LowerBound   time.Duration            `json:"lower_bound_ns"`
	// Bound names the term that gives LowerBound ("critical_path",
	// "concurrency" or "budget:<name>").
	Bound string `json:"bound"`
}

// String formats the estimate for logs.
func (e Estimate) String() string {
	return fmt.Sprintf("%d tenants, lower bound %s (%s)", e.Tenants, e.LowerBound.Round(time.Millisecond), e.Bound)
}

// tenantTime is a tenant's own time: every request's latency, or for a
// per-workspace budget its requests at its rate if slower.
func tenantTime(t tenantCost, p planParams) time.Duration {
	var s float64
	for _, b := range p.Budgets {
		r := t.Requests[b.Name]
		d := r * p.Latency.Seconds()
		if !b.Shared && b.limited() {
			d = max(d, r/b.Rate)
		}
		s += d
	}
	for name, r := range t.Requests {
		if !slices.ContainsFunc(p.Budgets, func(b Budget) bool { return b.Name == name }) {
			s += r * p.Latency.Seconds()
		}
	}
	return seconds(s)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// estimateRun estimates tenants collected by one invocation that gets
// 1/share of every shared budget.
func estimateRun(tenants []tenantCost, p planParams, share int) Estimate {
	p = p.withDefaults()
	share = max(share, 1)
	e := Estimate{Tenants: len(tenants), Requests: map[string]float64{}, Budgets: map[string]time.Duration{}, Bound: "critical_path"}
	var total time.Duration
	for _, t := range tenants {
		tt := tenantTime(t, p)
		total += tt
		e.CriticalPath = max(e.CriticalPath, tt)
		for b, r := range t.Requests {
			e.Requests[b] += r
		}
	}
	e.Parallel = total / time.Duration(p.Concurrency)
	e.LowerBound = e.CriticalPath
	if e.Parallel > e.LowerBound {
		e.LowerBound, e.Bound = e.Parallel, "concurrency"
	}
	for _, b := range p.Budgets {
		if !b.Shared || !b.limited() {
			continue
		}
		d := seconds(e.Requests[b.Name] * float64(share) / b.Rate)
		e.Budgets[b.Name] = d
		if d > e.LowerBound {
			e.LowerBound, e.Bound = d, "budget:"+b.Name
		}
	}
	return e
}

// decision is the planner's answer for a scheduled run.
type decision struct {
	// InProcess: collect every tenant in this invocation.
	InProcess bool `json:"in_process"`
	// Reason explains the decision.
	Reason string `json:"reason"`
	// Whole estimates all tenants in this invocation.
	Whole Estimate `json:"estimate"`
	// Shards, when not InProcess, lists the shards (1-based numbers in
	// order) with their tenants and estimates.
	Shards []PlannedShard `json:"shards,omitempty"`
	// Run estimates the whole sharded run's wall time: the shards'
	// estimates run ShardConcurrency at a time (their sum divided by
	// ShardConcurrency, at least the longest shard).
	Run time.Duration `json:"run_ns,omitempty"`
}

// runTime is the wall time of shards run k at a time.
func runTime(shards []PlannedShard, k int) time.Duration {
	var sum, longest time.Duration
	for _, s := range shards {
		sum += s.Estimate
		longest = max(longest, s.Estimate)
	}
	return max(longest, sum/time.Duration(max(k, 1)))
}

// PlannedShard is one shard of a plan.
type PlannedShard struct {
	ID      string   `json:"id"`
	Tenants []string `json:"tenants"`
	// Estimate is the shard's lower bound with 1/ShardConcurrency of the
	// shared budgets.
	Estimate time.Duration `json:"estimate_ns"`
}

// decide estimates the tenants in this invocation and, if they do not fit
// (LowerBound x Safety > Available) or exceed MaxTenants, splits them.
func decide(tenants []tenantCost, p planParams) decision {
	p = p.withDefaults()
	whole := estimateRun(tenants, p, 1)
	need := time.Duration(float64(whole.LowerBound) * p.Safety)
	var reason string
	switch {
	case p.MaxTenants > 0 && len(tenants) > p.MaxTenants:
		reason = fmt.Sprintf("%d tenants exceed the %d per invocation", len(tenants), p.MaxTenants)
	case need > p.Available:
		reason = fmt.Sprintf("estimated %s (x%.2f) exceeds the %s available", whole.LowerBound.Round(time.Second), p.Safety, p.Available.Round(time.Second))
	default:
		return decision{InProcess: true, Whole: whole, Run: whole.LowerBound,
			Reason: fmt.Sprintf("estimated %s (x%.2f) fits the %s available", whole.LowerBound.Round(time.Second), p.Safety, p.Available.Round(time.Second))}
	}
	shards := split(tenants, p)
	return decision{Whole: whole, Reason: reason, Shards: shards, Run: runTime(shards, p.ShardConcurrency)}
}

// shardCount is the number of shards that makes each fit ShardTime when
// ShardConcurrency of them run at once, each with its share of the shared
// budgets: the largest of the tenants' total time over the concurrency and,
// per shared budget, its requests at rate/ShardConcurrency, divided by
// ShardTime; at least enough for MaxTenants (or maxShardTenants), at most
// one per tenant.
func shardCount(tenants []tenantCost, p planParams) int {
	p = p.withDefaults()
	if len(tenants) == 0 {
		return 0
	}
	e := estimateRun(tenants, p, p.ShardConcurrency)
	work := max(e.Parallel, e.CriticalPath)
	for _, d := range e.Budgets {
		work = max(work, d)
	}
	n := int(math.Ceil(float64(work) * p.Safety / float64(p.ShardTime)))
	maxT := maxShardTenants
	if p.MaxTenants > 0 {
		maxT = min(maxT, p.MaxTenants)
	}
	n = max(n, (len(tenants)+maxT-1)/maxT, 1)
	return min(n, len(tenants))
}

// split assigns tenants to shardCount shards, balanced by estimated cost:
// tenants sorted by cost (largest first, then id) go one by one to the
// shard with the least cost so far that has room (longest-processing-time
// first). The result depends only on the tenants' ids and costs, not on
// their order. Within a shard, tenants the previous run deferred come
// first, then by cost.
func split(tenants []tenantCost, p planParams) []PlannedShard {
	p = p.withDefaults()
	n := shardCount(tenants, p)
	if n == 0 {
		return nil
	}
	type item struct {
		t    tenantCost
		cost float64
	}
	items := make([]item, len(tenants))
	for i, t := range tenants {
		items[i] = item{t: t, cost: costOf(t, p)}
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := cmp.Compare(b.cost, a.cost); c != 0 {
			return c
		}
		return cmp.Compare(a.t.ID, b.t.ID)
	})
	maxT := maxShardTenants
	if p.MaxTenants > 0 {
		maxT = min(maxT, p.MaxTenants)
	}
	load := make([]float64, n)
	members := make([][]item, n)
	for _, it := range items {
		best := -1
		for s := range n {
			if len(members[s]) >= maxT {
				continue
			}
			if best < 0 || load[s] < load[best] {
				best = s
			}
		}
		load[best] += it.cost
		members[best] = append(members[best], it)
	}
	out := make([]PlannedShard, 0, n)
	for s := range n {
		ms := members[s]
		slices.SortStableFunc(ms, func(a, b item) int {
			switch {
			case a.t.Deferred && !b.t.Deferred:
				return -1
			case b.t.Deferred && !a.t.Deferred:
				return 1
			}
			return 0 // keep cost order
		})
		ps := PlannedShard{ID: shardID(s+1, 0)}
		costs := make([]tenantCost, len(ms))
		for i, it := range ms {
			ps.Tenants = append(ps.Tenants, it.t.ID)
			costs[i] = it.t
		}
		ps.Estimate = estimateRun(costs, p, p.ShardConcurrency).LowerBound
		out = append(out, ps)
	}
	return out
}

// costOf is a tenant's share of a shard's time: its own time over the
// concurrency plus, per shared budget, its requests at the shard's share
// of the rate.
func costOf(t tenantCost, p planParams) float64 {
	c := tenantTime(t, p).Seconds() / float64(p.Concurrency)
	for _, b := range p.Budgets {
		if b.Shared && b.limited() {
			c += t.Requests[b.Name] * float64(p.ShardConcurrency) / b.Rate
		}
	}
	return c
}

// deferredFirst returns ids with the deferred ones (per costs) first, otherwise in
// the given order.
func deferredFirst(costs []tenantCost) []string {
	out := make([]string, 0, len(costs))
	for _, t := range costs {
		if t.Deferred {
			out = append(out, t.ID)
		}
	}
	for _, t := range costs {
		if !t.Deferred {
			out = append(out, t.ID)
		}
	}
	return out
}
