// Package e2e holds the end-to-end proof of the main job: the centralmsp
// command line (token refresh, then collection) against the simulator with
// injected faults and moto_server's S3, checked object by object against the
// simulator's ground truth and read back with the aws CLI.
//
// The proof takes the command line as a Runner, so it runs in-process
// through cli.Main (e2e_test.go) without this package importing the CLI.
package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

// Runner runs the centralmsp command line in-process with args (no program
// name) and returns its exit status.
type Runner func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// Options size the proof.
type Options struct {
	// Tenants is the number of simulated tenants (at least 30).
	Tenants int
	// Seed is the simulator's seed.
	Seed int64
}

// Roles of particular tenants, by index in the simulator's generation order.
const (
	idxRevokedOK   = 3  // big: token revoked after page 1 of devices; re-exchange works
	idxExchangeBad = 10 // every exchange fails (also in the refresh)
	idxAPsBroken   = 11 // aps always answers 500: that dataset fails, the rest is stored
	idxStormA      = 12 // 429 storm on devices
	idxStormB      = 20 // 429 storm on devices
	idxRevokedBad  = 28 // big: token revoked after page 1 of devices; re-exchange fails
)

// tenantSize gives varied sizes: every 25th tenant (from 3) is big enough for
// several pages per dataset, every 9th (from 4) is empty, the rest are small.
func tenantSize(i int) int {
	switch {
	case i%25 == 3:
		return 2100 + (i%7)*50
	case i%9 == 4:
		return 0
	}
	return 3 + (i*53)%170
}

