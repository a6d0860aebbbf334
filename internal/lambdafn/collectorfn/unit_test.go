package collectorfn

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
	"github.com/centralmsp/centralmsp/internal/scaleout"
	"github.com/centralmsp/centralmsp/pkg/central"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	good := map[string]string{
		EnvBucket: "inv", EnvPrefix: "/msp/", EnvCredentialsSecret: "creds", EnvTokenCachePrefix: "centralmsp/tokens",
		EnvConcurrency: "16", EnvDatasets: "devices, aps", EnvForcePathStyle: "true",
		EnvShardQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/shards", EnvShardConcurrency: "4",
		EnvShardSize: "500", EnvShardFraction: "0.4", EnvRunWindow: "50m", EnvCentralScope: "Workspace",
		EnvGLPScope: "account", EnvCentralRate: "20", EnvGLPDevicesRate: "120", EnvGLPSubsRate: "30",
		EnvEventBus: " centralmsp ",
	}
	c, err := ConfigFromEnv(envOf(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Bucket != "inv" || c.Prefix != "msp/" || c.Concurrency != 16 || len(c.Datasets) != 2 || !c.ForcePathStyle ||
		c.ShardConcurrency != 4 || c.ShardSize != 500 || c.ShardFraction != 0.4 || c.RunWindow != 50*time.Minute ||
		c.CentralScope != "workspace" || c.GLPScope != "account" || c.CentralRate != 20 || c.EventBus != "centralmsp" {
		t.Fatalf("%+v", c)
	}
	b := c.Budgets(1)
	if s, _ := b.Spec(central.BudgetCentral); s.Scope != central.ScopeWorkspace || s.Rate != 20 {
		t.Errorf("central %+v", s)
	}
	if s, _ := b.Spec(central.BudgetGLPDevices); s.Scope != central.ScopeAccount || s.Rate != 2 {
		t.Errorf("glp-devices %+v", s)
	}
	// A shard divides the account-scoped budgets only.
	b = c.Budgets(4)
	if s, _ := b.Spec(central.BudgetCentral); s.Rate != 20 {
		t.Errorf("workspace-scoped central divided: %+v", s)
	}
	if s, _ := b.Spec(central.BudgetGLPDevices); s.Rate != 0.5 || s.Burst != 1 {
		t.Errorf("glp-devices shard share %+v", s)
	}
	if s, _ := b.Spec(central.BudgetGLP); s.Rate != rate.Inf {
		t.Errorf("unlimited glp %+v", s)
	}
	def, err := ConfigFromEnv(envOf(map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c"}))
	if err != nil || def.ShardConcurrency != DefaultShardConcurrency || def.Concurrency != 8 || def.ShardQueueURL != "" || def.EventBus != "" {
		t.Fatalf("defaults %+v %v", def, err)
	}
	if s, _ := def.Budgets(2).Spec(central.BudgetCentral); s.Rate != 4 || s.Scope != central.ScopeAccount {
		t.Errorf("default central shard share %+v", s)
	}

	for name, c := range map[string]struct {
		env  map[string]string
		want []string
	}{
		"missing":           {map[string]string{}, []string{EnvBucket + " is not set", EnvCredentialsSecret + " is not set"}},
		"bucket with slash": {map[string]string{EnvBucket: "b/p", EnvCredentialsSecret: "c"}, []string{EnvBucket, EnvPrefix}},
		"concurrency":       {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvConcurrency: "0"}, []string{EnvConcurrency + `="0"`}},
		"shard concurrency": {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvShardConcurrency: "x"}, []string{EnvShardConcurrency}},
		"datasets":          {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvDatasets: "devices,nope"}, []string{EnvDatasets, `"nope"`}},
		"path style":        {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvForcePathStyle: "maybe"}, []string{EnvForcePathStyle}},
		"queue":             {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvShardQueueURL: "shards"}, []string{EnvShardQueueURL}},
		"scope":             {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvCentralScope: "tenant"}, []string{EnvCentralScope}},
		"fraction":          {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvShardFraction: "1.5"}, []string{EnvShardFraction}},
		"rate":              {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvCentralRate: "-1"}, []string{EnvCentralRate}},
		"window":            {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvRunWindow: "soon"}, []string{EnvRunWindow}},
		"cache prefix":      {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvTokenCachePrefix: "bad prefix/"}, []string{EnvTokenCachePrefix}},
		"memory": {map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvConcurrency: "64", envconf.EnvFunctionMemory: "128"},
			[]string{EnvConcurrency + `="64"`, "at most 18 in a 128 MB function", "280 MB (CollectorMemorySize)"}},
	} {
		_, err := ConfigFromEnv(envOf(c.env))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not mention %q", name, err, w)
			}
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	cases := []struct {
		name, raw string
		kind      Kind
		errLike   string
	}{
		{"rule", `{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`, KindScheduled, ""},
		{"scheduler string detail", `{"source":"aws.scheduler","detail-type":"Scheduled Event","detail":"{}"}`, KindScheduled, ""},
		{"audit", `{"source":"centralmsp.audit","detail-type":"AuditRequest","detail":{"tenants":["a"],"since":"2026-11-23T00:00:00Z"}}`, KindAudit, ""},
		{"audit string detail", `{"source":"centralmsp.audit","detail-type":"AuditRequest","detail":"{\"since\":\"2026-11-23T00:00:00+01:00\"}"}`, KindAudit, ""},
		{"audit bad since", `{"source":"centralmsp.audit","detail-type":"AuditRequest","detail":{"since":"yesterday"}}`, "", "RFC 3339"},
		{"audit no since", `{"source":"centralmsp.audit","detail-type":"AuditRequest","detail":{"tenants":[]}}`, "", "RFC 3339"},
		{"audit unknown field", `{"source":"centralmsp.audit","detail-type":"AuditRequest","detail":{"since":"2026-11-23T00:00:00Z","until":"x"}}`, "", "until"},
		{"audit wrong type", `{"source":"centralmsp.audit","detail-type":"Other","detail":{}}`, "", "detail-type"},
		{"other source", `{"source":"aws.s3","detail-type":"Object Created","detail":{}}`, "", `"aws.s3"`},
		{"sqs", `{"Records":[{"messageId":"m","body":"{}","eventSource":"aws:sqs"}]}`, KindShards, ""},
		{"sns records", `{"Records":[{"EventSource":"aws:sns"}]}`, "", "aws:sqs"},
		{"direct empty", `{}`, KindDirect, ""},
		{"direct", `{"tenants":["Acme"],"datasets":["aps"],"run_id":"r1"}`, KindDirect, ""},
		{"direct unknown", `{"tenant":["Acme"]}`, "", `unknown field "tenant"`},
		{"direct trailing", `{} {}`, "", "after"},
		{"array", `[1]`, "", "not a JSON object"},
		{"empty", ``, "", "not a JSON object"},
	}
	for _, c := range cases {
		inv, err := DecodeEvent([]byte(c.raw))
		if c.errLike != "" {
			var ee *EventError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), c.errLike) {
				t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.errLike)
			}
			continue
		}
		if err != nil || inv.Kind != c.kind {
			t.Errorf("%s: %+v %v", c.name, inv, err)
		}
	}
	inv, _ := DecodeEvent([]byte(`{"source":"centralmsp.audit","detail-type":"AuditRequest","detail":{"since":"2026-11-23T01:00:00+01:00"}}`))
	since, err := inv.Audit.SinceTime()
	if f := scaleout.AuditLogsFilter(since); err != nil || f != "createdAt ge '2026-11-23T00:00:00Z'" {
		t.Errorf("filter %q", f)
	}
}

// TestConfigConcurrencyFitsMemory: a concurrency whose streams fit the
// function's memory is taken, the template's defaults included, and
// without Lambda's memory variable (a local run) nothing is checked.
func TestConfigConcurrencyFitsMemory(t *testing.T) {
	for _, c := range []struct{ concurrency, mb string }{
		{"16", "128"}, {"18", "128"}, {"132", "512"}, {"256", ""}, {"256", "1024"},
	} {
		env := map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvConcurrency: c.concurrency, envconf.EnvFunctionMemory: c.mb}
		if _, err := ConfigFromEnv(envOf(env)); err != nil {
			t.Errorf("concurrency %s in %q MB: %v", c.concurrency, c.mb, err)
		}
	}
	env := map[string]string{EnvBucket: "b", EnvCredentialsSecret: "c", EnvConcurrency: "133", envconf.EnvFunctionMemory: "512"}
	if _, err := ConfigFromEnv(envOf(env)); err == nil || !strings.Contains(err.Error(), "at most 132 in a 512 MB function") {
		t.Errorf("concurrency 133 in 512 MB: %v", err)
	}
}
