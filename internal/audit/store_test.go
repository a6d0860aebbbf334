package audit

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/centralmsp/centralmsp/internal/sink"
)

// TestSinkStore: objects written through a sink (memory and directory) read
// back whole, a missing one matches ErrNotFound, and one over the cap is an
// error.
func TestSinkStore(t *testing.T) {
	ctx := context.Background()
	for name, snk := range map[string]sink.Sink{"memory": sink.NewMemory(), "dir": sink.NewDir(t.TempDir())} {
		t.Run(name, func(t *testing.T) {
			const key = "baseline/tenant=x/dataset=devices.json.gz"
			if err := snk.Put(ctx, key, []byte("0123456789"), "application/gzip"); err != nil {
				t.Fatal(err)
			}
			st := SinkStore{Sink: snk}
			b, err := st.Get(ctx, key, 10)
			if err != nil || string(b) != "0123456789" {
				t.Fatalf("get: %q %v", b, err)
			}
			if _, err := st.Get(ctx, key, 9); err == nil || !strings.Contains(err.Error(), "larger than 9 bytes") || errors.Is(err, ErrNotFound) {
				t.Errorf("over the cap: %v", err)
			}
			if _, err := st.Get(ctx, "baseline/tenant=y/none.json.gz", 10); !errors.Is(err, ErrNotFound) {
				t.Errorf("missing: %v, want ErrNotFound", err)
			}
		})
	}
}
