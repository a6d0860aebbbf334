package scaleout

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeShardMessage: a decoded message is valid and round-trips.
func FuzzDecodeShardMessage(f *testing.F) {
	f.Add([]byte(`{"run_id":"r","shard":1,"shards":4,"tenants":["5f0c6e2a9b8d4c7e8a1b2c3d4e5f6a7b"],"datasets":["devices"],"deadline_unix":1795532100}`))
	f.Add([]byte(`{"run_id":"r","shard":2,"continuation":3,"tenants":["5F0C6E2A-9B8D-4C7E-8A1B-2C3D4E5F6A7B"]}`))
	f.Add([]byte(`{"shard":-1}`))
	f.Add([]byte(`{"run_id":"r","shard":1,"tenants":["5f0c6e2a9b8d4c7e8a1b2c3d4e5f6a7b"],"names":["Acme \"Retail\""]}`))
	f.Add([]byte(`{"run_id":"r","shard":1,"tenants":["5f0c6e2a9b8d4c7e8a1b2c3d4e5f6a7b"],"names":["a","b"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeShardMessage(body)
		if err != nil {
			return
		}
		if _, _, ok := parseShardID(m.ID()); !ok {
			t.Fatalf("id %q does not parse", m.ID())
		}
		if len(m.Names) > 0 && len(m.TenantNames()) == 0 {
			t.Fatalf("names %q accepted but not mapped to tenants %q", m.Names, m.Tenants)
		}
		b, _ := json.Marshal(m)
		if _, err := DecodeShardMessage(b); err != nil {
			t.Fatalf("re-encoded message refused: %v", err)
		}
	})
}
