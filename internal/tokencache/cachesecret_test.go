package tokencache

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestShardRoundTrip(t *testing.T) {
	now := refreshT
	s := &CacheSecret{Format: FormatName, Version: FormatVersion, Kind: KindTenants, Index: 3, WrittenAt: now, Window: now,
		Entries: []Entry{
			{TenantID: "a", Name: "A", Token: "tok", TokenType: "Bearer", Expiry: now.Add(time.Minute), Status: StatusOK, Updated: now},
			{TenantID: "b", Status: StatusFailed, ErrorClass: "unauthorized", Updated: now},
		}}
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCacheSecret("n", b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 2 || !got.Entries[0].Expiry.Equal(now.Add(time.Minute)) || got.Entries[1].ErrorClass != "unauthorized" {
		t.Fatalf("%+v", got)
	}
	if strings.Contains(got.Entries[0].String(), "tok") {
		t.Error("Entry.String shows the token")
	}
}

func TestDecodeCacheSecretErrorsNameSecretNotContent(t *testing.T) {
	for _, in := range []string{
		"", "null", "[]", "{", `{"format":"x"}`, `{"format":"centralmsp-token-cache","version":1,"kind":"zz"}`,
		`{"format":"centralmsp-token-cache","version":1,"kind":"msp","entries":[{"tenant_id":""}]}`,
		`{"format":"centralmsp-token-cache","version":1,"kind":"msp","entries":[{"tenant_id":"a","status":"ok","token":"t","expiry":"2026-01-01T00:00:00Z"},{"tenant_id":"a","status":"failed"}]}`,
		`{"format":"centralmsp-token-cache","version":1,"kind":"msp","entries":[{"tenant_id":"a","status":"weird"}]}`,
		`{"format":"centralmsp-token-cache","version":1,"kind":"msp","entries":[]} {}`,
		`{"format":"centralmsp-token-cache","version":"1"}`,
		`"` + canary + `"`,
	} {
		_, err := DecodeCacheSecret("pfx/shard-0001", []byte(in))
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), `"pfx/shard-0001"`) {
			t.Errorf("%q: %v", in, err)
			continue
		}
		assertNoCanary(t, "parse error", err.Error())
	}
}

func TestEncodeRefusesOversizedShard(t *testing.T) {
	s := &CacheSecret{Format: FormatName, Version: FormatVersion, Kind: KindTenants, Entries: []Entry{{TenantID: "a", Token: strings.Repeat("x", MaxSecretBytes), Status: StatusOK}}}
	if _, err := s.Encode(); err == nil {
		t.Fatal("no error")
	}
}

func TestShardNames(t *testing.T) {
	if n := CacheSecretName("p/q", 7); n != "p/q/shard-0007" {
		t.Fatal(n)
	}
	for name, want := range map[string]int{"p/shard-0007": 7, "p/shard-12345": 12345, "p/shard-7": -1, "p/shard-00x1": -1, "q/shard-0001": -1, "p/msp": -1} {
		got, ok := parseCacheSecretName("p", name)
		if (want < 0) == ok || (ok && got != want) {
			t.Errorf("%s: %d %v", name, got, ok)
		}
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", "a/../b", "a b", "a*"} {
		if ValidatePrefix(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ValidatePrefix("centralmsp/prod_1/tokens"); err != nil {
		t.Error(err)
	}
}

func FuzzDecodeCacheSecret(f *testing.F) {
	f.Add([]byte(`{"format":"centralmsp-token-cache","version":1,"kind":"tenant-shard","index":0,"entries":[{"tenant_id":"a","status":"ok","token":"t","expiry":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"format":"centralmsp-token-cache","version":1,"kind":"msp","index":-1,"entries":[]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeCacheSecret("n", data)
		if err != nil {
			return
		}
		b, err := s.Encode()
		if err != nil {
			return
		}
		if _, err := DecodeCacheSecret("n", b); err != nil {
			t.Fatalf("re-encoded shard does not parse: %v", err)
		}
	})
}
