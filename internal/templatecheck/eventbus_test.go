package templatecheck

import (
	"slices"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/events"
	"github.com/centralmsp/centralmsp/internal/lambdafn/collectorfn"
)

// eventBusARN is the only resource events:PutEvents may be granted on.
const eventBusARN = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"

// TestEventBus: the EventBusName parameter (default "default") reaches the
// collector as CENTRALMSP_EVENT_BUS, and the collector's role may call
// events:PutEvents on that bus only, in one statement; nothing else in the
// template grants an events action.
func TestEventBus(t *testing.T) {
	tp := loadTemplate(t)
	param := get(get(tp.root, "Parameters"), "EventBusName")
	if param == nil {
		t.Fatal("no EventBusName parameter")
	}
	if got := scalar(get(param, "Default")); got != events.DefaultBus {
		t.Errorf("EventBusName default %q, want %q", got, events.DefaultBus)
	}
	if scalar(get(param, "Type")) != "String" {
		t.Errorf("EventBusName type %q", scalar(get(param, "Type")))
	}
	env := path(tp.resource("CollectorFunction"), "Properties", "Environment", "Variables")
	if got := refTarget(get(env, collectorfn.EnvEventBus)); got != "EventBusName" {
		t.Errorf("CollectorFunction %s = !Ref %q, want !Ref EventBusName", collectorfn.EnvEventBus, got)
	}
	var grants []statement
	for _, st := range tp.statements() {
		if slices.ContainsFunc(st.actions(), func(a string) bool { return strings.HasPrefix(strings.ToLower(a), "events:") }) {
			grants = append(grants, st)
		}
	}
	if len(grants) != 1 {
		t.Fatalf("%d statements grant events actions, want 1", len(grants))
	}
	st := grants[0]
	if st.where != "CollectorRole" || st.effect() != "Allow" || !slices.Equal(st.actions(), []string{"events:PutEvents"}) {
		t.Errorf("events statement in %s: %s %v", st.where, st.effect(), st.actions())
	}
	res := items(get(st.node, "Resource"))
	if len(res) != 1 {
		t.Fatalf("events statement has %d resources", len(res))
	}
	if sub, _, ok := subString(res[0]); !ok || sub != eventBusARN {
		t.Errorf("events:PutEvents resource %q, want !Sub %q", sub, eventBusARN)
	}
}
