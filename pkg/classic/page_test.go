package classic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/centralmsp/centralmsp/pkg/central"
)

type listServer struct {
	mu       sync.Mutex
	n        int    // list size
	capLimit int    // server-side cap of limit (0 = none)
	noTotal  bool   // omit total
	key      string // items key
	queries  []string
	shrink   bool // total drops after the first page
}

func (s *listServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, r.URL.RawQuery)
	q := r.URL.Query()
	off, _ := strconv.Atoi(q.Get("offset"))
	lim, err := strconv.Atoi(q.Get("limit"))
	if err != nil {
		lim = 100
	}
	if s.capLimit > 0 && lim > s.capLimit {
		lim = s.capLimit
	}
	items := []any{}
	for i := off; i < s.n && i < off+lim; i++ {
		items = append(items, map[string]any{"serial": fmt.Sprintf("SN%04d", i)})
	}
	body := map[string]any{s.key: items, "count": len(items)}
	if !s.noTotal {
		total := s.n
		if s.shrink && off > 0 {
			total = s.n - 10
		}
		body["total"] = total
	}
	writeJSON(w, 200, body)
}

type ap struct {
	Serial string `json:"serial"`
}

func collect(t *testing.T, c *Client, spec PageSpec) ([]ap, error) {
	t.Helper()
	var out []ap
	for it, err := range Items[ap](context.Background(), c, spec) {
		if err != nil {
			return out, err
		}
		out = append(out, it)
	}
	return out, nil
}

func TestPaging(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		path     string
		srv      *listServer
		spec     PageSpec
		want     int
		requests int
		wantErr  bool
	}{
		{"aps with total", "/monitoring/v2/aps", &listServer{n: 250}, PageSpec{Limit: 100}, 250, 3, false},
		{"exact multiple", "/monitoring/v1/switches", &listServer{n: 200}, PageSpec{Limit: 100}, 200, 2, false},
		{"short page without total", "/platform/device_inventory/v1/devices", &listServer{n: 120, noTotal: true}, PageSpec{Limit: 50, Params: map[string]any{"sku_type": "all"}}, 120, 3, false},
		{"multiple without total needs an empty page", "/msp_api/v1/customers", &listServer{n: 200, noTotal: true}, PageSpec{Limit: 100}, 200, 3, false},
		{"server caps limit, total drives", "/monitoring/v2/aps", &listServer{n: 120, capLimit: 50}, PageSpec{Limit: 100}, 120, 3, false},
		{"no limit: first page sets the size", "/monitoring/v2/aps", &listServer{n: 150, noTotal: true}, PageSpec{}, 150, 2, false},
		{"empty list", "/monitoring/v2/aps", &listServer{n: 0}, PageSpec{Limit: 100}, 0, 1, false},
		{"explicit key", "/monitoring/v1/mobility_controllers", &listServer{n: 3, key: "mcs"}, PageSpec{Key: "mcs"}, 3, 1, false},
		{"wrong key", "/monitoring/v2/aps", &listServer{n: 3, key: "devices"}, PageSpec{}, 0, 1, true},
		{"total shrinks", "/monitoring/v2/aps", &listServer{n: 250, shrink: true}, PageSpec{Limit: 100}, 100, 2, true},
		{"max pages", "/monitoring/v2/aps", &listServer{n: 250}, PageSpec{Limit: 10, MaxPages: 3}, 30, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGateway(t)
			s := tc.srv
			if s.key == "" {
				s.key = "aps"
				switch tc.path {
				case "/monitoring/v1/switches":
					s.key = "switches"
				case "/platform/device_inventory/v1/devices":
					s.key = "devices"
				case "/msp_api/v1/customers":
					s.key = "customers"
				}
			}
			g.setAPI(s.handle)
			c := newTestClient(t, g, g.config(), newClock())
			spec := tc.spec
			spec.Path = tc.path
			got, err := collect(t, c, spec)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			var pe *central.PaginationError
			if tc.wantErr && !errors.As(err, &pe) {
				t.Fatalf("want PaginationError, got %T %v", err, err)
			}
			if len(got) != tc.want {
				t.Fatalf("items %d, want %d", len(got), tc.want)
			}
			for i, it := range got {
				if it.Serial != fmt.Sprintf("SN%04d", i) {
					t.Fatalf("item %d = %s (duplicate or gap)", i, it.Serial)
				}
			}
			if len(s.queries) != tc.requests {
				t.Fatalf("requests %d, want %d: %v", len(s.queries), tc.requests, s.queries)
			}
			if tc.name == "short page without total" && s.queries[0] != "limit=50&offset=0&sku_type=all" {
				t.Fatalf("query %q", s.queries[0])
			}
		})
	}
}

// TestPagingTenantAndStop: pages of a tenant view carry TenantID; breaking
// out of the loop stops requests.
func TestPagingTenantAndStop(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	var tenants []string
	var mu sync.Mutex
	s := &listServer{n: 500, key: "aps"}
	g.setAPI(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tenants = append(tenants, r.Header.Get(HeaderTenantID))
		mu.Unlock()
		s.handle(w, r)
	})
	c := newTestClient(t, g, g.config(), newClock()).WithTenant("t-9")
	n := 0
	for pg, err := range Pages[ap](context.Background(), c, PageSpec{Path: "/monitoring/v2/aps", Limit: 100}) {
		if err != nil {
			t.Fatal(err)
		}
		if pg.Number != n+1 || pg.Offset != n*100 || pg.Total != 500 || pg.Count != 100 {
			t.Fatalf("page %+v", pg)
		}
		n++
		if n == 2 {
			break
		}
	}
	if len(tenants) != 2 || tenants[0] != "t-9" || tenants[1] != "t-9" {
		t.Fatalf("tenants %v", tenants)
	}
}
