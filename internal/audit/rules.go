package audit

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// RulesEnv names the environment variable holding the rules: a file path
// or the rules themselves as JSON.
const RulesEnv = "CENTRALMSP_AUDIT_RULES"

// Built-in rule names.
const (
	RuleSubscriptionExpiring = "subscription-expiring"
	RuleDeviceUnsubscribed   = "device-unsubscribed"
	RuleDeviceOffline        = "device-offline"
	RuleFirmwareMixed        = "firmware-mixed"
	RuleHealthRising         = "tenant-health-rising"
)

// Rule is one rule's configuration.
type Rule struct {
	Enabled  bool     `yaml:"enabled" json:"enabled"`
	Severity Severity `yaml:"severity" json:"severity"`
	// Days is subscription-expiring's window (default 30).
	Days int `yaml:"days,omitempty" json:"days,omitempty"`
	// MinVersions is firmware-mixed's threshold: distinct versions of one
	// model that make a finding (default 2).
	MinVersions int `yaml:"min_versions,omitempty" json:"min_versions,omitempty"`
}

// Rules is the finding rules' configuration, by rule name.
type Rules struct {
	Rules map[string]Rule `yaml:"rules" json:"rules"`
}

// defaultRules are the built-in rules and their defaults.
func defaultRules() map[string]Rule {
	return map[string]Rule{
		RuleSubscriptionExpiring: {Enabled: true, Severity: SeverityHigh, Days: 30},
		RuleDeviceUnsubscribed:   {Enabled: true, Severity: SeverityMedium},
		RuleDeviceOffline:        {Enabled: true, Severity: SeverityMedium},
		RuleFirmwareMixed:        {Enabled: true, Severity: SeverityLow, MinVersions: 2},
		RuleHealthRising:         {Enabled: true, Severity: SeverityHigh},
	}
}

// RuleNames returns the built-in rule names, sorted.
func RuleNames() []string { return slices.Sorted(maps.Keys(defaultRules())) }

// DefaultRules returns every built-in rule with its defaults.
func DefaultRules() *Rules { return &Rules{Rules: defaultRules()} }

// RulesError reports an invalid rules file.
type RulesError struct {
	Source string
	Rule   string
	Reason string
}

func (e *RulesError) Error() string {
	if e.Rule != "" {
		return fmt.Sprintf("audit rules %s: rule %q: %s", e.Source, e.Rule, e.Reason)
	}
	return fmt.Sprintf("audit rules %s: %s", e.Source, e.Reason)
}

// LoadRules reads rules given as RulesEnv takes them: inline JSON (value
// starts with "{"; errors name inlineSource) or the path of a file. An empty
// value (or file) gives the default rules.
func LoadRules(value, inlineSource string) (*Rules, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return DefaultRules(), nil
	}
	data, source := []byte(value), inlineSource
	if !strings.HasPrefix(value, "{") {
		b, err := os.ReadFile(value)
		if err != nil {
			return nil, fmt.Errorf("audit rules: %w", err)
		}
		data, source = b, value
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return DefaultRules(), nil
	}
	return ParseRules(data, source)
}

