package tokencache

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestReaderHitsAndMisses(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	src := newFakeSource(clk.Now, 100)
	src.setFail(tenantID(5), errors.New("down"))
	r := newTestRefresher(t, mem, src, clk.Now)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(5 * time.Minute) // the collector starts
	rd, err := NewReader(ReaderOptions{Prefix: prefix, Backend: mem, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	loadsBefore := mem.Calls()["Get"]
	tok, err := rd.TenantToken(ctx, tenantID(0), 2*time.Minute)
	if err != nil || !strings.Contains(tok.AccessToken, tenantID(0)) || tok.TokenType != "Bearer" {
		t.Fatalf("hit: %v", err)
	}
	if got := mem.Calls()["Get"] - loadsBefore; got != 1 {
		t.Errorf("first lookup read %d shards, want 1 (lazy)", got)
	}
	// Valid for 10 more minutes only: a 12-minute request misses.
	if _, err := rd.TenantToken(ctx, tenantID(1), 12*time.Minute); !errors.Is(err, ErrMiss) {
		t.Errorf("too short: %v", err)
	}
	if _, err := rd.TenantToken(ctx, tenantID(5), time.Minute); !errors.Is(err, ErrMiss) || !strings.Contains(err.Error(), "failed") {
		t.Errorf("failed tenant: %v", err)
	}
	if _, err := rd.TenantToken(ctx, "ffffffffffffffffffffffffffffffff", time.Minute); !errors.Is(err, ErrMiss) {
		t.Errorf("unknown tenant: %v", err)
	}
	for i := range 100 {
		if i == 5 {
			continue
		}
		if _, err := rd.TenantToken(ctx, tenantID(i), time.Minute); err != nil {
			t.Fatalf("tenant %d: %v", i, err)
		}
	}
	shards, _ := mem.List(ctx, prefix+"/shard-")
	if got := mem.Calls()["Get"] - loadsBefore; got != len(shards) {
		t.Errorf("read %d shards for %d (each once)", got, len(shards))
	}
	if _, err := rd.MSPToken(ctx, time.Minute); err != nil {
		t.Errorf("msp: %v", err)
	}
	st := rd.Stats()
	if st.Hits != 101 || st.Misses != 3 || st.LoadErrors != 0 {
		t.Errorf("stats = %+v", st)
	}
	// Later, everything has expired.
	clk.Add(15 * time.Minute)
	if _, err := rd.TenantToken(ctx, tenantID(0), 0); !errors.Is(err, ErrMiss) {
		t.Errorf("expired: %v", err)
	}
}

type brokenBackend struct{ *Memory }

func (brokenBackend) List(context.Context, string) ([]string, error) {
	return nil, errors.New("throttled")
}

func TestReaderStoreErrorIsMiss(t *testing.T) {
	rd, _ := NewReader(ReaderOptions{Prefix: prefix, Backend: brokenBackend{NewMemory(nil)}})
	_, err := rd.TenantToken(context.Background(), "a", 0)
	if !errors.Is(err, ErrMiss) || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("err = %v", err)
	}
	if st := rd.Stats(); st.Misses != 1 || st.LoadErrors != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestReaderSkipsCorruptShard(t *testing.T) {
	ctx := context.Background()
	clk := newClock(refreshT.Add(-5 * time.Minute))
	mem := NewMemory(clk.Now)
	r := newTestRefresher(t, mem, newFakeSource(clk.Now, 60), clk.Now)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	mem.Set(CacheSecretName(prefix, 0), []byte("garbage"))
	rd, _ := NewReader(ReaderOptions{Prefix: prefix, Backend: mem, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	all := loadAllLenient(t, mem)
	hits := 0
	for i := range 60 {
		if _, err := rd.TenantToken(ctx, tenantID(i), 0); err == nil {
			hits++
		}
	}
	if hits != all || hits == 0 || hits == 60 {
		t.Errorf("hits %d, want %d", hits, all)
	}
	if rd.Stats().LoadErrors != 1 {
		t.Errorf("stats %+v", rd.Stats())
	}
}

func loadAllLenient(t *testing.T, mem *Memory) int {
	names, _ := mem.List(context.Background(), prefix+"/shard-")
	n := 0
	for _, name := range names {
		o, _ := mem.Get(context.Background(), name)
		if d, err := DecodeCacheSecret(name, o.Data); err == nil {
			n += len(d.Entries)
		}
	}
	return n
}
