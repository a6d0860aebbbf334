package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const prefix = "centralmsp/tokens"

func TestRefreshWritesCacheSecretsAndMSP(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 100)
	logger, logs := logBuffer()
	r := newTestRefresher(t, mem, src, clk.Now, func(o *RefresherOptions) { o.Logger = logger })

	res, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.WindowStart.Equal(refreshT) || !res.WindowEnd.Equal(refreshT.Add(8*time.Minute)) {
		t.Errorf("window = %s..%s", res.WindowStart, res.WindowEnd)
	}
	if res.Tenants != 100 || res.Exchanged != 100 || len(res.Failures) != 0 || res.NewTenants != 100 {
		t.Errorf("result = %+v", res)
	}
	got := loadAll(t, mem, prefix)
	if len(got) != 100 {
		t.Fatalf("%d tenants cached", len(got))
	}
	for id, g := range got {
		e := g.Entry
		if e.Status != StatusOK || !strings.Contains(e.Token, id) || !e.Expiry.Equal(clk.Now().Add(899*time.Second)) || !strings.HasPrefix(e.Name, "Tenant ") {
			t.Errorf("entry %s", e)
		}
	}
	if res.TenantSecrets < 4 || len(res.Written) != res.TenantSecrets+1 {
		t.Errorf("shards %d written %v", res.TenantSecrets, res.Written)
	}
	for n, size := range res.Sizes {
		if size > DefaultLayout().TargetBytes {
			t.Errorf("%s is %d bytes, over the target", n, size)
		}
	}
	o, err := mem.Get(ctx, MSPName(prefix))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := DecodeCacheSecret(o.Name, o.Data)
	if err != nil || doc.Kind != KindMSP || len(doc.Entries) != 1 || doc.Entries[0].Status != StatusOK {
		t.Fatalf("msp object: %v %+v", err, doc)
	}
	if src.maxInFlight.Load() > 4 {
		t.Errorf("%d exchanges in flight, limit 4", src.maxInFlight.Load())
	}
	js, _ := json.Marshal(res)
	assertNoCanary(t, "result", string(js))
	assertNoCanary(t, "logs", logs.String())
}

func TestRefreshSkipsFreshAndRecent(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 40)
	r := newTestRefresher(t, mem, src, clk.Now)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	puts, ex := mem.Calls()["Put"], src.exchangeCount()

	// A retry a few minutes later: every entry outlives the window.
	clk.Add(3 * time.Minute)
	res, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mem.Calls()["Put"] != puts || src.exchangeCount() != ex || res.Counts[SkipFresh] != res.TenantSecrets+1 {
		t.Fatalf("fresh re-run wrote or exchanged: %+v", res)
	}

	// Tokens that do not outlive the window, re-run within 10 minutes:
	// nothing is exchanged or written either.
	src.lifetime = 2 * time.Minute
	clk2 := newClock(refreshT.Add(-5 * time.Minute))
	mem2 := NewMemory(clk2.Now)
	src2 := newFakeSource(clk2.Now, 40)
	src2.lifetime = 2 * time.Minute
	r2 := newTestRefresher(t, mem2, src2, clk2.Now)
	if _, err := r2.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	puts, ex = mem2.Calls()["Put"], src2.exchangeCount()
	clk2.Add(9 * time.Minute)
	res, err = r2.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mem2.Calls()["Put"] != puts || src2.exchangeCount() != ex {
		t.Fatalf("re-run within 10 minutes wrote or exchanged: %+v", res)
	}
	if res.Counts[SkipRecent] != res.TenantSecrets+1 {
		t.Errorf("skips = %+v", res.Skipped)
	}
	// 14 minutes: still within MinWriteInterval (15).
	clk2.Add(5 * time.Minute)
	res, err = r2.Refresh(ctx)
	if err != nil || len(res.Written) != 0 || src2.exchangeCount() != ex {
		t.Fatalf("14 minutes later: %+v %v", res, err)
	}
	// 16 minutes after the first write it writes again.
	clk2.Add(2 * time.Minute)
	res, err = r2.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written) != res.TenantSecrets+1 || mem2.Versions(CacheSecretName(prefix, 0)) != 2 {
		t.Errorf("written %v", res.Written)
	}
}