// ParseRules reads a rules file (YAML or JSON): a "rules" map from rule
// name to settings. Rules not named keep their defaults; an unknown rule
// name, setting or severity is refused, naming it.
func ParseRules(data []byte, source string) (*Rules, error) {
	var raw struct {
		Rules map[string]yaml.Node `yaml:"rules"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, &RulesError{Source: source, Reason: err.Error()}
	}
	out := DefaultRules()
	for _, name := range slices.Sorted(maps.Keys(raw.Rules)) {
		r, ok := out.Rules[name]
		if !ok {
			return nil, &RulesError{Source: source, Rule: name, Reason: "unknown rule (known: " + strings.Join(RuleNames(), ", ") + ")"}
		}
		node := raw.Rules[name]
		// Decode strictly over the defaults.
		b, err := yaml.Marshal(&node)
		if err != nil {
			return nil, &RulesError{Source: source, Rule: name, Reason: err.Error()}
		}
		d := yaml.NewDecoder(bytes.NewReader(b))
		d.KnownFields(true)
		if err := d.Decode(&r); err != nil && !errors.Is(err, io.EOF) {
			return nil, &RulesError{Source: source, Rule: name, Reason: err.Error()}
		}
		switch r.Severity {
		case SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo:
		default:
			return nil, &RulesError{Source: source, Rule: name, Reason: fmt.Sprintf("unknown severity %q (critical, high, medium, low, info)", r.Severity)}
		}
		if r.Days < 0 || r.Days > 3650 || r.MinVersions < 0 {
			return nil, &RulesError{Source: source, Rule: name, Reason: "days must be 0 to 3650 and min_versions not negative"}
		}
		out.Rules[name] = r
	}
	return out, nil
}

// snapshotView reads named fields of a snapshot.
type snapshotView struct{ b *Baseline }

func (v snapshotView) field(name string) int { return slices.Index(v.b.Fields, name) }

// evalInput is what the rules see of a tenant: its complete snapshots of
// this run and its health figures (nil when not collected).
type evalInput struct {
	TenantID, TenantName, RunID string
	Now                         time.Time
	Sets                        map[string]*Baseline
	Health, PrevHealth          *TenantHealth
}

// ruleInputs names the datasets each rule needs; a rule whose datasets
// are not complete in a run is not evaluated (its previous findings state
// is carried over).
var ruleInputs = map[string][]string{
	RuleSubscriptionExpiring: {"subscriptions"},
	RuleDeviceUnsubscribed:   {"glp-devices"},
	RuleDeviceOffline:        {"devices"},
	RuleFirmwareMixed:        {"devices"},
	RuleHealthRising:         {},
}

// evaluate runs the enabled rules; evaluated lists the rules that ran.
func (rs *Rules) evaluate(in evalInput) (out []Finding, evaluated []string) {
	for _, name := range RuleNames() {
		r := rs.Rules[name]
		if !r.Enabled || !ruleReady(name, in) {
			continue
		}
		evaluated = append(evaluated, name)
		out = append(out, ruleRun{in: in, name: name, r: r}.check()...)
	}
	sortFindings(out)
	return out, evaluated
}

// ruleReady reports whether the input holds all a rule needs: its complete
// datasets and, for the health rule, this run's and the previous run's
// health. A rule that is not ready keeps its previous findings state.
func ruleReady(name string, in evalInput) bool {
	for _, ds := range ruleInputs[name] {
		if in.Sets[ds] == nil {
			return false
		}
	}
	return name != RuleHealthRising || (in.Health != nil && in.PrevHealth != nil)
}

// ruleRun is one rule evaluated on one tenant's input; its checks build
// their findings through finding so every finding carries the same
// tenant, run and severity.
type ruleRun struct {
	in   evalInput
	name string
	r    Rule
}

// check runs the rule's check. A check that misses a field it needs finds
// nothing (the rule still counts as evaluated).
func (rr ruleRun) check() []Finding {
	switch rr.name {
	case RuleSubscriptionExpiring:
		return rr.subscriptionExpiring()
	case RuleDeviceUnsubscribed:
		return rr.deviceUnsubscribed()
	case RuleDeviceOffline:
		return rr.deviceOffline()
	case RuleFirmwareMixed:
		return rr.firmwareMixed()
	case RuleHealthRising:
		return rr.healthRising()
	}
	return nil
}

// finding builds the rule's finding for a dataset record; the id joins
// rule, dataset and key so the same problem keeps its id across runs.
func (rr ruleRun) finding(ds, key, msg string, details map[string]string) Finding {
	in := rr.in
	return Finding{ID: rr.name + "|" + ds + "|" + key, TenantID: in.TenantID, TenantName: in.TenantName, Rule: rr.name,
		Severity: rr.r.Severity, Dataset: ds, Key: key, Message: msg, Details: details, RunID: in.RunID, Time: in.Now}
}

// subscriptionExpiring finds subscriptions, not ended, whose end time is
// within the rule's days (30 by default) from now.
func (rr ruleRun) subscriptionExpiring() (out []Finding) {
	b := rr.in.Sets["subscriptions"]
	v := snapshotView{b}
	ie, is, it := v.field("endTime"), v.field("subscriptionStatus"), v.field("tier")
	if ie < 0 {
		return nil
	}
	days := cmp.Or(rr.r.Days, 30)
	for k, vals := range b.Items {
		end, err := time.Parse(time.RFC3339, vals[ie])
		if err != nil || (is >= 0 && vals[is] == "ENDED") {
			continue
		}
		left := end.Sub(rr.in.Now)
		if left < 0 || left > time.Duration(days)*24*time.Hour {
			continue
		}
		d := int(left.Hours() / 24)
		det := map[string]string{"end_time": vals[ie], "days_left": strconv.Itoa(d)}
		if it >= 0 {
			det["tier"] = vals[it]
		}
		out = append(out, rr.finding("subscriptions", k, fmt.Sprintf("subscription %s ends in %d day(s), on %s", k, d, end.UTC().Format(time.DateOnly)), det))
	}
	return out
}

// deviceUnsubscribed finds devices, not archived, without a subscription.
func (rr ruleRun) deviceUnsubscribed() (out []Finding) {
	b := rr.in.Sets["glp-devices"]
	v := snapshotView{b}
	isub, iarch := v.field("subscriptionKey"), v.field("archived")
	if isub < 0 {
		return nil
	}
	for k, vals := range b.Items {
		if vals[isub] != "" || (iarch >= 0 && vals[iarch] == "true") {
			continue
		}
		out = append(out, rr.finding("glp-devices", k, "device "+k+" has no subscription", nil))
	}
	return out
}

// deviceOffline finds devices whose status is known and neither online
// nor up.
func (rr ruleRun) deviceOffline() (out []Finding) {
	b := rr.in.Sets["devices"]
	ist := snapshotView{b}.field("status")
	if ist < 0 {
		return nil
	}
	for k, vals := range b.Items {
		if s := strings.ToUpper(vals[ist]); s != "" && s != "ONLINE" && s != "UP" {
			out = append(out, rr.finding("devices", k, "device "+k+" is "+vals[ist], map[string]string{"status": vals[ist]}))
		}
	}
	return out
}

// firmwareMixed finds models that run at least the rule's minimum number
// of firmware versions (2 by default); the details show at most ten.
func (rr ruleRun) firmwareMixed() (out []Finding) {
	b := rr.in.Sets["devices"]
	v := snapshotView{b}
	im, ifw := v.field("model"), v.field("firmwareVersion")
	if im < 0 || ifw < 0 {
		return nil
	}
	byModel := map[string]map[string]int{}
	for _, vals := range b.Items {
		if vals[im] == "" || vals[ifw] == "" {
			continue
		}
		if byModel[vals[im]] == nil {
			byModel[vals[im]] = map[string]int{}
		}
		byModel[vals[im]][vals[ifw]]++
	}
	minV := cmp.Or(rr.r.MinVersions, 2)
	for model, vs := range byModel {
		if len(vs) < minV {
			continue
		}
		names := slices.Sorted(maps.Keys(vs))
		shown := names[:min(len(names), 10)]
		out = append(out, rr.finding("devices", model, fmt.Sprintf("model %s runs %d firmware versions", model, len(vs)),
			map[string]string{"versions": strings.Join(shown, ", "), "count": strconv.Itoa(len(vs))}))
	}
	return out
}

// healthRising finds the tenant's alerts and degraded sites rising since
// the previous run; ruleReady ensures both health figures are present.
func (rr ruleRun) healthRising() (out []Finding) {
	h, p := rr.in.Health, rr.in.PrevHealth
	if h.Alerts > p.Alerts {
		out = append(out, rr.finding("tenant-health", "alerts", fmt.Sprintf("alerts rose from %d to %d since the last run", p.Alerts, h.Alerts),
			map[string]string{"previous": strconv.Itoa(p.Alerts), "now": strconv.Itoa(h.Alerts)}))
	}
	if h.DegradedSites > p.DegradedSites {
		out = append(out, rr.finding("tenant-health", "degraded-sites", fmt.Sprintf("degraded sites rose from %d to %d since the last run", p.DegradedSites, h.DegradedSites),
			map[string]string{"previous": strconv.Itoa(p.DegradedSites), "now": strconv.Itoa(h.DegradedSites)}))
	}
	return out
}

var severityRank = map[Severity]int{SeverityCritical: 0, SeverityHigh: 1, SeverityMedium: 2, SeverityLow: 3, SeverityInfo: 4}

// sortFindings orders findings most severe first, then by rule and key.
func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(severityRank[a.Severity], severityRank[b.Severity]), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.ID, b.ID))
	})
}

// TenantHealth is a tenant's figures from the MSP-level tenant-health list.
type TenantHealth struct {
	Alerts        int `json:"alerts"`
	DegradedSites int `json:"degraded_sites"`
}