// Proof runs the whole scenario and fails t on any deviation.
func Proof(t *testing.T, opts Options, run Runner) {
	if opts.Tenants < 30 {
		t.Fatalf("e2e: Options.Tenants = %d, want at least 30", opts.Tenants)
	}
	mt := testenv.StartMoto(t)
	awsBin := testenv.RequireTool(t, "aws")
	mt.SetEnv(t)
	tmp := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(tmp, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(tmp, "none"))
	ctx := t.Context()

	const bucket, prefix, runID = "inventory", "msp", "e2e-run"
	s3c := s3.NewFromConfig(mt.AWSConfig(t), func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}

	// New Central at 1000 requests/s per account (client and simulator), so
	// 200 tenants take seconds; the GLP limits are the documented ones.
	sim := centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = opts.Tenants
		o.Seed = opts.Seed
		o.DevicesPerTenant = tenantSize
		o.Logger = slog.New(slog.DiscardHandler)
		o.RateLimits.Central = centralsim.Limit{Requests: 1000, Window: time.Second, Scope: centralsim.ScopeAccount}
	})
	t.Cleanup(sim.Close)
	tenants := sim.Tenants()
	id := func(i int) string { return tenants[i].HexID }
	credsPath := filepath.Join(tmp, "msp.yaml")
	if err := os.WriteFile(credsPath, sim.CredentialsYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(tmp, "token-cache")
	exchangeFails := centralsim.FaultRule{Endpoint: centralsim.EndpointToken, Tenant: id(idxExchangeBad), ServerErrorRate: 1}

	// 1. Token refresh: one tenant's exchange fails, every other is cached.
	sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{exchangeFails}})
	var out, errb bytes.Buffer
	code := run(ctx, []string{"refresh", "--credentials", credsPath, "--cache", cacheDir}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), id(idxExchangeBad)) {
		t.Fatalf("refresh: exit %d, want 1 naming tenant %s\nstdout:\n%s\nstderr:\n%s", code, id(idxExchangeBad), out.String(), errb.String())
	}
	if st := sim.Stats(); st.ExchangesByTenant[id(idxRevokedOK)] != 1 {
		t.Fatalf("refresh exchanged tenant %s %d times, want 1", id(idxRevokedOK), st.ExchangesByTenant[id(idxRevokedOK)])
	}

	// 2. Collection into S3 under faults.
	sim.ResetStats()
	sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{
		exchangeFails,
		{Endpoint: centralsim.EndpointToken, Tenant: id(idxRevokedBad), ServerErrorRate: 1},
		{Endpoint: centralsim.EndpointDevices, Tenant: id(idxRevokedBad), RevokeAfterPages: 1},
		{Endpoint: centralsim.EndpointDevices, Tenant: id(idxRevokedOK), RevokeAfterPages: 1},
		{Endpoint: centralsim.EndpointAPs, Tenant: id(idxAPsBroken), ServerErrorRate: 1},
		{Endpoint: centralsim.EndpointDevices, Tenant: id(idxStormA), TooManyRequestsFirst: 3},
		{Endpoint: centralsim.EndpointDevices, Tenant: id(idxStormB), TooManyRequestsFirst: 3},
		{Endpoint: centralsim.CentralPrefix + "/", ServerErrorRate: 0.03},
		{Endpoint: centralsim.EndpointGLPDevices, ServerErrorRate: 0.03},
	}})
	out.Reset()
	errb.Reset()
	started := time.Now()
	code = run(ctx, []string{"collect", "--credentials", credsPath, "--out", "s3://" + bucket + "/" + prefix,
		"--token-cache", cacheDir, "--s3-force-path-style", "--central-rate", "1000", "--concurrency", "16",
		"--run-id", runID}, &out, &errb)
	t.Logf("collect: exit %d in %s\n%s", code, time.Since(started).Round(time.Millisecond), out.String())
	if code != 1 {
		t.Fatalf("collect: exit %d, want 1 (some tenants fail)\nstderr:\n%s", code, errb.String())
	}
	st := sim.Stats()
	t.Logf("simulator: %d requests, %d 5xx, %d 429, %d 401, %d revocations, %d exchanges",
		st.Requests, st.ServerErrors, st.RateLimited, st.Unauthorized, st.Revocations, st.Exchanges)
	if st.Revocations < 2 || st.ServerErrors == 0 || st.RateLimited < 6 {
		t.Errorf("the faults did not all happen: %+v", st)
	}

	// 3. The manifest.
	man := readManifest(t, ctx, s3c, bucket, prefix+"/"+collector.ManifestKey(runID))
	if man.Complete || man.Totals.Tenants != opts.Tenants {
		t.Fatalf("manifest: complete %v, %d tenants; want incomplete, %d", man.Complete, man.Totals.Tenants, opts.Tenants)
	}
	wantFailed := map[string]bool{id(idxExchangeBad): true, id(idxRevokedBad): true, id(idxAPsBroken): true}
	for _, tr := range man.Tenants {
		if (tr.Status == collector.StatusFailed) != wantFailed[tr.ID] {
			t.Errorf("tenant %s (%s): status %s, error %+v", tr.ID, tr.Name, tr.Status, tr.Error)
		}
	}
	if tr := man.Tenant(id(idxExchangeBad)); tr == nil || tr.Error == nil || tr.Error.Class != collector.ClassLogin {
		t.Errorf("the tenant whose exchange fails: %+v", tr)
	}
	if d := man.Tenant(id(idxRevokedBad)).Dataset("devices"); d.Status != collector.StatusFailed || d.Pages < 1 || d.Key != "" || d.Unauthorized < 1 {
		t.Errorf("revoked tenant without a new token, devices: %+v (want failed after page 1, no object)", d)
	}
	if d := man.Tenant(id(idxRevokedOK)).Dataset("devices"); d.Status != collector.StatusOK || d.Unauthorized < 1 || d.Pages < 3 {
		t.Errorf("revoked tenant with a new token, devices: %+v (want ok after a 401)", d)
	}
	if d := man.Tenant(id(idxAPsBroken)).Dataset("aps"); d.Status != collector.StatusFailed || d.Key != "" {
		t.Errorf("broken aps: %+v", d)
	}
	for _, i := range []int{idxStormA, idxStormB} {
		if d := man.Tenant(id(i)).Dataset("devices"); d.Status != collector.StatusOK || d.RateLimited != 3 {
			t.Errorf("429 storm tenant %d devices: %+v (want ok after 3 answers 429)", i, d)
		}
	}

	// 4. Exactly the complete datasets are stored, each holding exactly the
	// simulator's records; nothing else, and no upload left pending.
	want := map[string]*collector.DatasetResult{}
	names := map[string]string{}
	for ti := range man.Tenants {
		tr := &man.Tenants[ti]
		names[tr.ID] = tr.Name
		for di := range tr.Datasets {
			d := &tr.Datasets[di]
			if d.Status == collector.StatusOK {
				want[prefix+"/"+collector.ObjectKey(d.Dataset, man.Date, runID, tr.ID)] = d
			} else if d.Key != "" {
				t.Errorf("%s/%s: %s but has key %s", tr.ID, d.Dataset, d.Status, d.Key)
			}
		}
	}
	if n := man.Totals.DatasetsOK; n != len(want) || n != 8*(opts.Tenants-3)+7 {
		t.Errorf("%d datasets ok (%d keys); want %d", n, len(want), 8*(opts.Tenants-3)+7)
	}
	got := listKeys(t, ctx, s3c, bucket, prefix+"/inventory/")
	for _, k := range got {
		if want[k] == nil {
			t.Errorf("unexpected object %s", k)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d objects stored, %d datasets complete", len(got), len(want))
	}
	ups, err := s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("pending multipart uploads: %v %v", ups, err)
	}
	var g errgroup.Group
	g.SetLimit(8)
	var mu sync.Mutex
	var records int64
	for key, d := range want {
		g.Go(func() error {
			obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				return fmt.Errorf("get %s: %w", key, err)
			}
			raw, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				return fmt.Errorf("read %s: %w", key, err)
			}
			tid := tenantOfKey(key)
			if err := sameRecords(raw, sim.Records(tid, d.Dataset), tid, names[tid], runID); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			mu.Lock()
			records += d.Records
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if records != man.Totals.Records || records == 0 {
		t.Errorf("checked %d records, manifest says %d", records, man.Totals.Records)
	}
	t.Logf("checked %d objects, %d records against the simulator", len(want), records)

	// 5. The aws CLI lists and reads them.
	aws := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, awsBin, append([]string{"--endpoint-url", mt.Endpoint}, args...)...)
		cmd.Env = append(os.Environ(), mt.Env()...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, stderr.String())
		}
		return b
	}
	ls := string(aws("s3", "ls", "--recursive", "s3://"+bucket+"/"+prefix+"/inventory/"))
	if n := strings.Count(ls, ".ndjson.gz"); n != len(want) || strings.Contains(ls, id(idxExchangeBad)) {
		t.Fatalf("aws s3 ls lists %d objects, want %d without tenant %s", n, len(want), id(idxExchangeBad))
	}
	key := collector.ObjectKey("devices", man.Date, runID, id(idxRevokedOK))
	raw := aws("s3", "cp", "s3://"+bucket+"/"+prefix+"/"+key, "-")
	if err := sameRecords(raw, sim.Records(id(idxRevokedOK), "devices"), id(idxRevokedOK), names[id(idxRevokedOK)], runID); err != nil {
		t.Fatalf("object read with the aws CLI: %v", err)
	}
}

