// Package e2e holds the end-to-end proof of the main job: the centralmsp
// command line (token refresh, then collection) against the simulator with
// injected faults and moto_server's S3, checked object by object against the
// simulator's ground truth and read back with the aws CLI.
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

	"github.com/centralmsp/centralmsp/internal/cli"
	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/testenv"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
)

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

const bucket, prefix, runID = "inventory", "msp", "e2e-run"

// proof is the state the phases share.
type proof struct {
	tenants   int
	moto      *testenv.Moto
	awsBin    string
	s3c       *s3.Client
	sim       *centralsim.Server
	ids       []string
	credsPath string
	cacheDir  string
	man       *collector.Manifest
	// want maps the key of every stored object to its dataset's result.
	want  map[string]*collector.DatasetResult
	names map[string]string
}

func (p *proof) id(i int) string { return p.ids[i] }

// run runs the command line in-process and returns its exit status and
// output.
func (p *proof) run(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errb, Logger: slog.New(slog.DiscardHandler)}
	code = cli.Main(ctx, env, args)
	return code, out.String(), errb.String()
}

// TestProof is the end-to-end proof: 200 tenants (40 with -short) with
// injected faults, collected into moto_server's S3 through the command line.
func TestProof(t *testing.T) {
	p := &proof{tenants: 200}
	if testing.Short() {
		p.tenants = 40
	}
	p.setup(t, 7)
	for _, phase := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"refresh", p.refresh},
		{"collect", p.collect},
		{"manifest", p.checkManifest},
		{"objects", p.checkObjects},
		{"aws-cli", p.checkAWSCLI},
	} {
		if !t.Run(phase.name, phase.fn) {
			t.Fatalf("phase %s failed; later phases need it", phase.name)
		}
	}
}