func TestRefreshFailedTenantKeepsValidEntry(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 10)
	src.lifetime = 66 * time.Minute // outlives the next refresh, not the next window
	r := newTestRefresher(t, mem, src, clk.Now)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before := loadAll(t, mem, prefix)

	kept, lost := tenantID(3), tenantID(7)
	src.setFail(kept, &oauth2.RetrieveError{Response: &http.Response{StatusCode: 429}, ErrorCode: "rate_limited"})
	src.setFail(lost, errors.New("boom"))
	src.addTenants(10, 11) // a new tenant that fails has no previous entry
	newID := tenantID(10)
	src.setFail(newID, context.DeadlineExceeded)
	clk.Add(time.Hour)
	// lost's previous token expired: simulate by making it expire earlier.
	res, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := loadAll(t, mem, prefix)
	k := after[kept].Entry
	if k.Status != StatusOK || k.Token != before[kept].Entry.Token || k.ErrorClass != "rate_limited" {
		t.Errorf("kept entry = %s class %q", k, k.ErrorClass)
	}
	n := after[newID].Entry
	if n.Status != StatusFailed || n.Token != "" || n.ErrorClass != "timeout" {
		t.Errorf("new failed entry = %s class %q", n, n.ErrorClass)
	}
	if after[tenantID(1)].Entry.Token == before[tenantID(1)].Entry.Token {
		t.Error("a healthy tenant was not refreshed")
	}
	var classes []string
	for _, f := range res.Failures {
		classes = append(classes, fmt.Sprintf("%s:%s:%v", f.TenantID[:4], f.Class, f.KeptPrevious))
	}
	if len(res.Failures) != 3 {
		t.Fatalf("failures = %v", classes)
	}
	for _, f := range res.Failures {
		switch f.TenantID {
		case kept:
			if !f.KeptPrevious || f.Class != "rate_limited" {
				t.Errorf("kept failure = %+v", f)
			}
		case lost:
			if !f.KeptPrevious || f.Class != "error" { // still valid: kept
				t.Errorf("lost failure = %+v", f)
			}
		case newID:
			if f.KeptPrevious {
				t.Errorf("new failure = %+v", f)
			}
		}
	}

	// Once the previous token has expired, a failure marks the entry failed.
	clk.Add(time.Hour)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	l := loadAll(t, mem, prefix)[lost].Entry
	if l.Status != StatusFailed || l.Token != "" || l.ErrorClass != "error" {
		t.Errorf("expired failed entry = %s", l)
	}
}

func TestRefreshGrowthKeepsAssignment(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 45)
	r := newTestRefresher(t, mem, src, clk.Now)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before := loadAll(t, mem, prefix)
	shardsBefore, _ := mem.List(ctx, prefix+"/shard-")

	src.addTenants(45, 200)
	clk.Add(time.Hour)
	res, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := loadAll(t, mem, prefix)
	if len(after) != 200 {
		t.Fatalf("%d tenants cached", len(after))
	}
	for id, b := range before {
		if after[id].Shard != b.Shard {
			t.Errorf("tenant %s moved from %s to %s", id, b.Shard, after[id].Shard)
		}
	}
	shardsAfter, _ := mem.List(ctx, prefix+"/shard-")
	if len(shardsAfter) <= len(shardsBefore) || res.NewTenantSecrets != len(shardsAfter)-len(shardsBefore) || res.NewTenants != 155 {
		t.Errorf("shards %d -> %d, result %+v", len(shardsBefore), len(shardsAfter), res)
	}
	// Every shard but the last is filled close to the target.
	for _, n := range shardsAfter[:len(shardsAfter)-1] {
		o, _ := mem.Get(ctx, n)
		if len(o.Data) < DefaultLayout().TargetBytes*8/10 {
			t.Errorf("%s holds only %d bytes", n, len(o.Data))
		}
	}
}

func TestRefreshDropsTenantsOnlyWhenListComplete(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 20)
	r := newTestRefresher(t, mem, src, clk.Now)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// The list breaks after 5 tenants: nobody is dropped, the listed are refreshed.
	src.listErrAt = 5
	clk.Add(time.Hour)
	res, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ListComplete || res.ListError == "" || res.Dropped != 0 || len(loadAll(t, mem, prefix)) != 20 {
		t.Fatalf("incomplete list: %+v", res)
	}
	// A complete list without tenant 0 drops it.
	src.listErrAt = 0
	src.mu.Lock()
	src.tenants = src.tenants[1:]
	src.mu.Unlock()
	clk.Add(time.Hour)
	res, err = r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := loadAll(t, mem, prefix)
	if _, ok := got[tenantID(0)]; ok || res.Dropped != 1 || len(got) != 19 {
		t.Fatalf("drop: %+v, %d cached", res, len(got))
	}
}

