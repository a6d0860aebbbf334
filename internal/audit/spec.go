// Package audit turns the collector's stream into audits: drift between a
// tenant's consecutive complete collections (changes of devices and
// subscriptions), findings from built-in rules, events for an event bus, and
// a self-contained HTML report. docs/audits.md describes the layout.
//
// The Auditor is a collector.ItemObserver: it keeps, per tenant and
// dataset, only the key and the compared fields of each item (a Snapshot)
// while the items stream, and when the tenant's datasets are done compares
// each complete dataset with the tenant's baseline (the snapshot of its last
// complete collection), writes the changes and then the new baseline.
package audit

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/buger/jsonparser"
)

// Field is one compared field of a dataset: a name (used in change records
// and baselines) and its JSON path inside the item.
type Field struct {
	Name string
	Path []string // object keys; "[0]" selects an array element
}

// Spec says how a dataset is compared: the item's natural key and the fields
// an operator cares about. Datasets without a Spec are not compared.
type Spec struct {
	Dataset string
	// Key is the path of the natural id (serial number for devices).
	Key    []string
	Fields []Field

	paths [][]string // the fields' paths then the key's, for EachKey
}

// once fills paths (specs are values: each copy computes its own).
func (s *Spec) once() {
	if s.paths != nil {
		return
	}
	for _, f := range s.Fields {
		s.paths = append(s.paths, f.Path)
	}
	s.paths = append(s.paths, s.Key)
}

func f(name string, path ...string) Field {
	if len(path) == 0 {
		path = []string{name}
	}
	return Field{Name: name, Path: path}
}

// specs is the one table of what is compared per dataset.
var specs = []Spec{
	{Dataset: "devices", Key: []string{"serialNumber"}, Fields: []Field{
		f("deviceName"), f("deviceType"), f("model"), f("status"), f("ipv4"),
		f("siteId"), f("siteName"), f("firmwareVersion")}},
	{Dataset: "device-inventory", Key: []string{"serialNumber"}, Fields: []Field{
		f("deviceName"), f("deviceType"), f("model"), f("status"), f("isProvisioned"),
		f("siteId"), f("siteName"), f("firmwareVersion"), f("subscriptionKey"), f("tier")}},
	{Dataset: "aps", Key: []string{"serialNumber"}, Fields: []Field{
		f("deviceName"), f("model"), f("status"), f("ipv4"), f("siteId"), f("siteName"), f("firmwareVersion")}},
	{Dataset: "switches", Key: []string{"serialNumber"}, Fields: []Field{
		f("deviceName"), f("model"), f("switchType"), f("status"), f("ipv4"), f("siteId"), f("siteName"), f("firmwareVersion")}},
	{Dataset: "gateways", Key: []string{"serialNumber"}, Fields: []Field{
		f("deviceName"), f("model"), f("status"), f("ipAddress"), f("siteId"), f("siteName"), f("firmwareVersion")}},
	{Dataset: "sites-health", Key: []string{"id"}, Fields: []Field{
		f("siteName"), f("city", "address", "city"), f("country", "address", "country")}},
	{Dataset: "glp-devices", Key: []string{"serialNumber"}, Fields: []Field{
		f("deviceName"), f("deviceType"), f("model"), f("assignedState"), f("archived"),
		f("application", "application", "id"), f("subscriptionKey", "subscription", "[0]", "key")}},
	{Dataset: "subscriptions", Key: []string{"key"}, Fields: []Field{
		f("subscriptionType"), f("subscriptionStatus"), f("tier"), f("sku"), f("quantity"),
		f("startTime"), f("endTime")}},
}

// Specs returns the compared datasets, in collection order.
func Specs() []Spec { return slices.Clone(specs) }

// SpecOf returns the spec of a dataset.
func SpecOf(dataset string) (Spec, bool) {
	for _, s := range specs {
		if s.Dataset == dataset {
			s.once()
			return s, true
		}
	}
	return Spec{}, false
}

// FieldNames returns the names of the spec's fields, in order.
func (s Spec) FieldNames() []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	return out
}

// maxValueLen caps a compared value (API text) kept in a snapshot.
const maxValueLen = 512

// Extract returns an item's key and compared values ("" for a missing or
// null field), reading the item once. ok is false when the item has no
// usable key.
func (s Spec) Extract(item []byte) (key string, vals []string, ok bool) {
	s.once()
	vals = make([]string, len(s.Fields))
	var k string
	jsonparser.EachKey(item, func(idx int, v []byte, typ jsonparser.ValueType, err error) {
		if err != nil {
			return
		}
		r := render(v, typ)
		if idx == len(s.Fields) {
			k = r
			return
		}
		vals[idx] = r
	}, s.paths...)
	if k == "" {
		return "", nil, false
	}
	return k, vals, true
}

// render renders a value: strings unquoted, numbers and booleans as
// written, objects and arrays as their JSON text, null as ""; capped in
// length.
func render(v []byte, typ jsonparser.ValueType) string {
	var s string
	switch typ {
	case jsonparser.NotExist, jsonparser.Null:
		return ""
	case jsonparser.String:
		u, err := jsonparser.ParseString(v)
		if err != nil {
			s = string(v)
		} else {
			s = u
		}
	default:
		s = string(v)
	}
	if len(s) > maxValueLen {
		return strings.ToValidUTF8(s[:maxValueLen], "")
	}
	// Valid UTF-8 only, so a value (or key) reads back from a baseline as
	// it was kept.
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}
