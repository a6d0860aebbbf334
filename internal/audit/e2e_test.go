package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

type simEnv struct {
	sim *centralsim.Server
	msp *msp.MSP
	dir *sink.Dir
}

func newSimEnv(t *testing.T, sizes []int) simEnv {
	t.Helper()
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Seed = 7
		o.Tenants = len(sizes)
		o.DevicesPerTenant = func(i int) int { return sizes[i] }
		o.RateLimits = centralsim.RateLimits{}
		o.Logger = slog.New(slog.DiscardHandler)
	})
	t.Cleanup(sim.Close)
	creds, err := central.ParseCredentials(sim.CredentialsYAML(), central.FormatYAML, "sim")
	if err != nil {
		t.Fatal(err)
	}
	m, err := msp.New(creds, func(o *msp.Options) {
		o.HTTPClient = sim.Client()
		o.Logger = slog.New(slog.DiscardHandler)
		o.Budgets = central.NewBudgets()
		o.ClientOptions = append(o.ClientOptions, func(co *central.Options) { co.Retry.Rand = func() float64 { return 0 } })
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return simEnv{sim: sim, msp: m, dir: sink.NewDir(t.TempDir()).(*sink.Dir)}
}

// collect runs one audited collection into the env's directory.
func (e simEnv) collect(t *testing.T, runID string, at time.Time) (*collector.Manifest, *Summary) {
	t.Helper()
	cfg := collector.Config{MSP: collector.FromMSP(e.msp), Sink: e.dir, RunID: runID, Concurrency: 4,
		Now: func() time.Time { return at }}
	man, sum, err := Collect(context.Background(), cfg, Options{Store: SinkStore{Sink: e.dir}})
	if man == nil {
		t.Fatalf("collect: %v", err)
	}
	return man, sum
}

// readChanges reads every drift record of a run.
func (e simEnv) readChanges(t *testing.T, sum *Summary) []Change {
	t.Helper()
	var out []Change
	for _, ta := range sum.Tenants {
		if ta.DriftKey == "" {
			continue
		}
		f, err := os.Open(e.dir.Path(ta.DriftKey))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		f.Close()
		dec := json.NewDecoder(bytes.NewReader(b))
		for dec.More() {
			var c Change
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
	}
	return out
}

func changeLine(tenant, ds, key, typ, field, old, nw string) string {
	return fmt.Sprintf("%s %s %s %s %s %q -> %q", tenant, ds, key, typ, field, old, nw)
}

func driftLines(cs []Change) []string {
	var out []string
	for _, c := range cs {
		var o, n string
		if c.ChangeType == Update {
			o, n = *c.PreviousValue, *c.NewValue
		}
		out = append(out, changeLine(c.TenantID, c.Dataset, c.Key, string(c.ChangeType), c.Field, o, n))
	}
	sort.Strings(out)
	return out
}

func simLines(cs []centralsim.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, changeLine(c.TenantHexID, c.Dataset, c.Key, c.Type, c.Field, c.Old, c.New))
	}
	sort.Strings(out)
	return out
}