// setup starts moto and the simulator and writes the credentials.
func (p *proof) setup(t *testing.T, seed int64) {
	p.moto = testenv.StartMoto(t)
	p.awsBin = testenv.RequireTool(t, "aws")
	p.moto.SetEnv(t)
	tmp := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(tmp, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(tmp, "none"))
	p.s3c = s3.NewFromConfig(p.moto.AWSConfig(t), func(o *s3.Options) {
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	if _, err := p.s3c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	// New Central at 1000 requests/s per account (client and simulator), so
	// 200 tenants take seconds; the GLP limits are the documented ones.
	p.sim = centralsim.NewServer(func(o *centralsim.Options) {
		o.Tenants = p.tenants
		o.Seed = seed
		o.DevicesPerTenant = tenantSize
		o.Logger = slog.New(slog.DiscardHandler)
		o.RateLimits.Central = centralsim.Limit{Requests: 1000, Window: time.Second, Scope: centralsim.ScopeAccount}
	})
	t.Cleanup(p.sim.Close)
	for _, tn := range p.sim.Tenants() {
		p.ids = append(p.ids, tn.HexID)
	}
	p.credsPath = filepath.Join(tmp, "msp.yaml")
	if err := os.WriteFile(p.credsPath, p.sim.CredentialsYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cacheDir = filepath.Join(tmp, "token-cache")
}

func (p *proof) exchangeFails() centralsim.FaultRule {
	return centralsim.FaultRule{Endpoint: centralsim.EndpointToken, Tenant: p.id(idxExchangeBad), ServerErrorRate: 1}
}

// refresh: one tenant's exchange fails, every other is cached.
func (p *proof) refresh(t *testing.T) {
	p.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{p.exchangeFails()}})
	code, out, errb := p.run(t.Context(), "refresh", "--credentials", p.credsPath, "--cache", p.cacheDir)
	if code != 1 {
		t.Errorf("refresh: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errb)
	}
	if !strings.Contains(out, p.id(idxExchangeBad)) {
		t.Errorf("refresh output does not name tenant %s:\n%s", p.id(idxExchangeBad), out)
	}
	if got := p.sim.Stats().ExchangesByTenant[p.id(idxRevokedOK)]; got != 1 {
		t.Errorf("refresh exchanged tenant %s %d times, want 1", p.id(idxRevokedOK), got)
	}
}

// collect runs the collection into S3 under faults.
func (p *proof) collect(t *testing.T) {
	id := p.id
	p.sim.ResetStats()
	p.sim.SetFaults(centralsim.Faults{Rules: []centralsim.FaultRule{
		p.exchangeFails(),
		{Endpoint: centralsim.EndpointToken, Tenant: id(idxRevokedBad), ServerErrorRate: 1},
		{Endpoint: centralsim.EndpointDevices, Tenant: id(idxRevokedBad), RevokeAfterPages: 1},
		{Endpoint: centralsim.EndpointDevices, Tenant: id(idxRevokedOK), RevokeAfterPages: 1},
		{Endpoint: centralsim.EndpointAPs, Tenant: id(idxAPsBroken), ServerErrorRate: 1},
		{Endpoint: centralsim.EndpointDevices, Tenant: id(idxStormA), TooManyRequestsFirst: 3},
		{Endpoint: centralsim.EndpointDevices, Tenant: id(idxStormB), TooManyRequestsFirst: 3},
		{Endpoint: centralsim.CentralPrefix + "/", ServerErrorRate: 0.03},
		{Endpoint: centralsim.EndpointGLPDevices, ServerErrorRate: 0.03},
	}})
	started := time.Now()
	code, out, errb := p.run(t.Context(), "collect", "--credentials", p.credsPath, "--out", "s3://"+bucket+"/"+prefix,
		"--token-cache", p.cacheDir, "--s3-force-path-style", "--central-rate", "1000", "--concurrency", "16",
		"--run-id", runID)
	t.Logf("collect: exit %d in %s\n%s", code, time.Since(started).Round(time.Millisecond), out)
	if code != 1 {
		t.Fatalf("collect: exit %d, want 1 (some tenants fail)\nstderr:\n%s", code, errb)
	}
	st := p.sim.Stats()
	t.Logf("simulator: %d requests, %d 5xx, %d 429, %d 401, %d revocations, %d exchanges",
		st.Requests, st.ServerErrors, st.RateLimited, st.Unauthorized, st.Revocations, st.Exchanges)
	if st.Revocations < 2 {
		t.Errorf("revocations = %d, want at least 2", st.Revocations)
	}
	if st.ServerErrors == 0 {
		t.Error("no server error was injected")
	}
	if st.RateLimited < 6 {
		t.Errorf("answers 429 = %d, want at least 6", st.RateLimited)
	}
	p.man = readManifest(t, t.Context(), p.s3c, bucket, prefix+"/"+collector.ManifestKey(runID))
}

// checkManifest checks the run manifest tenant by tenant.
func (p *proof) checkManifest(t *testing.T) {
	man, id := p.man, p.id
	if man.Complete {
		t.Error("manifest complete = true, want false")
	}
	if man.Totals.Tenants != p.tenants {
		t.Errorf("manifest tenants = %d, want %d", man.Totals.Tenants, p.tenants)
	}
	wantFailed := map[string]bool{id(idxExchangeBad): true, id(idxRevokedBad): true, id(idxAPsBroken): true}
	for _, tr := range man.Tenants {
		if (tr.Status == collector.StatusFailed) != wantFailed[tr.ID] {
			var failed []string
			for _, d := range tr.Datasets {
				if d.Status != collector.StatusOK {
					failed = append(failed, fmt.Sprintf("%s %s %+v", d.Dataset, d.Status, d.Error))
				}
			}
			t.Errorf("tenant %d %s (%s): status %s, error %+v, datasets not ok %v", slices.Index(p.ids, tr.ID), tr.ID, tr.Name, tr.Status, tr.Error, failed)
		}
	}
	if tr := man.Tenant(id(idxExchangeBad)); tr == nil || tr.Error == nil {
		t.Errorf("the tenant whose exchange fails has no error: %+v", tr)
	} else if tr.Error.Class != collector.ClassLogin {
		t.Errorf("the tenant whose exchange fails: class %q, want %q", tr.Error.Class, collector.ClassLogin)
	}
	p.checkRevoked(t)
	if d := man.Tenant(id(idxAPsBroken)).Dataset("aps"); d.Status != collector.StatusFailed {
		t.Errorf("broken aps: status %s, want failed", d.Status)
	} else if d.Key != "" {
		t.Errorf("broken aps: key %q, want none", d.Key)
	}
	for _, i := range []int{idxStormA, idxStormB} {
		d := man.Tenant(id(i)).Dataset("devices")
		if d.Status != collector.StatusOK {
			t.Errorf("429 storm tenant %d devices: status %s, want ok", i, d.Status)
		}
		if d.RateLimited != 3 {
			t.Errorf("429 storm tenant %d devices: rate limited %d, want 3", i, d.RateLimited)
		}
	}
}

// checkRevoked checks the two tenants whose token is revoked after the
// first page of devices.
func (p *proof) checkRevoked(t *testing.T) {
	bad := p.man.Tenant(p.id(idxRevokedBad)).Dataset("devices")
	if bad.Status != collector.StatusFailed {
		t.Errorf("revoked tenant without a new token, devices: status %s, want failed", bad.Status)
	}
	if bad.Pages < 1 {
		t.Errorf("revoked tenant without a new token, devices: %d pages, want at least 1", bad.Pages)
	}
	if bad.Key != "" {
		t.Errorf("revoked tenant without a new token, devices: key %q, want none", bad.Key)
	}
	// Its datasets run side by side: whichever request met the revoked
	// token first got the 401, and the failed re-exchange fails the rest.
	var unauthorized int64
	for _, d := range p.man.Tenant(p.id(idxRevokedBad)).Datasets {
		unauthorized += d.Unauthorized
	}
	if unauthorized < 1 || bad.Error == nil || bad.Error.Class != collector.ClassLogin {
		t.Errorf("revoked tenant without a new token: %d answers 401, devices error %+v; want at least 1 and a login failure", unauthorized, bad.Error)
	}
	ok := p.man.Tenant(p.id(idxRevokedOK)).Dataset("devices")
	if ok.Status != collector.StatusOK {
		t.Errorf("revoked tenant with a new token, devices: status %s, want ok", ok.Status)
	}
	unauthorized = 0
	for _, d := range p.man.Tenant(p.id(idxRevokedOK)).Datasets {
		unauthorized += d.Unauthorized
		if d.Status != collector.StatusOK {
			t.Errorf("revoked tenant with a new token, %s: status %s, want ok", d.Dataset, d.Status)
		}
	}
	if unauthorized < 1 {
		t.Errorf("revoked tenant with a new token: %d answers 401, want at least 1", unauthorized)
	}
	if ok.Pages < 3 {
		t.Errorf("revoked tenant with a new token, devices: %d pages, want at least 3", ok.Pages)
	}
}

// checkObjects: exactly the complete datasets are stored, each holding
// exactly the simulator's records; nothing else, and no upload left
// pending.
func (p *proof) checkObjects(t *testing.T) {
	ctx, man := t.Context(), p.man
	p.want, p.names = map[string]*collector.DatasetResult{}, map[string]string{}
	for ti := range man.Tenants {
		tr := &man.Tenants[ti]
		p.names[tr.ID] = tr.Name
		for di := range tr.Datasets {
			d := &tr.Datasets[di]
			if d.Status == collector.StatusOK {
				p.want[prefix+"/"+collector.ObjectKey(d.Dataset, man.Date, runID, tr.ID)] = d
			} else if d.Key != "" {
				t.Errorf("%s/%s: %s but has key %s", tr.ID, d.Dataset, d.Status, d.Key)
			}
		}
	}
	// The tenant whose token is revoked mid-run keeps the datasets that
	// completed before (its datasets run side by side); each is checked
	// against the simulator below like any other.
	var revokedOK int
	if tr := man.Tenant(p.id(idxRevokedBad)); tr != nil {
		for _, d := range tr.Datasets {
			if d.Status == collector.StatusOK {
				revokedOK++
			}
		}
	}
	if n, want := man.Totals.DatasetsOK, 8*(p.tenants-3)+7+revokedOK; n != want || revokedOK > 7 {
		t.Errorf("%d datasets ok (%d of the revoked tenant's); want %d", n, revokedOK, want)
	}
	if n := len(p.want); n != man.Totals.DatasetsOK {
		t.Errorf("%d keys of datasets ok; want %d", n, man.Totals.DatasetsOK)
	}
	got := listKeys(t, ctx, p.s3c, bucket, prefix+"/inventory/")
	// The MSP-level tenant-health object (one per run) is checked apart.
	msp := slices.DeleteFunc(slices.Clone(got), func(k string) bool { return !strings.HasSuffix(k, "/msp.ndjson.gz") })
	got = slices.DeleteFunc(got, func(k string) bool { return strings.HasSuffix(k, "/msp.ndjson.gz") })
	if len(msp) != man.Totals.MSPDatasetsOK {
		t.Errorf("%d MSP-level objects, %d MSP-level datasets complete", len(msp), man.Totals.MSPDatasetsOK)
	}
	for _, k := range got {
		if p.want[k] == nil {
			t.Errorf("unexpected object %s", k)
		}
	}
	if len(got) != len(p.want) {
		t.Errorf("%d objects stored, %d datasets complete", len(got), len(p.want))
	}
	ups, err := p.s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads pending, want 0", len(ups.Uploads))
	}
	records, err := p.checkRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if records == 0 {
		t.Error("no record checked")
	}
	if records != man.Totals.Records {
		t.Errorf("checked %d records, manifest says %d", records, man.Totals.Records)
	}
	t.Logf("checked %d objects, %d records against the simulator", len(p.want), records)
}

// checkRecords reads every stored object and compares it with the
// simulator's records; it returns the records checked.
func (p *proof) checkRecords(ctx context.Context) (int64, error) {
	var g errgroup.Group
	g.SetLimit(8)
	var mu sync.Mutex
	var records int64
	for key, d := range p.want {
		g.Go(func() error {
			obj, err := p.s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				return fmt.Errorf("get %s: %w", key, err)
			}
			raw, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				return fmt.Errorf("read %s: %w", key, err)
			}
			tid := tenantOfKey(key)
			if err := sameRecords(raw, p.sim.Records(tid, d.Dataset), tid, p.names[tid], runID); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			mu.Lock()
			records += d.Records
			mu.Unlock()
			return nil
		})
	}
	return records, g.Wait()
}

