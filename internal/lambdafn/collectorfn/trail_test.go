package collectorfn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/centralmsp/centralmsp/internal/audittrail"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/tokencache"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// fakeSM serves the credentials secret from memory.
type fakeSM struct {
	tokencache.SecretsManagerAPI
	creds string
}

func (f fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return &secretsmanager.GetSecretValueOutput{Name: in.SecretId, SecretString: aws.String(f.creds)}, nil
}

// failingStore fails every watermark read of one tenant.
type failingStore struct {
	audittrail.Store
	tenant string
}

func (f failingStore) Get(ctx context.Context, key string) ([]byte, string, error) {
	if strings.Contains(key, f.tenant) {
		return nil, "", errors.New("injected watermark read failure")
	}
	return f.Store.Get(ctx, key)
}

// memHandler is a handler on the simulator with an in-memory sink and
// watermark store, no queue (scheduled runs are in-process) and no audit.
func memHandler(t *testing.T, tenants int) (*Handler, *centralsim.Server, *sink.Memory, audittrail.SinkStore) {
	t.Helper()
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = tenants
		o.Seed = 3
		o.DevicesPerTenant = func(i int) int { return 20 + 10*i }
		o.RateLimits = centralsim.RateLimits{}
	})
	t.Cleanup(sim.Close)
	mem, wm := sink.NewMemory(), audittrail.SinkStore{Sink: sink.NewMemory()}
	h := &Handler{
		Config: Config{Bucket: "inv", CredentialsSecret: "creds", Concurrency: 2, Datasets: []string{"glp-devices"},
			AuditTrail: true, AuditLookback: 365 * 24 * time.Hour},
		Store: mem, Watermarks: wm, SecretsManager: fakeSM{creds: string(sim.CredentialsYAML())},
		Stdout: io.Discard, Logger: slog.New(slog.DiscardHandler),
		MSPOptions: []func(*msp.Options){func(o *msp.Options) { o.HTTPClient = sim.Client() }},
	}
	return h, sim, mem, wm
}