// TestDriftMatchesSimulator: the first run reports no drift; after the
// simulator changes some tenants, the drift records are exactly its changes.
func TestDriftMatchesSimulator(t *testing.T) {
	e := newSimEnv(t, []int{40, 0, 120, 25})
	t0 := time.Now().UTC().Truncate(time.Second) // the simulator's clock places the Expire end dates
	man, sum := e.collect(t, "run-1", t0)
	if !man.Complete {
		t.Fatalf("run 1 incomplete: %+v", man.Totals)
	}
	if sum.Totals.Changes != 0 || len(e.readChanges(t, sum)) != 0 {
		t.Fatalf("first run reported %d changes", sum.Totals.Changes)
	}
	if sum.Totals.DatasetsFirst == 0 {
		t.Fatal("no baseline made")
	}
	ts := e.sim.Tenants()
	want := e.sim.Mutate(centralsim.MutateOptions{Tenants: []string{ts[0].HexID, ts[2].HexID},
		Add: 2, Remove: 2, Move: 2, Refirmware: 2, Renew: 1, End: 1, Expire: 1})
	if len(want) < 20 {
		t.Fatalf("the simulator made only %d changes", len(want))
	}
	t.Logf("simulator changes: %d", len(want))
	man, sum = e.collect(t, "run-2", t0.Add(time.Hour))
	if !man.Complete {
		t.Fatalf("run 2 incomplete: %+v", man.Totals)
	}
	got := e.readChanges(t, sum)
	if g, w := driftLines(got), simLines(want); !slices.Equal(g, w) {
		t.Errorf("drift differs from the simulator's changes:\n got %d: %q\nwant %d: %q", len(g), g, len(w), w)
	}
	for _, c := range got {
		if c.PreviousRunID != "run-1" || c.RunID != "run-2" || c.TenantName == "" || !c.PreviousTime.Equal(t0) {
			t.Fatalf("change lacks run ids, times or name: %+v", c)
		}
	}
	if sum.Totals.Changes != len(want) {
		t.Errorf("summary counts %d changes, want %d", sum.Totals.Changes, len(want))
	}
	var expiring int
	for _, ta := range sum.Tenants {
		for _, f := range ta.Findings {
			if f.Rule == RuleSubscriptionExpiring && f.New {
				expiring++
			}
		}
	}
	var wantExp int // end dates the simulator moved into the 30-day window
	for _, c := range want {
		if end, err := time.Parse(time.RFC3339, c.New); err == nil && c.Field == "endTime" {
			if left := end.Sub(t0.Add(time.Hour)); left >= 0 && left <= 30*24*time.Hour {
				wantExp++
			}
		}
	}
	if expiring != wantExp || wantExp == 0 {
		t.Errorf("%d new subscription-expiring findings, want %d (> 0)", expiring, wantExp)
	}
	// A third run without changes: no drift.
	_, sum = e.collect(t, "run-3", t0.Add(2*time.Hour))
	if sum.Totals.Changes != 0 {
		t.Errorf("run 3 reported %d changes", sum.Totals.Changes)
	}
	if sum.Totals.Findings == 0 || sum.Totals.NewFindings != 0 {
		t.Errorf("run 3: %d findings, %d new; want some, none new", sum.Totals.Findings, sum.Totals.NewFindings)
	}
}

// TestFailedDatasetNoDeletes: devices removed while the devices dataset
// fails produce no DELETE for it, and its baseline is kept so the next
// complete run reports the removal.
func TestFailedDatasetNoDeletes(t *testing.T) {
	e := newSimEnv(t, []int{60})
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	e.collect(t, "run-1", t0)
	tn := e.sim.Tenants()[0]
	want := e.sim.Mutate(centralsim.MutateOptions{Remove: 3})
	e.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{{Endpoint: centralsim.EndpointDevices, Tenant: tn.HexID, ServerErrorRate: 1}}})
	man, sum := e.collect(t, "run-2", t0.Add(time.Hour))
	if d := man.Tenants[0].Dataset("devices"); d == nil || d.Status != collector.StatusFailed {
		t.Fatalf("devices dataset did not fail: %+v", d)
	}
	for _, c := range e.readChanges(t, sum) {
		if c.Dataset == "devices" {
			t.Errorf("failed dataset reported %+v", c)
		}
		if c.ChangeType != Delete {
			t.Errorf("unexpected change %+v", c)
		}
	}
	e.sim.SetFaults(centralsim.Faults{})
	_, sum = e.collect(t, "run-3", t0.Add(2*time.Hour))
	var devDeletes int
	for _, c := range e.readChanges(t, sum) {
		if c.Dataset == "devices" && c.ChangeType == Delete && c.PreviousRunID == "run-1" {
			devDeletes++
		}
	}
	var wantDev int
	for _, c := range want {
		if c.Dataset == "devices" {
			wantDev++
		}
	}
	if devDeletes != wantDev || wantDev != 3 {
		t.Errorf("run 3: %d device deletions against the run-1 baseline, want %d (3)", devDeletes, wantDev)
	}
	// The device rules were not evaluated in run 2: their state was carried
	// over, so run 3's device findings are not new.
	for _, f := range sum.Tenants[0].Findings {
		if f.New && f.Dataset == "devices" {
			t.Errorf("run 3: finding %s is new", f.ID)
		}
	}
}

// TestRefusedBaselineIsReplaced: a corrupt baseline is refused, reported,
// and replaced; no drift is made from it.
func TestRefusedBaselineIsReplaced(t *testing.T) {
	e := newSimEnv(t, []int{10})
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	e.collect(t, "run-1", t0)
	tn := e.sim.Tenants()[0]
	p := e.dir.Path(BaselineKey(tn.HexID, "devices"))
	if err := os.WriteFile(p, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, sum := e.collect(t, "run-2", t0.Add(time.Hour))
	var st string
	for _, d := range sum.Tenants[0].Datasets {
		if d.Dataset == "devices" {
			st = d.Status
		}
	}
	if st != StatusRefused || sum.Totals.Changes != 0 {
		t.Fatalf("devices status %q, %d changes", st, sum.Totals.Changes)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeBaseline(data, tn.HexID, "devices"); err != nil {
		t.Fatalf("baseline not replaced: %v", err)
	}
}
