package tokencache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// canary is planted in every token the fake source mints; it must never
// appear in logs, errors or results.
const canary = "CANARYTOKEN"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSource is a Source with scripted tenants and failures.
type fakeSource struct {
	now      func() time.Time
	lifetime time.Duration
	tag      string // distinguishes the tokens of two sources

	mu        sync.Mutex
	tenants   []Tenant
	fail      map[string]error // tenant id -> exchange error
	listErrAt int              // >0: the list fails after this many tenants
	mspErr    error
	exchanges map[string]int
	gate      chan struct{} // if set, exchanges wait until it is closed
	entered   chan struct{} // if set, each exchange sends on it first (non-blocking)

	inFlight, maxInFlight atomic.Int64
}

func newFakeSource(now func() time.Time, n int) *fakeSource {
	s := &fakeSource{now: now, lifetime: 899 * time.Second, fail: map[string]error{}, exchanges: map[string]int{}}
	s.addTenants(0, n)
	return s
}

func tenantID(i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "t%d", i))
	return fmt.Sprintf("%x", h[:16])
}

func (s *fakeSource) addTenants(from, to int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := from; i < to; i++ {
		s.tenants = append(s.tenants, Tenant{ID: tenantID(i), Name: fmt.Sprintf("Tenant %04d", i)})
	}
}

func (s *fakeSource) setFail(id string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fail, id)
	} else {
		s.fail[id] = err
	}
}

func (s *fakeSource) exchangeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.exchanges {
		n += c
	}
	return n
}

func (s *fakeSource) MSPToken(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mspErr != nil {
		return nil, s.mspErr
	}
	return &oauth2.Token{AccessToken: canary + "-msp-" + s.tag + SampleToken(-1, s.now()), TokenType: "Bearer", Expiry: s.now().Add(s.lifetime)}, nil
}

func (s *fakeSource) Tenants(ctx context.Context) iter.Seq2[Tenant, error] {
	s.mu.Lock()
	ts := append([]Tenant(nil), s.tenants...)
	at := s.listErrAt
	s.mu.Unlock()
	return func(yield func(Tenant, error) bool) {
		for i, t := range ts {
			if at > 0 && i == at {
				yield(Tenant{}, errors.New("page 2: 503 service unavailable"))
				return
			}
			if !yield(t, nil) {
				return
			}
		}
	}
}

func (s *fakeSource) Exchange(ctx context.Context, id string) (*oauth2.Token, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxInFlight.Load()
		if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if s.entered != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exchanges[id]++
	if err := s.fail[id]; err != nil {
		return nil, err
	}
	seed := 0
	fmt.Sscanf(id[:6], "%x", &seed)
	return &oauth2.Token{AccessToken: fmt.Sprintf("%s-%s%s-%d-%s", canary, s.tag, id, s.exchanges[id], SampleToken(seed, s.now())), TokenType: "Bearer", Expiry: s.now().Add(s.lifetime)}, nil
}

// logBuffer returns a logger writing to a buffer (debug level).
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&lockedWriter{w: &b}, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func assertNoCanary(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, canary) {
		t.Fatalf("%s contains a token: %.300s", what, s[strings.Index(s, canary):])
	}
}

// refreshT is the collector start used by most tests: the refresher runs at
// refreshT-5m.
var refreshT = time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)

func newTestRefresher(t *testing.T, b Backend, src Source, now func() time.Time, mod ...func(*RefresherOptions)) *Refresher {
	t.Helper()
	o := RefresherOptions{Prefix: "centralmsp/tokens", Backend: b, Source: src, Now: now, Concurrency: 4, Logger: slog.New(slog.DiscardHandler)}
	o.Schedule.WriteRate = 1000
	for _, m := range mod {
		m(&o)
	}
	r, err := NewRefresher(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loadAll reads every shard of a backend into tenant -> (shard name, entry).
func loadAll(t *testing.T, b Backend, prefix string) map[string]struct {
	Shard string
	Entry Entry
} {
	t.Helper()
	ctx := context.Background()
	names, err := b.List(ctx, prefix+"/shard-")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]struct {
		Shard string
		Entry Entry
	}{}
	for _, n := range names {
		o, err := b.Get(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := DecodeCacheSecret(n, o.Data)
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Data) > MaxSecretBytes {
			t.Fatalf("%s is %d bytes", n, len(o.Data))
		}
		for _, e := range doc.Entries {
			if _, dup := out[e.TenantID]; dup {
				t.Fatalf("tenant %s is in two shards", e.TenantID)
			}
			out[e.TenantID] = struct {
				Shard string
				Entry Entry
			}{n, e}
		}
	}
	return out
}

// refreshMoment is the next refresh time of the default schedule (minute 55)
// after the real clock. Tests that start their clock there see the same
// collection windows whatever the time of day they run at, and stay ahead of
// the real clock that moto and the file system use to date versions.
func refreshMoment() time.Time {
	start := time.Now().UTC().Truncate(time.Hour).Add(55 * time.Minute)
	if start.Before(time.Now()) {
		start = start.Add(time.Hour)
	}
	return start
}
