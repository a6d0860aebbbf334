package audit

import (
	"cmp"
	"slices"
	"time"
)

// ChangeType is the kind of a change, as in AWS Config's configurationItemDiff.
type ChangeType string

const (
	Create ChangeType = "CREATE" // the key appeared
	Update ChangeType = "UPDATE" // a compared field changed
	Delete ChangeType = "DELETE" // the key disappeared
)

// Change is one drift record: a key that appeared or disappeared (Field
// empty, Values its compared fields), or one field of a key that changed.
type Change struct {
	TenantID      string            `json:"tenant_id"`
	TenantName    string            `json:"tenant_name"`
	Dataset       string            `json:"dataset"`
	Key           string            `json:"key"`
	ChangeType    ChangeType        `json:"change_type"`
	Field         string            `json:"field,omitempty"`
	PreviousValue *string           `json:"previous_value"`
	NewValue      *string           `json:"new_value"`
	Values        map[string]string `json:"values,omitempty"`
	PreviousRunID string            `json:"previous_run_id"`
	RunID         string            `json:"run_id"`
	PreviousTime  time.Time         `json:"previous_time"`
	Time          time.Time         `json:"time"`
}

// Diff compares a dataset's previous baseline with its current one (same
// tenant and dataset) and returns the changes, sorted by key, change type
// and field. Only fields named in both are compared, so adding a field to
// a Spec reports no change for it on the next run.
func Diff(prev, cur *Baseline) []Change {
	base := Change{TenantID: cur.TenantID, TenantName: cur.TenantName, Dataset: cur.Dataset,
		PreviousRunID: prev.RunID, RunID: cur.RunID, PreviousTime: prev.Time.UTC(), Time: cur.Time.UTC()}
	type pair struct {
		name     string
		prev, nw int
	}
	var common []pair
	for i, n := range cur.Fields {
		if j := slices.Index(prev.Fields, n); j >= 0 {
			common = append(common, pair{n, j, i})
		}
	}
	var out []Change
	for k, cv := range cur.Items {
		pv, ok := prev.Items[k]
		if !ok {
			c := base
			c.Key, c.ChangeType, c.Values = k, Create, valuesMap(cur.Fields, cv)
			out = append(out, c)
			continue
		}
		for _, p := range common {
			if pv[p.prev] != cv[p.nw] {
				c := base
				c.Key, c.ChangeType, c.Field = k, Update, p.name
				c.PreviousValue, c.NewValue = ptr(pv[p.prev]), ptr(cv[p.nw])
				out = append(out, c)
			}
		}
	}
	for k, pv := range prev.Items {
		if _, ok := cur.Items[k]; !ok {
			c := base
			c.Key, c.ChangeType, c.Values = k, Delete, valuesMap(prev.Fields, pv)
			out = append(out, c)
		}
	}
	SortChanges(out)
	return out
}

// SortChanges orders changes by tenant, dataset, key, change type, field.
func SortChanges(cs []Change) {
	slices.SortFunc(cs, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Key, b.Key),
			cmp.Compare(a.ChangeType, b.ChangeType), cmp.Compare(a.Field, b.Field))
	})
}

func ptr(s string) *string { return &s }

func valuesMap(fields, vals []string) map[string]string {
	m := make(map[string]string, len(fields))
	for i, f := range fields {
		if i < len(vals) && vals[i] != "" {
			m[f] = vals[i]
		}
	}
	return m
}