// readManifest fetches and decodes a manifest.
func readManifest(t *testing.T, ctx context.Context, c *s3.Client, bucket, key string) *collector.Manifest {
	t.Helper()
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("manifest %s: %v", key, err)
	}
	defer obj.Body.Close()
	m, err := collector.ReadManifest(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// listKeys lists every key under prefix.
func listKeys(t *testing.T, ctx context.Context, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

// tenantOfKey returns the tenant id of an object key (".../tenant=<id>.ndjson.gz").
func tenantOfKey(key string) string {
	_, rest, _ := strings.Cut(key, "/tenant=")
	return strings.TrimSuffix(rest, ".ndjson.gz")
}

// sameRecords checks that a gzip NDJSON object holds exactly want, in order
// (so no duplicate and no gap), each line being the collector's added fields
// for the tenant and run followed by the item's own fields verbatim.
func sameRecords(raw []byte, want []json.RawMessage, tenantID, tenantName, runID string) error {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("gunzip: %w", err)
	}
	lines := bytes.Split(body, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) != len(want) {
		return fmt.Errorf("%d records, the simulator has %d", len(lines), len(want))
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	meta := []byte(`{"_tenant_id":` + q(tenantID) + `,"_tenant_name":` + q(tenantName) + `,"_run_id":` + q(runID) + `,"_collected_at":"`)
	var exp bytes.Buffer
	for i, line := range lines {
		rest, ok := bytes.CutPrefix(line, meta)
		if !ok {
			return fmt.Errorf("record %d: added fields %.120q", i, line)
		}
		at, item, ok := bytes.Cut(rest, []byte(`"`))
		if !ok {
			return fmt.Errorf("record %d: no _collected_at", i)
		}
		if _, err := time.Parse(time.RFC3339Nano, string(at)); err != nil {
			return fmt.Errorf("record %d: _collected_at: %w", i, err)
		}
		switch {
		case bytes.Equal(item, []byte("}")):
			item = []byte("{}")
		case bytes.HasPrefix(item, []byte(",")):
			item = append([]byte("{"), item[1:]...)
		default:
			return fmt.Errorf("record %d: unexpected %.60q after the added fields", i, item)
		}
		exp.Reset()
		if err := json.Compact(&exp, want[i]); err != nil {
			return err
		}
		if !bytes.Equal(item, exp.Bytes()) {
			return fmt.Errorf("record %d differs from the simulator's:\n got %.200s\nwant %.200s", i, item, exp.Bytes())
		}
	}
	return nil
}