func scheduledEvent(t *testing.T) json.RawMessage {
	t.Helper()
	ev, err := json.Marshal(awsevents.EventBridgeEvent{Version: "0", ID: "x", DetailType: "Scheduled Event", Source: SourceEvents,
		AccountID: "123456789012", Time: time.Now().UTC(), Region: "us-east-1", Resources: []string{}, Detail: json.RawMessage("{}")})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func handleSummary(t *testing.T, h *Handler, raw json.RawMessage) *Summary {
	t.Helper()
	out, err := h.Handle(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return out.(*Summary)
}

// TestScheduledRunsAuditTrail: the scheduled in-process run copies every
// collected tenant's audit log behind its watermark; the next run finds
// nothing new; CENTRALMSP_AUDIT_TRAIL=false runs no trail.
func TestScheduledRunsAuditTrail(t *testing.T) {
	h, sim, mem, wm := memHandler(t, 3)
	sum := handleSummary(t, h, scheduledEvent(t))
	if sum.Mode != "in-process" || sum.TenantsOK != 3 {
		t.Fatalf("mode %q tenants_ok %d warnings %v", sum.Mode, sum.TenantsOK, sum.Warnings)
	}
	tr := sum.AuditTrail
	if tr == nil || len(tr.Tenants) != 3 || tr.Written != 3 || tr.Failed != 0 {
		t.Fatalf("audit trail %+v, warnings %v", tr, sum.Warnings)
	}
	want := 0
	for _, tn := range sim.Tenants() {
		want += len(sim.Records(tn.HexID, "audit-logs"))
		if _, _, err := wm.Get(context.Background(), audittrail.WatermarkKey(tn.HexID)); err != nil {
			t.Errorf("tenant %s watermark: %v", tn.HexID, err)
		}
	}
	if tr.Records != want {
		t.Errorf("trail records %d, want the simulator's %d", tr.Records, want)
	}
	for _, r := range tr.Tenants {
		for _, k := range r.Keys {
			if _, ok := mem.Object(k); !ok || !strings.HasPrefix(k, "inventory/dataset="+audittrail.Dataset+"/") {
				t.Errorf("trail object %s missing or misplaced", k)
			}
		}
	}
	again := handleSummary(t, h, scheduledEvent(t))
	if again.AuditTrail == nil || again.AuditTrail.Records != 0 || again.AuditTrail.Written != 0 {
		t.Errorf("second run's trail %+v, want nothing new", again.AuditTrail)
	}
	h.Config.AuditTrail = false
	if off := handleSummary(t, h, scheduledEvent(t)); off.AuditTrail != nil {
		t.Errorf("trail ran with %s=false: %+v", EnvAuditTrail, off.AuditTrail)
	}
}

// TestAuditTrailTenantFailureIsolated: one tenant's failing watermark is a
// warning and a failed trail entry; the inventory and the other tenants'
// trail succeed. A missing watermark store skips the trail with a warning.
func TestAuditTrailTenantFailureIsolated(t *testing.T) {
	h, sim, _, wm := memHandler(t, 3)
	bad := sim.Tenants()[1].HexID
	h.Watermarks = failingStore{Store: wm, tenant: bad}
	sum := handleSummary(t, h, scheduledEvent(t))
	if sum.TenantsOK != 3 || sum.TenantsFailed != 0 {
		t.Fatalf("inventory: ok %d failed %d", sum.TenantsOK, sum.TenantsFailed)
	}
	tr := sum.AuditTrail
	if tr == nil || tr.Written != 2 || tr.Failed != 1 {
		t.Fatalf("audit trail %+v", tr)
	}
	found := false
	for _, w := range sum.Warnings {
		found = found || strings.Contains(w, "audit trail: tenant "+bad)
	}
	if !found {
		t.Errorf("no warning names the failed tenant: %v", sum.Warnings)
	}
	h.Watermarks = nil
	sum = handleSummary(t, h, scheduledEvent(t))
	if sum.AuditTrail != nil || !strings.Contains(strings.Join(sum.Warnings, "\n"), "no watermark store") {
		t.Errorf("without a store: trail %+v warnings %v", sum.AuditTrail, sum.Warnings)
	}
}

// TestAuditRequestRunsAuditTrail: an AuditRequest collects the
// since-filtered audit-logs dataset and runs the trail for its tenants
// (named by id or name).
func TestAuditRequestRunsAuditTrail(t *testing.T) {
	h, sim, _, wm := memHandler(t, 3)
	tn := sim.Tenants()
	detail, _ := json.Marshal(AuditRequest{Tenants: []string{tn[0].HexID, tn[2].Name}, Since: "2000-01-01T00:00:00Z"})
	ev, _ := json.Marshal(awsevents.EventBridgeEvent{Version: "0", ID: "x", DetailType: DetailTypeAudit, Source: SourceAudit,
		AccountID: "123456789012", Time: time.Now().UTC(), Region: "us-east-1", Resources: []string{}, Detail: detail})
	sum := handleSummary(t, h, ev)
	if sum.Kind != KindAudit || sum.TenantsOK != 2 {
		t.Fatalf("kind %s tenants_ok %d", sum.Kind, sum.TenantsOK)
	}
	if sum.AuditTrail == nil || sum.AuditTrail.Written != 2 {
		t.Fatalf("audit trail %+v warnings %v", sum.AuditTrail, sum.Warnings)
	}
	if _, _, err := wm.Get(context.Background(), audittrail.WatermarkKey(tn[1].HexID)); !errors.Is(err, audittrail.ErrNotExist) {
		t.Errorf("unnamed tenant's watermark: %v, want none", err)
	}
}

// TestAuditTrailConfig: CENTRALMSP_AUDIT_TRAIL defaults on with a 24h
// look-back; both are validated.
func TestAuditTrailConfig(t *testing.T) {
	base := map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c"}
	c, err := ConfigFromEnv(envOf(base))
	if err != nil || !c.AuditTrail || c.AuditLookback != 24*time.Hour {
		t.Fatalf("defaults: trail %v look-back %v, %v", c.AuditTrail, c.AuditLookback, err)
	}
	base[EnvAuditTrail], base[EnvAuditLookback] = "false", "72h"
	if c, err = ConfigFromEnv(envOf(base)); err != nil || c.AuditTrail || c.AuditLookback != 72*time.Hour {
		t.Fatalf("set: trail %v look-back %v, %v", c.AuditTrail, c.AuditLookback, err)
	}
	for k, v := range map[string]string{EnvAuditTrail: "sometimes", EnvAuditLookback: "-1h"} {
		env := map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", k: v}
		if _, err := ConfigFromEnv(envOf(env)); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}
