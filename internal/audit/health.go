package audit

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/centralmsp/centralmsp/internal/collector"
)

// HealthMapping reports how the run's tenant-health records matched GLP
// workspaces: Central's tenantId is not the GLP workspace id, so the
// collector matches them by name and labels a name matching no workspace
// or several as such (collector.TenantLabel); those tenants get no health
// finding.
type HealthMapping struct {
	Mapped    int      `json:"mapped"`
	Unmatched []string `json:"unmatched,omitempty"`
	Ambiguous []string `json:"ambiguous,omitempty"`
	// Omitted counts unmatched and ambiguous names beyond maxHealthNames,
	// left out of the lists above.
	Omitted int `json:"omitted,omitempty"`
	// Error says why this run has no tenant health (the dataset failed,
	// was skipped or deferred); the rule is then not evaluated.
	Error string `json:"error,omitempty"`
}

// maxHealthNames bounds the names listed in a HealthMapping.
const maxHealthNames = 100

// healthStream builds the run's tenant health from the collector's
// MSP-level stream (the tenant-health dataset), so the audit reads the
// figures the run stored instead of asking the API again. The collector
// delivers the MSP-level datasets before any tenant's end, so the figures
// are settled before the first tenant's findings.
type healthStream struct {
	mu      sync.Mutex
	health  map[string]TenantHealth // this run's, by workspace id
	mapping *HealthMapping
	// building while the dataset streams; kept only if it completes.
	pending    map[string]TenantHealth
	pendingMap HealthMapping
}

// OnMSPDatasetStart implements collector.MSPObserver.
func (a *Auditor) OnMSPDatasetStart(dataset string) {
	if dataset != collector.TenantHealthDataset {
		return
	}
	a.hs.mu.Lock()
	defer a.hs.mu.Unlock()
	a.hs.pending, a.hs.pendingMap = map[string]TenantHealth{}, HealthMapping{}
}

// OnMSPItem implements collector.MSPObserver: a record mapped to one
// workspace gives that workspace's figures; the others are listed.
func (a *Auditor) OnMSPItem(dataset string, l collector.TenantLabel, item json.RawMessage) {
	if dataset != collector.TenantHealthDataset {
		return
	}
	h, ok := collector.ParseTenantHealth(item)
	a.hs.mu.Lock()
	defer a.hs.mu.Unlock()
	hm := &a.hs.pendingMap
	name := capText(h.TenantName)
	switch {
	case l.Mapping == collector.Mapped && ok:
		a.hs.pending[l.TenantID] = TenantHealth{Alerts: h.Alerts.Total, DegradedSites: h.DegradedSites}
		hm.Mapped++
	case l.Mapping == collector.Mapped:
		// Figures that do not parse are no figures: no finding from them.
	case len(hm.Unmatched)+len(hm.Ambiguous) >= maxHealthNames:
		hm.Omitted++
	case l.Mapping == collector.Unmatched:
		hm.Unmatched = append(hm.Unmatched, name)
	default:
		hm.Ambiguous = append(hm.Ambiguous, name+" ("+strings.Join(l.Candidates, ", ")+")")
	}
}

// OnMSPDatasetDone implements collector.MSPObserver: the figures count
// only when the dataset was committed whole.
func (a *Auditor) OnMSPDatasetDone(_ context.Context, res *collector.MSPDatasetResult) error {
	if res.Dataset != collector.TenantHealthDataset {
		return nil
	}
	a.hs.mu.Lock()
	defer a.hs.mu.Unlock()
	if res.Status != collector.StatusOK {
		msg := string(res.Status)
		if res.Error != nil {
			msg += ": " + capText(res.Error.Message)
		}
		a.hs.health, a.hs.mapping = nil, &HealthMapping{Error: msg}
		return nil
	}
	hm := a.hs.pendingMap
	slices.Sort(hm.Unmatched)
	slices.Sort(hm.Ambiguous)
	a.hs.health, a.hs.mapping = a.hs.pending, &hm
	a.hs.pending = nil
	return nil
}

// healthOf returns the tenant's figures of this run, if any.
func (a *Auditor) healthOf(tenantID string) (TenantHealth, bool) {
	a.hs.mu.Lock()
	defer a.hs.mu.Unlock()
	h, ok := a.hs.health[tenantID]
	return h, ok
}

// healthMapping returns how this run's health was mapped (nil: none read).
func (a *Auditor) healthMapping() *HealthMapping {
	a.hs.mu.Lock()
	defer a.hs.mu.Unlock()
	return a.hs.mapping
}
