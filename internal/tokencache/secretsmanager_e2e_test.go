package tokencache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/centralmsp/centralmsp/internal/testenv"
)

// End-to-end tests against moto_server's Secrets Manager with the real AWS
// SDK. moto stamps versions with its own (real) clock, so the refresher's
// injected clock starts at the real time and only moves forward.

func startSM(t *testing.T) *secretsmanager.Client {
	t.Helper()
	m := testenv.StartMoto(t)
	return secretsmanager.NewFromConfig(m.AWSConfig(t))
}

func versionCount(t *testing.T, api *secretsmanager.Client, name string) int {
	t.Helper()
	out, err := api.ListSecretVersionIds(context.Background(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatalf("versions of %s: %v", name, err)
	}
	return len(out.Versions)
}

func allVersions(t *testing.T, api *secretsmanager.Client, b Backend) map[string]int {
	t.Helper()
	names, err := b.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, n := range names {
		out[n] = versionCount(t, api, n)
	}
	return out
}

func TestSecretsManagerBackendAgainstMoto(t *testing.T) {
	ctx := context.Background()
	api := startSM(t)
	b := NewSecretsManager(api, "alias/centralmsp-test")
	name := prefix + "/shard-0000"
	if _, err := b.Get(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := b.Latest(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("latest missing: %v", err)
	}
	tok := writeToken(name, refreshT, "")
	if err := b.Put(ctx, name, []byte(`{"a":1}`), PutOptions{Create: true, Token: tok}); err != nil {
		t.Fatal(err)
	}
	// A second create, or the same token with other data: conflict.
	if err := b.Put(ctx, name, []byte(`{"a":2}`), PutOptions{Create: true, Token: writeToken(name, refreshT.Add(time.Hour), "x")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	o, err := b.Get(ctx, name)
	if err != nil || string(o.Data) != `{"a":1}` || o.VersionID != tok || o.Written.IsZero() {
		t.Fatalf("get: %+v %v", o, err)
	}
	l, err := b.Latest(ctx, name)
	if err != nil || l.VersionID != o.VersionID {
		t.Fatalf("latest: %+v %v", l, err)
	}
	// moto dates versions with the real clock (whole seconds).
	if d := time.Since(l.Written); d < -2*time.Second || d > time.Minute {
		t.Errorf("LastChangedDate %s is %s from now", l.Written, d)
	}
	tok2 := writeToken(name, refreshT.Add(time.Hour), "x")
	if err := b.Put(ctx, name, []byte(`{"a":3}`), PutOptions{PrevVersionID: o.VersionID, Token: tok2}); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, name, []byte(`{"a":3}`), PutOptions{PrevVersionID: o.VersionID, Token: tok2}); err != nil {
		t.Fatalf("idempotent retry: %v", err)
	}
	if err := b.Put(ctx, name, []byte(`{"a":4}`), PutOptions{PrevVersionID: o.VersionID, Token: tok2}); !errors.Is(err, ErrConflict) {
		t.Fatalf("reused token: %v", err)
	}
	if n := versionCount(t, api, name); n != 2 {
		t.Errorf("%d versions", n)
	}
	l2, _ := b.Latest(ctx, name)
	if l2.VersionID != tok2 {
		t.Errorf("AWSCURRENT is %s", l2.VersionID)
	}
	desc, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil || aws.ToString(desc.KmsKeyId) != "alias/centralmsp-test" {
		t.Errorf("kms key: %v %v", aws.ToString(desc.KmsKeyId), err)
	}
	// List filters exactly by prefix.
	for _, n := range []string{"other/shard-0000", strings.ToUpper(prefix) + "/shard-0001"} {
		if err := b.Put(ctx, n, []byte("{}"), PutOptions{Create: true}); err != nil {
			t.Fatal(err)
		}
	}
	names, err := b.List(ctx, prefix+"/shard-")
	if err != nil || len(names) != 1 || names[0] != name {
		t.Errorf("list: %v %v", names, err)
	}
}

func TestRefresherAgainstMoto(t *testing.T) {
	ctx := context.Background()
	api := startSM(t)
	b := NewSecretsManager(api, "")
	clk := newClock(refreshMoment())
	src := newFakeSource(clk.Now, 70)
	src.lifetime = 66 * time.Minute // outlives the next run, not the next window
	r := newTestRefresher(t, b, src, clk.Now)

	res, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := loadAll(t, b, prefix)
	if len(before) != 70 || len(res.Written) != res.TenantSecrets+1 {
		t.Fatalf("first run: %d cached, %+v", len(before), res)
	}
	v1 := allVersions(t, api, b)

	t.Run("rerun within the write interval writes nothing", func(t *testing.T) {
		src.lifetime = 2 * time.Minute
		defer func() { src.lifetime = 66 * time.Minute }()
		clk2 := newClock(time.Now())
		src2 := newFakeSource(clk2.Now, 70)
		src2.lifetime = 2 * time.Minute // not fresh: only the 10-minute rule holds it back
		r2 := newTestRefresher(t, NewSecretsManager(api, ""), src2, clk2.Now, func(o *RefresherOptions) { o.Prefix = prefix + "/short" })
		if _, err := r2.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		clk2.Add(12 * time.Minute)
		ex := src2.exchangeCount()
		res, err := r2.Refresh(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Written) != 0 || res.Counts[SkipRecent] != res.TenantSecrets+1 || src2.exchangeCount() != ex {
			t.Fatalf("re-run: %+v", res)
		}
	})

	// Next window: one tenant fails with a still valid token, one tenant is
	// new, 60 more arrive (growth).
	kept := tenantID(3)
	src.setFail(kept, errors.New("503"))
	src.addTenants(70, 130)
	clk.Add(time.Hour)
	res, err = r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := loadAll(t, b, prefix)
	if len(after) != 130 || res.NewTenantSecrets == 0 {
		t.Fatalf("growth: %d cached, %+v", len(after), res)
	}
	for id, e := range before {
		if after[id].Shard != e.Shard {
			t.Errorf("tenant %s moved from %s to %s", id, e.Shard, after[id].Shard)
		}
	}
	if k := after[kept].Entry; k.Token != before[kept].Entry.Token || k.Status != StatusOK || k.ErrorClass == "" {
		t.Errorf("failed tenant's entry: %s", k)
	}
	if len(res.Failures) != 1 || !res.Failures[0].KeptPrevious {
		t.Errorf("failures %+v", res.Failures)
	}
	v2 := allVersions(t, api, b)
	for n, c := range v1 {
		if strings.Contains(n, "/short/") {
			continue
		}
		if v2[n] != c+1 {
			t.Errorf("%s: %d versions after the second window, had %d", n, v2[n], c)
		}
	}

	t.Run("reader", func(t *testing.T) {
		rd, err := NewReader(ReaderOptions{Prefix: prefix, Backend: NewSecretsManager(api, ""), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 130 {
			if _, err := rd.TenantToken(ctx, tenantID(i), time.Minute); err != nil {
				t.Errorf("tenant %d: %v", i, err)
			}
		}
		if _, err := rd.TenantToken(ctx, "00000000000000000000000000000000", time.Minute); !errors.Is(err, ErrMiss) {
			t.Errorf("unknown: %v", err)
		}
		if _, err := rd.TenantToken(ctx, tenantID(1), 2*time.Hour); !errors.Is(err, ErrMiss) {
			t.Errorf("too long: %v", err)
		}
		if st := rd.Stats(); st.Hits != 130 || st.Misses != 2 || st.LoadErrors != 0 {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("malformed shard writes nothing", func(t *testing.T) {
		bad := CacheSecretName(prefix, 1)
		if _, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(bad), SecretString: aws.String("{" + canary)}); err != nil {
			t.Fatal(err)
		}
		vBefore := allVersions(t, api, b)
		clk.Add(time.Hour)
		_, err := r.Refresh(ctx)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Name != bad {
			t.Fatalf("err = %v", err)
		}
		assertNoCanary(t, "error", err.Error())
		vAfter := allVersions(t, api, b)
		if len(vAfter) != len(vBefore) {
			t.Errorf("secrets %d -> %d", len(vBefore), len(vAfter))
		}
		for n, c := range vBefore {
			if vAfter[n] != c {
				t.Errorf("%s: %d -> %d versions", n, c, vAfter[n])
			}
		}
	})
}

func TestOverlappingRefreshersAgainstMoto(t *testing.T) {
	ctx := context.Background()
	api := startSM(t)
	clk := newClock(refreshMoment())
	// Two refreshers with their own sources (so their tokens differ) and
	// their own clients, released together.
	var rs []*Refresher
	var srcs []*fakeSource
	for i := range 2 {
		src := newFakeSource(clk.Now, 100)
		src.tag = fmt.Sprint(i)
		srcs = append(srcs, src)
		rs = append(rs, newTestRefresher(t, NewSecretsManager(api, ""), src, clk.Now))
	}
	b := NewSecretsManager(api, "")
	for round := range 3 {
		var wg sync.WaitGroup
		results := make([]*Result, len(rs))
		errs := make([]error, len(rs))
		// Both refreshers have read every shard before either writes one:
		// exchanges wait until both are exchanging.
		gate := make(chan struct{})
		for _, s := range srcs {
			s.gate, s.entered = gate, make(chan struct{}, 1)
		}
		for i, r := range rs {
			wg.Go(func() { results[i], errs[i] = r.Refresh(ctx) })
		}
		for _, s := range srcs {
			<-s.entered
		}
		close(gate)
		wg.Wait()
		for i, err := range errs {
			if err != nil && !strings.Contains(err.Error(), "nothing could be written") {
				t.Fatalf("round %d refresher %d: %v", round, i, err)
			}
		}
		v := allVersions(t, api, b)
		if len(v) != 5 { // 4 shards + msp
			t.Fatalf("round %d: secrets %v", round, v)
		}
		for n, c := range v {
			if c != round+1 {
				t.Errorf("round %d: %s has %d versions", round, n, c)
			}
		}
		if got := loadAll(t, b, prefix); len(got) != 100 {
			t.Errorf("round %d: %d tenants cached", round, len(got))
		}
		t.Logf("round %d: written %d + %d, skipped %v + %v", round, len(results[0].Written), len(results[1].Written), results[0].Counts, results[1].Counts)
		// One version per secret and round (checked above) is the guarantee.
		// moto checks a reused ClientRequestToken and stores the version in
		// two steps, so under load both writers of one version may be told
		// it succeeded; Secrets Manager answers the second one
		// ResourceExistsException. Fewer writes than secrets is a failure.
		switch w := len(results[0].Written) + len(results[1].Written); {
		case w < len(v):
			t.Errorf("round %d: %d successful writes for %d secrets", round, w, len(v))
		case w > len(v):
			t.Logf("round %d: %d writes reported for %d secrets, each with one version: moto accepted a repeated idempotent write", round, w, len(v))
		}
		clk.Add(time.Hour)
	}
}
