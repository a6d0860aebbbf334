package collectorfn

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/scaleout"
)

// TestShardWithRepeatedTenant: a shard message that lists a tenant twice
// (once dashed and upper-case) runs: each tenant is collected once, into
// one object, and the shard is not failed (nor sent to the DLQ).
func TestShardWithRepeatedTenant(t *testing.T) {
	s := newStack(t, 2, nil)
	h := s.handler(t)
	a, b := s.sim.Tenants()[0], s.sim.Tenants()[1]
	msg := scaleout.ShardMessage{RunID: "20261128T030000Z-repeat", Shard: 1, Shards: 1,
		Tenants: []string{a.HexID, b.HexID, strings.ToUpper(a.ID)}, Names: []string{a.Name, b.Name, "impostor"}, Datasets: []string{"aps"}}
	body, _ := json.Marshal(msg)
	if resp := s.processShard(t, h, events.SQSMessage{MessageId: "m-r", Body: string(body), EventSource: "aws:sqs"}); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response %+v\n%s", resp, s.logs.String())
	}
	m := s.manifest(t, collector.ShardKey(msg.RunID, msg.ID()))
	if len(m.Tenants) != 2 || m.Totals.TenantsOK != 2 || !m.Complete {
		t.Fatalf("shard manifest %+v %+v", m.Totals, m.Tenants)
	}
	for _, tr := range m.Tenants {
		if tr.Name == "impostor" {
			t.Errorf("the repeat's name was kept: %+v", tr)
		}
		s.get(t, tr.Datasets[0].Key)
	}
	if !strings.Contains(s.logs.String(), "repeated tenant ids") {
		t.Error("the repeat was not logged")
	}
}
