package audit

import (
	"bytes"
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
// a Spec reports no change for it on the next run. It fails (with a
// *BaselineError) when prev is not valid: an empty or long key, or an item
// without one value per field.
func Diff(prev, cur *Baseline) ([]Change, error) {
	sb := &storedBaseline{hdr: headerV2{TenantID: prev.TenantID, Dataset: prev.Dataset, RunID: prev.RunID, Time: prev.Time,
		Fields: prev.Fields, Items: len(prev.Items)}, body: encodeLines(prev.Items).body}
	cs, _, err := diffLines(sb, cur, encodeLines(cur.Items))
	return cs, err
}

// diffLines compares a stored baseline with the current snapshot cur,
// whose lines are e, walking both in key order (a merge, no map of the
// stored items). An item whose line is byte for byte its stored line
// (same fields) is unchanged; only the others are decoded. same reports
// that every line was unchanged: the stored body is then the new one. A
// stored line that fails validation fails the whole comparison (no changes
// are reported from a refused baseline).
func diffLines(prev *storedBaseline, cur *Baseline, e *lines) (out []Change, same bool, err error) {
	base := Change{TenantID: cur.TenantID, TenantName: cur.TenantName, Dataset: cur.Dataset,
		PreviousRunID: prev.hdr.RunID, RunID: cur.RunID, PreviousTime: prev.hdr.Time.UTC(), Time: cur.Time.UTC()}
	sameFields := slices.Equal(prev.hdr.Fields, cur.Fields)
	common := commonFields(prev.hdr.Fields, cur.Fields)
	same = sameFields
	create := func(i int) {
		c := base
		c.Key, c.ChangeType, c.Values = e.keys[i], Create, valuesMap(cur.Fields, cur.Items[e.keys[i]])
		out = append(out, c)
		same = false
	}
	it, i := prev.iter(), 0
	for {
		// Most items are unchanged: their stored line is the current one.
		if sameFields && i < len(e.keys) && it.skipIfEqual(e.line(i), e.keys[i]) {
			i++
			continue
		}
		pk, pline, ok, err := it.next()
		if err != nil {
			return nil, false, err
		}
		if !ok {
			break
		}
		for i < len(e.keys) && e.keys[i] < string(pk) {
			create(i)
			i++
		}
		if i < len(e.keys) && e.keys[i] == string(pk) {
			if !sameFields || !bytes.Equal(pline, e.line(i)) {
				same = false
				pv, err := parseLine(pline)
				if err != nil {
					return nil, false, it.bad("item %q: %v", pk, err)
				}
				out = appendUpdates(out, base, e.keys[i], common, pv[1:], cur.Items[e.keys[i]])
			}
			i++
			continue
		}
		pv, err := parseLine(pline)
		if err != nil {
			return nil, false, it.bad("item %q: %v", pk, err)
		}
		c := base
		c.Key, c.ChangeType, c.Values = string(pk), Delete, valuesMap(prev.hdr.Fields, pv[1:])
		out = append(out, c)
		same = false
	}
	for ; i < len(e.keys); i++ {
		create(i)
	}
	SortChanges(out)
	return out, same, nil
}

// fieldPair is a field compared in both snapshots: its name and index in
// each.
type fieldPair struct {
	name     string
	prev, nw int
}

func commonFields(prev, cur []string) []fieldPair {
	var common []fieldPair
	for i, n := range cur {
		if j := slices.Index(prev, n); j >= 0 {
			common = append(common, fieldPair{n, j, i})
		}
	}
	return common
}

// appendUpdates appends one UPDATE per common field whose value changed.
func appendUpdates(out []Change, base Change, key string, common []fieldPair, pv, cv []string) []Change {
	for _, p := range common {
		if pv[p.prev] != cv[p.nw] {
			c := base
			c.Key, c.ChangeType, c.Field = key, Update, p.name
			c.PreviousValue, c.NewValue = ptr(pv[p.prev]), ptr(cv[p.nw])
			out = append(out, c)
		}
	}
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
