package collector

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// TestRunToMotoS3 collects into moto_server's S3 through sink.Open (the
// environment-driven configuration the Lambda uses), then checks with the SDK
// and the aws CLI that exactly the healthy tenants' objects exist, hold the
// simulator's records, and that no multipart upload is left pending.
func TestRunToMotoS3(t *testing.T) {
	mt := testenv.StartMoto(t)
	awsBin := testenv.RequireTool(t, "aws")
	mt.SetEnv(t)
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	ctx := t.Context()
	client := s3.NewFromConfig(mt.AWSConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("inv")}); err != nil {
		t.Fatal(err)
	}

	// Tenant 1's "devices" (2 pages) fails on its second page, after the
	// first was streamed: that object must be aborted.
	var victim string
	env := newSimEnvRT(t, []int{5, 1200, 0, 1500}, func(sim *centralsim.Server, next http.RoundTripper) http.RoundTripper {
		victim = sim.Tenants()[3].HexID
		return failPageRT{sim: sim, next: next, path: "/network-monitoring/v1/devices", tenant: victim}
	})
	tenants := tenantsOf(t, env.msp)
	broken := tenants[2]
	env.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{
		{Endpoint: centralsim.EndpointToken, Tenant: broken.ID, ServerErrorRate: 1},
	}})

	snk, err := sink.Open(ctx, "s3://inv/msp", true)
	if err != nil {
		t.Fatal(err)
	}
	datasets := []string{"devices", "aps", "subscriptions"}
	m, err := Run(ctx, Config{MSP: FromMSP(env.msp), Sink: snk, RunID: "r-s3", Datasets: datasets})
	if err != nil {
		t.Fatal(err)
	}
	if m.Totals.TenantsOK != 2 || m.Totals.TenantsFailed != 2 {
		t.Fatalf("totals %+v", m.Totals)
	}
	vd := m.Tenant(victim).Dataset("devices")
	if vd.Status != StatusFailed || vd.Error.Class != ClassAPIError || vd.Key != "" || vd.APICalls < 2 {
		t.Fatalf("victim devices: %+v", vd)
	}

	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("inv")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, o := range list.Contents {
		got[aws.ToString(o.Key)] = true
	}
	want := map[string]bool{"msp/" + ManifestKey("r-s3"): true}
	for _, tn := range tenants[:2] {
		for _, ds := range datasets {
			want["msp/"+ObjectKey(ds, m.Date, "r-s3", tn.ID)] = true
		}
	}
	// The victim's other datasets are complete and stored.
	want["msp/"+ObjectKey("aps", m.Date, "r-s3", victim)] = true
	want["msp/"+ObjectKey("subscriptions", m.Date, "r-s3", victim)] = true
	if len(got) != len(want) {
		t.Errorf("objects: got %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("missing %s", k)
		}
	}
	ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("inv")})
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("pending multipart uploads: %v %v", ups, err)
	}

	// The aws CLI lists and reads them.
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, awsBin, append([]string{"--endpoint-url", mt.Endpoint}, args...)...)
		cmd.Env = append(os.Environ(), mt.Env()...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}
	ls := string(run("s3", "ls", "--recursive", "s3://inv/msp/inventory/"))
	if strings.Count(ls, ".ndjson.gz") != 8 || strings.Contains(ls, broken.ID) {
		t.Fatalf("aws s3 ls:\n%s", ls)
	}
	tn := tenants[1]
	key := ObjectKey("devices", m.Date, "r-s3", tn.ID)
	raw := run("s3", "cp", "s3://inv/msp/"+key, "-")
	checkObject(t, raw, env.sim.Records(tn.ID, "devices"), tn, "r-s3", m.Tenant(tn.ID).Dataset("devices"))
	man := run("s3", "cp", "s3://inv/msp/"+ManifestKey("r-s3"), "-")
	back, err := ReadManifest(bytes.NewReader(man))
	if err != nil || back.Totals != m.Totals {
		t.Fatalf("manifest via CLI: %v", err)
	}
}