func TestRefreshMalformedShardWritesNothing(t *testing.T) {
	ctx := context.Background()
	for name, data := range map[string]string{
		"not json":       "{not json",
		"wrong format":   `{"format":"other","version":1,"kind":"tenant-shard","entries":[]}`,
		"future version": `{"format":"centralmsp-token-cache","version":9,"kind":"tenant-shard","entries":[]}`,
		"wrong index":    `{"format":"centralmsp-token-cache","version":1,"kind":"tenant-shard","index":4,"entries":[]}`,
		"ok without tok": `{"format":"centralmsp-token-cache","version":1,"kind":"tenant-shard","index":1,"entries":[{"tenant_id":"a","status":"ok"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			clk := newClock(refreshT.Add(-5 * time.Minute))
			mem := NewMemory(clk.Now)
			src := newFakeSource(clk.Now, 40)
			r := newTestRefresher(t, mem, src, clk.Now)
			if _, err := r.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			bad := CacheSecretName(prefix, 1)
			mem.Set(bad, []byte(data+canary))
			puts, ex := mem.Calls()["Put"], src.exchangeCount()
			clk.Add(time.Hour)
			res, err := r.Refresh(ctx)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Name != bad || res != nil {
				t.Fatalf("err = %v, res = %+v", err, res)
			}
			if !strings.Contains(err.Error(), bad) {
				t.Errorf("error does not name the secret: %v", err)
			}
			assertNoCanary(t, "error", err.Error())
			if mem.Calls()["Put"] != puts || src.exchangeCount() != ex {
				t.Error("a malformed shard still led to writes or exchanges")
			}
		})
	}
}

func TestRefreshMSPTokenFailureWritesNothing(t *testing.T) {
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 10)
	src.mspErr = errors.New("invalid_client")
	r := newTestRefresher(t, mem, src, clk.Now)
	_, err := r.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "MSP token") {
		t.Fatalf("err = %v", err)
	}
	if mem.Calls()["Put"] != 0 || src.exchangeCount() != 0 {
		t.Error("wrote or exchanged without an MSP token")
	}
}

// failingPuts is a backend whose writes all fail.
type failingPuts struct{ *Memory }

func (f failingPuts) Put(ctx context.Context, name string, data []byte, o PutOptions) error {
	return errors.New("AccessDeniedException: not authorized")
}

func TestRefreshFailsWhenNothingWritten(t *testing.T) {
	clk := newClock(refreshT.Add(-5 * time.Minute))
	src := newFakeSource(clk.Now, 10)
	r := newTestRefresher(t, failingPuts{NewMemory(clk.Now)}, src, clk.Now)
	res, err := r.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "nothing could be written") || res == nil || len(res.Errors) == 0 {
		t.Fatalf("err = %v, res = %+v", err, res)
	}
}

// TestRefreshRecordsEveryFailedExchange: failed exchanges are data, not a
// failed invocation (only a missing MSP token or nothing written
// fails it); the failures are listed and written to the cache.
func TestRefreshRecordsEveryFailedExchange(t *testing.T) {
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 5)
	for i := range 5 {
		src.setFail(tenantID(i), errors.New("down"))
	}
	r := newTestRefresher(t, mem, src, clk.Now)
	res, err := r.Refresh(context.Background())
	if err != nil || res == nil || len(res.Failures) != 5 || len(res.Written) == 0 {
		t.Fatalf("err = %v, res = %+v", err, res)
	}
	// The failures are recorded in the cache.
	for _, g := range loadAll(t, mem, prefix) {
		if g.Entry.Status != StatusFailed {
			t.Errorf("entry %s", g.Entry)
		}
	}
}

func TestOverlappingRefreshersWriteEachShardOnce(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src1, src2 := newFakeSource(clk.Now, 90), newFakeSource(clk.Now, 90)
	src1.tag, src2.tag = "a", "b"
	r1 := newTestRefresher(t, mem, src1, clk.Now)
	r2 := newTestRefresher(t, mem, src2, clk.Now)
	// First window: both create; then a second window: both update.
	for round := range 2 {
		var wg sync.WaitGroup
		var results [2]*Result
		var errs [2]error
		for i, r := range []*Refresher{r1, r2} {
			wg.Go(func() { results[i], errs[i] = r.Refresh(ctx) })
		}
		wg.Wait()
		for i := range 2 {
			if errs[i] != nil {
				t.Fatalf("round %d refresher %d: %v", round, i, errs[i])
			}
		}
		names, _ := mem.List(ctx, prefix)
		for _, n := range names {
			if v := mem.Versions(n); v != round+1 {
				t.Errorf("round %d: %s has %d versions", round, n, v)
			}
		}
		if w := len(results[0].Written) + len(results[1].Written); w != len(names) {
			t.Errorf("round %d: %d writes for %d objects: %+v\n%+v", round, w, len(names), results[0], results[1])
		}
		clk.Add(time.Hour)
	}
}

func TestWriteToken(t *testing.T) {
	a := writeToken("p/shard-0001", refreshT, "v1")
	if len(a) != 36 || a != writeToken("p/shard-0001", refreshT, "v1") || a == writeToken("p/shard-0002", refreshT, "v1") ||
		a == writeToken("p/shard-0001", refreshT.Add(time.Hour), "v1") || a == writeToken("p/shard-0001", refreshT, "v2") {
		t.Fatalf("token %q", a)
	}
}

func TestDefaultClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("x: %w", context.Canceled), "canceled"},
		{&oauth2.RetrieveError{Response: &http.Response{StatusCode: 401}}, "unauthorized"},
		{&oauth2.RetrieveError{Response: &http.Response{StatusCode: 503}}, "server"},
		{errors.New("?"), "error"},
	} {
		if got := DefaultClassify(c.err); got != c.want {
			t.Errorf("%v: %q, want %q", c.err, got, c.want)
		}
	}
}

func TestNewRefresherValidates(t *testing.T) {
	mem := NewMemory(nil)
	src := newFakeSource(time.Now, 1)
	for _, o := range []RefresherOptions{
		{Prefix: "", Backend: mem, Source: src},
		{Prefix: "a b", Backend: mem, Source: src},
		{Prefix: "p", Source: src},
		{Prefix: "p", Backend: mem, Source: src, Schedule: Schedule{RefreshLead: 10 * time.Minute, Window: 10 * time.Minute}},
	} {
		if _, err := NewRefresher(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
