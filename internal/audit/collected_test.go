package audit

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// TestUnchangedBaselineKept: a run that finds a dataset unchanged leaves
// its baseline object as it was and records the run in the collected
// state, so the next change names that run as its previous one.
func TestUnchangedBaselineKept(t *testing.T) {
	e := newSimEnv(t, []int{40, 30})
	t0 := time.Now().UTC().Truncate(time.Second)
	e.collect(t, "run-1", t0)
	tn := e.sim.Tenants()[0]
	p := e.dir.Path(BaselineKey(tn.HexID, "devices"))
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	_, sum := e.collect(t, "run-2", t0.Add(time.Hour))
	if sum.Totals.Changes != 0 || sum.Totals.Errors != 0 {
		t.Fatalf("run 2: %d changes, %d errors", sum.Totals.Changes, sum.Totals.Errors)
	}
	after, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Fatal("an unchanged baseline was rewritten")
	}
	var seen collectedState
	b, err := os.ReadFile(e.dir.Path(CollectedKey(tn.HexID)))
	if err != nil || json.Unmarshal(b, &seen) != nil || seen.Datasets["devices"].RunID != "run-2" {
		t.Fatalf("collected state %s (%v)", b, err)
	}
	want := e.sim.Mutate(centralsim.MutateOptions{Tenants: []string{tn.HexID}, Move: 2, Refirmware: 2})
	_, sum = e.collect(t, "run-3", t0.Add(2*time.Hour))
	got := e.readChanges(t, sum)
	if g, w := driftLines(got), simLines(want); !slices.Equal(g, w) || len(w) == 0 {
		t.Fatalf("drift differs from the simulator's changes:\n got %q\nwant %q", g, w)
	}
	for _, c := range got {
		if c.PreviousRunID != "run-2" || !c.PreviousTime.Equal(t0.Add(time.Hour)) {
			t.Fatalf("change names run %s at %s, want run-2", c.PreviousRunID, c.PreviousTime)
		}
	}
	data, _ := os.ReadFile(p)
	if b, err := DecodeBaseline(data, tn.HexID, "devices"); err != nil || b.RunID != "run-3" {
		t.Fatalf("changed baseline not rewritten: %v", err)
	}
}

// TestV1BaselineCompared: a baseline stored in the first format is read
// and compared (drift exactly the simulator's changes), then replaced by
// the current format.
func TestV1BaselineCompared(t *testing.T) {
	e := newSimEnv(t, []int{40})
	t0 := time.Now().UTC().Truncate(time.Second)
	e.collect(t, "run-1", t0)
	tn := e.sim.Tenants()[0]
	for _, sp := range specs {
		p := e.dir.Path(BaselineKey(tn.HexID, sp.Dataset))
		data, err := os.ReadFile(p)
		if err != nil {
			continue // not collected for this tenant
		}
		b, err := DecodeBaseline(data, tn.HexID, sp.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		b.Version = 1
		v1, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, gz(string(v1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := e.sim.Mutate(centralsim.MutateOptions{Tenants: []string{tn.HexID}, Add: 2, Remove: 1, Move: 1, Renew: 1})
	_, sum := e.collect(t, "run-2", t0.Add(time.Hour))
	if g, w := driftLines(e.readChanges(t, sum)), simLines(want); !slices.Equal(g, w) {
		t.Fatalf("drift against v1 baselines:\n got %q\nwant %q", g, w)
	}
	for _, d := range sum.Tenants[0].Datasets {
		if d.Status != StatusCompared {
			t.Errorf("%s: status %s %s", d.Dataset, d.Status, d.Error)
		}
	}
	data, _ := os.ReadFile(e.dir.Path(BaselineKey(tn.HexID, "devices")))
	if sb, err := readBaseline(data, tn.HexID, "devices", MaxBaselineBytes); err != nil || sb.hdr.Version != BaselineVersion {
		t.Fatalf("not rewritten in the current format: %v", err)
	}
}

func TestDecodeCollectedRefuses(t *testing.T) {
	ok := `{"version":1,"tenant_id":"` + tid + `","datasets":{"devices":{"run_id":"r","time":"2026-01-01T00:00:00Z"}}}`
	if c, err := decodeCollected([]byte(ok), tid); err != nil || c.Datasets["devices"].RunID != "r" {
		t.Fatalf("valid state refused: %v", err)
	}
	for name, s := range map[string]string{
		"other tenant":    strings.Replace(ok, tid, "x", 1),
		"version":         strings.Replace(ok, `"version":1`, `"version":2`, 1),
		"unknown dataset": strings.Replace(ok, `"devices"`, `"nope"`, 1),
		"empty run":       strings.Replace(ok, `"run_id":"r"`, `"run_id":""`, 1),
		"long run":        strings.Replace(ok, `"run_id":"r"`, `"run_id":"`+strings.Repeat("r", 200)+`"`, 1),
		"unknown field":   strings.Replace(ok, `"version":1`, `"version":1,"x":0`, 1),
		"too large":       ok + strings.Repeat(" ", maxCollectedBytes),
	} {
		if _, err := decodeCollected([]byte(s), tid); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
