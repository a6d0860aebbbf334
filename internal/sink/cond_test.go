package sink

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/centralmsp/centralmsp/internal/testenv"
)

// checkConditional: IfAbsent creates once, IfMatch replaces only the version
// read, a missing object fails IfMatch, and of racing writers on one version
// exactly one wins (with atomic false, at least one: moto_server checks a
// condition and then writes, so two racing writers can both pass; S3
// itself, the memory and the directory sinks decide atomically).
func checkConditional(t *testing.T, c Conditional, atomic bool) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := c.GetVersion(ctx, "w/a.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := c.PutIf(ctx, "w/a.json", []byte(`0`), IfMatch("nope")); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("match on missing: %v", err)
	}
	v1, err := c.PutIf(ctx, "w/a.json", []byte(`1`), IfAbsent())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutIf(ctx, "w/a.json", []byte(`2`), IfAbsent()); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("second create: %v", err)
	}
	if b, v, err := c.GetVersion(ctx, "w/a.json"); err != nil || string(b) != "1" || v != v1 {
		t.Fatalf("get: %q %q %v (want version %q)", b, v, err, v1)
	}
	v3, err := c.PutIf(ctx, "w/a.json", []byte(`3`), IfMatch(v1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutIf(ctx, "w/a.json", []byte(`4`), IfMatch(v1)); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("stale version: %v", err)
	}
	if b, v, err := c.GetVersion(ctx, "w/a.json"); err != nil || string(b) != "3" || v != v3 {
		t.Fatalf("get: %q %q %v (want version %q)", b, v, err, v3)
	}
	if b, err := c.Get(ctx, "w/a.json"); err != nil || string(b) != "3" {
		t.Fatalf("plain get: %q %v", b, err)
	}
	// Racing writers: a create and a replace of v3.
	for _, cond := range []struct {
		key  string
		cond Cond
	}{{"w/b.json", IfAbsent()}, {"w/a.json", IfMatch(v3)}} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.PutIf(ctx, cond.key, []byte{'a' + byte(i)}, cond.cond)
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !errors.Is(err, ErrPreconditionFailed) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		switch {
		case won == 0 || (won > 1 && atomic):
			t.Errorf("%s: %d writers won, want 1", cond.key, won)
		case won > 1:
			t.Logf("%s: %d racing writers won (the server's check is not atomic)", cond.key, won)
		}
	}
}

func TestConditionalMemory(t *testing.T) { checkConditional(t, NewMemory(), true) }

func TestConditionalDir(t *testing.T) {
	d := NewDir(t.TempDir()).(*Dir)
	checkConditional(t, d, true)
	keys, err := d.List(context.Background(), "")
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v %v: temporary files left?", keys, err)
	}
}

// TestConditionalS3Moto: moto_server honours If-None-Match: * and If-Match
// (racing writers: see checkConditional).
func TestConditionalS3Moto(t *testing.T) {
	env := newMoto(t, testenv.StartMoto(t))
	createBucket(t, env.client, "cond")
	checkConditional(t, newS3(env.client, "cond", "msp/"), false)
}
