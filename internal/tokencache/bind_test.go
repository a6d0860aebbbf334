package tokencache

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func jwtFor(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + ".c2ln"
}

// The reader refuses entries it cannot bind to their tenant: a tenant id
// that is not 32 lower-case hex, a token scoped to another workspace, and
// every entry of a document that is not the shard its secret names.
func TestReaderRejectsUnboundEntries(t *testing.T) {
	ctx := context.Background()
	now := refreshT
	a, b, c, d := tenantID(1), tenantID(2), tenantID(3), tenantID(4)
	ok := func(id, tok string) Entry {
		return Entry{TenantID: id, Token: tok, Expiry: now.Add(time.Hour), Status: StatusOK, Updated: now}
	}
	mem := NewMemory(func() time.Time { return now })
	put := func(idx, docIdx int, es ...Entry) {
		data, err := (&CacheSecret{Format: FormatName, Version: FormatVersion, Kind: KindTenants, Index: docIdx, Entries: es}).Encode()
		if err != nil {
			t.Fatal(err)
		}
		mem.Set(CacheSecretName(prefix, idx), data)
	}
	put(0, 0,
		ok(a, jwtFor(map[string]any{"hpe_workspace_id": a})), // bound, right
		ok(b, jwtFor(map[string]any{"hpe_workspace_id": c})), // bound to another
		ok(strings.ToUpper(c), "opaque"),                     // id not normalised
		ok(d, jwtFor(map[string]any{"workspace_id": strings.ToUpper(d[:8]) + "-" + d[8:12] + "-" + d[12:16] + "-" + d[16:20] + "-" + d[20:]})), // bound, dashed claim
		ok(tenantID(5), jwtFor(map[string]any{"sub": "x"})),         // unbound: allowed
		ok(tenantID(6), jwtFor(map[string]any{"workspace_id": 12})), // unreadable claim
	)
	put(1, 7, ok(tenantID(7), "opaque")) // copied from shard 7
	logger, logs := logBuffer()
	r, err := NewReader(ReaderOptions{Prefix: prefix, Backend: mem, Now: func() time.Time { return now }, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		a: "", d: "", tenantID(5): "",
		b: "another workspace", strings.ToUpper(c): "not 32 lower-case", tenantID(6): "not a string",
		tenantID(7): "the secret is cache secret 1 but its document is tenant-shard 7",
	} {
		_, err := r.TenantToken(ctx, id, time.Minute)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", id, err)
		case want != "" && (!errors.Is(err, ErrMiss) || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want a miss with %q", id, err, want)
		}
	}
	out := logs.String()
	if strings.Count(out, "rejecting a token cache entry") != 4 || strings.Contains(out, "eyJ") || strings.Contains(out, "opaque") {
		t.Errorf("logs:\n%s", out)
	}
}