// checkAWSCLI: the aws CLI lists and reads the objects.
func (p *proof) checkAWSCLI(t *testing.T) {
	awsCLI := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), p.awsBin, append([]string{"--endpoint-url", p.moto.Endpoint}, args...)...)
		cmd.Env = append(os.Environ(), p.moto.Env()...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, stderr.String())
		}
		return b
	}
	ls := string(awsCLI("s3", "ls", "--recursive", "s3://"+bucket+"/"+prefix+"/inventory/"))
	if n := strings.Count(ls, ".ndjson.gz") - strings.Count(ls, "/msp.ndjson.gz"); n != len(p.want) {
		t.Errorf("aws s3 ls lists %d objects, want %d", n, len(p.want))
	}
	if strings.Contains(ls, p.id(idxExchangeBad)) {
		t.Errorf("aws s3 ls lists tenant %s, whose exchange fails", p.id(idxExchangeBad))
	}
	tid := p.id(idxRevokedOK)
	raw := awsCLI("s3", "cp", "s3://"+bucket+"/"+prefix+"/"+collector.ObjectKey("devices", p.man.Date, runID, tid), "-")
	if err := sameRecords(raw, p.sim.Records(tid, "devices"), tid, p.names[tid], runID); err != nil {
		t.Errorf("object read with the aws CLI: %v", err)
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
