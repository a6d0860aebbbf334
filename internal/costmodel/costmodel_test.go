package costmodel

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/collector"
)

func smallCase() (Run, Config) {
	run := Run{Source: "test", Tenants: 10, ObjectsPerTenant: 8, APICallsPerTenant: 10, BytesPerTenant: 100_000,
		CollectorSecondsPerTenant: 1, RefreshSecondsPerTenant: 0.1}
	cfg := Config{RunsPerMonth: 730, RetentionDays: 30, CollectorMemoryMB: 1024, RefresherMemoryMB: 512,
		InvocationSeconds: 840, TenantsPerCacheSecret: 30, IdleSQSPollers: 5, SQSLongPollSeconds: 20}
	return run, cfg
}

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.12f, want %.12f", name, got, want)
	}
}

// TestComputeSmallCase checks the arithmetic by hand for 10 tenants.
func TestComputeSmallCase(t *testing.T) {
	run, cfg := smallCase()
	e, err := Compute(run, cfg, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Lambda: 730 runs x (10 s x 1 GB + 1 s x 0.5 GB) = 7,665 GB-s; 2 requests per run.
	near(t, "GB-s", e.LambdaGBSeconds, 7665)
	near(t, "requests", e.LambdaRequests, 1460)
	near(t, "Lambda $", e.Lambda, 7665*0.0000133334+1460.0/1e6*0.20)
	// Secrets: 1 cache shard + MSP entry + credentials = 3 secrets.
	// Calls per run: refresher 1 + 1 list + 3 x 2 = 8; collector 1 + 1 + 2 = 4.
	if e.Secrets != 3 {
		t.Errorf("secrets = %d, want 3", e.Secrets)
	}
	near(t, "SM calls", e.SecretsAPICalls, 730*12)
	near(t, "SM $", e.SecretsManager, 3*0.40+8760.0/1e4*0.05)
	// KMS: 2 x 2 (refresher get+put) + 1 x 2 (collector reads) = 6 per run.
	near(t, "KMS requests", e.KMSRequests, 730*6)
	near(t, "KMS $", e.KMS, 1+4380.0/1e4*0.03)
	// S3: 80 objects + 1 manifest PUT, 1 GET per run.
	near(t, "S3 PUT", e.S3Puts, 730*81)
	near(t, "S3 GET", e.S3Gets, 730)
	near(t, "S3 requests $", e.S3Requests, 59130.0/1e3*0.005+730.0/1e3*0.0004)
	// Storage: 1,000,000 B per run x 24 runs/day x 30 days.
	near(t, "stored GB", e.S3StoredGB, 720e6/(1<<30))
	near(t, "storage $", e.S3Storage, 720e6/(1<<30)*0.023)
	// SQS: no shards; 5 pollers x 20 s long polls all month.
	near(t, "SQS requests", e.SQSRequests, 5*730*3600/20.0)
	near(t, "SQS $", e.SQS, 657000.0/1e6*0.40)
	near(t, "total", e.Total, 0.102492511+1.2438+1.01314+0.295942+720e6/(1<<30)*0.023+0.2628)
	if e.Invocations != 1 || e.Shards != 0 || e.RunLongerThanSlot {
		t.Errorf("invocations %d shards %d longer %v, want 1 0 false", e.Invocations, e.Shards, e.RunLongerThanSlot)
	}
}

// TestComputeShards checks the split into shards when one invocation
// cannot finish: 2,000 s of work at 840 s per invocation = 3 shards.
func TestComputeShards(t *testing.T) {
	run, cfg := smallCase()
	e, err := Compute(run, cfg, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if e.Shards != 3 || e.Invocations != 4 {
		t.Fatalf("shards %d invocations %d, want 3 and 4", e.Shards, e.Invocations)
	}
	near(t, "SQS requests", e.SQSRequests, 730*9+657000)
	near(t, "S3 PUT", e.S3Puts, 730*(16000+1+3+1))
	near(t, "S3 GET", e.S3Gets, 730*4)
	// 67 cache shards (+MSP entry), 1 list page; 4 collector invocations.
	near(t, "SM calls", e.SecretsAPICalls, 730*((1+1+3*68)+4*(1+1+68)))
	near(t, "requests", e.LambdaRequests, 730*5)
	if e.Secrets != 69 {
		t.Errorf("secrets = %d, want 69", e.Secrets)
	}
	// 10,000 tenants at 1 s each exceed the hour between runs.
	e, _ = Compute(run, cfg, 10000)
	if !e.RunLongerThanSlot {
		t.Error("10,000 s per run should be flagged as longer than the hourly slot")
	}
}

func TestComputeRejectsBadInput(t *testing.T) {
	run, cfg := smallCase()
	if _, err := Compute(run, cfg, 0); err == nil {
		t.Error("0 tenants accepted")
	}
	bad := run
	bad.BytesPerTenant = -1
	if _, err := Compute(bad, cfg, 10); err == nil {
		t.Error("negative bytes accepted")
	}
	badCfg := cfg
	badCfg.TenantsPerCacheSecret = 0
	if _, err := Compute(run, badCfg, 10); err == nil {
		t.Error("0 tenants per shard accepted")
	}
	badCfg = cfg
	badCfg.RunsPerMonth = math.NaN()
	if _, err := Compute(run, badCfg, 10); err == nil {
		t.Error("NaN runs accepted")
	}
}

func TestFromManifest(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	m := &collector.Manifest{Version: collector.ManifestVersion, RunID: "r1", StartedAt: start, FinishedAt: start.Add(40 * time.Second),
		Totals: collector.Totals{Tenants: 5, TenantsOK: 3, TenantsFailed: 1, TenantsDeferred: 1,
			DatasetsOK: 30, APICalls: 48, Bytes: 400_000}}
	r, err := FromManifest(m, "m.json")
	if err != nil {
		t.Fatal(err)
	}
	// 4 measured tenants (deferred ones do not count); duration from the times.
	near(t, "objects", r.ObjectsPerTenant, 7.5)
	near(t, "calls", r.APICallsPerTenant, 12)
	near(t, "bytes", r.BytesPerTenant, 100_000)
	near(t, "seconds", r.CollectorSecondsPerTenant, 10)
	if r.Tenants != 4 || !strings.Contains(r.Source, "m.json") {
		t.Errorf("tenants %d source %q", r.Tenants, r.Source)
	}
	// Round trip through the collector's own encoding.
	m.Totals.DurationMS = 20_000
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := readManifest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r, err = FromManifest(m2, "m.json")
	if err != nil {
		t.Fatal(err)
	}
	near(t, "seconds from duration_ms", r.CollectorSecondsPerTenant, 5)

	if _, err := FromManifest(&collector.Manifest{}, "empty"); err == nil {
		t.Error("manifest without tenants accepted")
	}
}

func TestWriteTable(t *testing.T) {
	run, cfg := smallCase()
	var ests []Estimate
	for _, n := range []int{100, 1000, 10000} {
		e, err := Compute(run, cfg, n)
		if err != nil {
			t.Fatal(err)
		}
		ests = append(ests, e)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, run, cfg, ests); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"10,000", "Lambda", "Secrets Manager", "S3 storage", "SQS", "total/month", PriceDate, "warning: at 10,000 tenants"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "999": "999", "1000": "1,000", "1234567": "1,234,567", "-1000": "-1,000"} {
		if got := groupDigits(in); got != want {
			t.Errorf("groupDigits(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCacheSecretsHook(t *testing.T) {
	run, cfg := smallCase()
	cfg.CacheSecrets = func(n int) int { return n / 5 } // 10 tenants -> 2 shards
	e, err := Compute(run, cfg, 10)
	if err != nil {
		t.Fatal(err)
	}
	if e.Secrets != 4 {
		t.Errorf("secrets = %d, want 2 shards + MSP entry + credentials = 4", e.Secrets)
	}
}
