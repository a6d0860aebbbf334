package templatecheck

import (
	"strconv"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/tokencache"
)

// TestScheduleMatchesTokenCache checks the template's schedules against the
// token cache's own rules (internal/tokencache.Schedule): every allowed
// refresh lead validates (lead + collection window inside the token
// lifetime, at most one write per shard per window, so 24 versions per day
// for hourly runs) and its refresh expression is the one the cache computes.
func TestScheduleMatchesTokenCache(t *testing.T) {
	tp := loadTemplate(t)
	collector := scalar(path(tp.params, "CollectorSchedule", "Default"))
	def := scalar(path(tp.params, "RefreshLeadMinutes", "Default"))
	allowed := items(path(tp.params, "RefreshLeadMinutes", "AllowedValues"))
	if len(allowed) == 0 {
		t.Fatal("RefreshLeadMinutes has no AllowedValues")
	}
	sawDefault := false
	for _, v := range allowed {
		lead, err := strconv.Atoi(v.Value)
		if err != nil {
			t.Fatalf("RefreshLeadMinutes value %q: %v", v.Value, err)
		}
		sawDefault = sawDefault || v.Value == def
		s := tokencache.DefaultSchedule()
		s.RefreshLead = time.Duration(lead) * time.Minute
		if err := s.Validate(); err != nil {
			t.Errorf("lead %d: %v", lead, err)
			continue
		}
		if per := s.WindowsPerDay(); per >= 100 {
			t.Errorf("lead %d: %v writes per shard per day, quota is 100 versions", lead, per)
		}
		coll, ref, ok := s.Expressions()
		if !ok {
			t.Errorf("lead %d: no schedule expressions", lead)
			continue
		}
		if coll != collector {
			t.Errorf("CollectorSchedule default %q, token cache schedule %q", collector, coll)
		}
		if got := scalar(path(tp.mappings, "RefreshLead", v.Value, "Schedule")); got != ref {
			t.Errorf("lead %d: template refresh schedule %q, token cache computes %q", lead, got, ref)
		}
	}
	if !sawDefault {
		t.Errorf("RefreshLeadMinutes default %q is not an allowed value", def)
	}
}
