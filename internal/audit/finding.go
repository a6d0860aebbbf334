package audit

import "time"

// Severity of a finding.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

// Finding is one rule's result for a tenant in a run.
type Finding struct {
	// ID is stable across runs for the same rule and resource, so a finding
	// is "new" when its ID was not in the tenant's previous finding state.
	ID         string            `json:"id"`
	TenantID   string            `json:"tenant_id"`
	TenantName string            `json:"tenant_name"`
	Rule       string            `json:"rule"`
	Severity   Severity          `json:"severity"`
	Dataset    string            `json:"dataset,omitempty"`
	Key        string            `json:"key,omitempty"`
	Message    string            `json:"message"`
	Details    map[string]string `json:"details,omitempty"`
	New        bool              `json:"new"`
	RunID      string            `json:"run_id"`
	Time       time.Time         `json:"time"`
}

// SubscriptionEnd is a subscription's end date, for the report's timeline.
type SubscriptionEnd struct {
	Key, Tier, Status string
	End               time.Time
}

// subscriptionEnds reads the end dates from a subscriptions snapshot.
func subscriptionEnds(b *Baseline) []SubscriptionEnd {
	idx := func(n string) int {
		for i, f := range b.Fields {
			if f == n {
				return i
			}
		}
		return -1
	}
	ie, it, is := idx("endTime"), idx("tier"), idx("subscriptionStatus")
	if ie < 0 {
		return nil
	}
	var out []SubscriptionEnd
	for k, v := range b.Items {
		end, err := time.Parse(time.RFC3339, v[ie])
		if err != nil {
			continue
		}
		s := SubscriptionEnd{Key: k, End: end}
		if it >= 0 {
			s.Tier = v[it]
		}
		if is >= 0 {
			s.Status = v[is]
		}
		out = append(out, s)
	}
	return out
}
