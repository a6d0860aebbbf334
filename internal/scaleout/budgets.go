package scaleout

import (
	"cmp"
	"slices"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/pkg/central"
)

// maxFirstAnswers bounds the first answers a joined budget entry keeps, as
// pkg/central bounds one client's: a run of many shards must not grow the
// manifest without limit.
const maxFirstAnswers = 1000

// scopeSourceRank orders the sources of a budget's scope: a configured
// scope overrides a detected one, which overrides the default.
var scopeSourceRank = map[string]int{"configured": 2, "detected": 1}

// mergeBudgets merges the shards' budget entries for the joined manifest,
// one entry per budget name and scope in effect:
//   - first answers: the union by workspace, each workspace's answer from
//     the shard that started first (its first answer in the run), at most
//     maxFirstAnswers;
//   - learned limits conservatively: the lowest rate in effect (0, no
//     limit, only when no shard had one) and the lowest stated limit with
//     its window (on a tie the longer window);
//   - the windows counted are added up; the detected scope is kept when the
//     shards that decided agree, else undecided; the scope source is the
//     strongest (configured, detected, default).
func mergeBudgets(shards []*collector.Manifest) []central.BudgetReport {
	ordered := slices.Clone(shards)
	slices.SortStableFunc(ordered, func(a, b *collector.Manifest) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.Shard, b.Shard))
	})
	type key struct{ name, scope string }
	merged := map[key]*central.BudgetReport{}
	conflict := map[key]bool{}
	var keys []key
	for _, m := range ordered {
		for _, r := range m.Budgets {
			k := key{r.Name, r.Scope}
			cur := merged[k]
			if cur == nil {
				c := r
				c.FirstAnswers = nil
				cur = &c
				merged[k] = cur
				keys = append(keys, k)
			} else {
				conflict[k] = conflict[k] || mergeBudget(cur, r)
			}
			addFirstAnswers(cur, r.FirstAnswers)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.scope, b.scope)) })
	out := make([]central.BudgetReport, len(keys))
	for i, k := range keys {
		out[i] = *merged[k]
		if conflict[k] {
			out[i].DetectedScope = ""
		}
	}
	return out
}

// mergeBudget folds a later shard's entry r into cur (first answers
// aside) and reports whether their detected scopes disagree.
func mergeBudget(cur *central.BudgetReport, r central.BudgetReport) (conflict bool) {
	if r.Rate > 0 && (cur.Rate == 0 || r.Rate < cur.Rate) {
		cur.Rate = r.Rate
	}
	if r.Limit > 0 && (cur.Limit == 0 || r.Limit < cur.Limit || r.Limit == cur.Limit && r.WindowSeconds > cur.WindowSeconds) {
		cur.Limit, cur.WindowSeconds = r.Limit, r.WindowSeconds
	}
	cur.IndependentWindows += r.IndependentWindows
	cur.SharedWindows += r.SharedWindows
	if scopeSourceRank[r.ScopeSource] > scopeSourceRank[cur.ScopeSource] {
		cur.ScopeSource = r.ScopeSource
	}
	switch {
	case r.DetectedScope == "" || r.DetectedScope == cur.DetectedScope:
	case cur.DetectedScope == "":
		cur.DetectedScope = r.DetectedScope
	default:
		return true
	}
	return false
}

// addFirstAnswers adds the answers of workspaces cur has none for yet.
func addFirstAnswers(cur *central.BudgetReport, answers map[string]central.WindowSample) {
	ws := make([]string, 0, len(answers))
	for w := range answers {
		ws = append(ws, w)
	}
	slices.Sort(ws) // which ones fit under the bound must not depend on map order
	for _, w := range ws {
		if _, ok := cur.FirstAnswers[w]; ok || len(cur.FirstAnswers) >= maxFirstAnswers {
			continue
		}
		if cur.FirstAnswers == nil {
			cur.FirstAnswers = map[string]central.WindowSample{}
		}
		cur.FirstAnswers[w] = answers[w]
	}
}
