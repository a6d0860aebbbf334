package contract_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/centralmsp/centralmsp/internal/collector"
	"github.com/centralmsp/centralmsp/internal/sink"
	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/centralsim/contract"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// TestSDKRequestsMatchContract puts a validating proxy in front of the
// simulator and drives the real SDK through it: MSP-level calls, tenant
// lookup by name, the tenant list, and a full collection of every dataset.
// Every request the SDK sends to a documented endpoint must satisfy HPE's
// OpenAPI request schema (path, query parameters and their limits).
func TestSDKRequestsMatchContract(t *testing.T) {
	v := validator(t)
	sim := centralsim.NewServer(func(o *centralsim.Options) { o.Tenants = 4; o.Seed = 11 })
	t.Cleanup(sim.Close)

	var mu sync.Mutex
	validated := map[string]int{} // METHOD path -> requests that were checked
	var problems []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		check := r.Clone(r.Context())
		check.Body = io.NopCloser(bytes.NewReader(body))
		err := v.ValidateRequest(check)
		mu.Lock()
		switch {
		case errors.Is(err, contract.ErrUncovered):
		case err != nil:
			problems = append(problems, err.Error())
		default:
			validated[r.Method+" "+r.URL.Path]++
		}
		mu.Unlock()
		sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	acct := sim.MSP()
	creds := &central.Credentials{Unified: &central.Unified{
		ClientID: acct.ClientID, ClientSecret: acct.ClientSecret, WorkspaceID: acct.WorkspaceID,
		GLPBaseURL: proxy.URL, BaseURL: proxy.URL + centralsim.CentralPrefix,
	}}
	m, err := msp.New(creds, func(o *msp.Options) { o.Logger = slog.New(slog.DiscardHandler) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	ctx := context.Background()

	resp, err := m.Command(ctx, central.Request{Method: "GET", Path: "network-msp/v1/list-tenants", Params: map[string]any{"limit": 100, "next": 1}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list-tenants: %v %+v", err, resp)
	}
	if _, err := m.TenantID(ctx, sim.Tenants()[1].Name); err != nil {
		t.Fatalf("TenantID: %v", err)
	}
	man, err := collector.Run(ctx, collector.Config{
		MSP: collector.FromMSP(m), Sink: sink.NewMemory(), Reserve: -1,
		Datasets: collector.DatasetNames(), // every dataset, audit-logs included
		Params:   map[string]map[string]any{"audit-logs": {"filter": "createdAt ge '2020-01-01T00:00:00Z'"}},
	})
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("%d SDK requests break the OpenAPI contract:\n%s", len(problems), strings.Join(problems, "\n"))
	}
	if err != nil || !man.Complete {
		t.Fatalf("collection through the validating proxy: err=%v totals=%+v", err, man.Totals)
	}
	want := []string{
		"GET /central/network-msp/v1/list-tenants",
		"GET /workspaces/v1/msp-tenants",
		"GET /devices/v1/devices",
		"GET /subscriptions/v1/subscriptions",
		"GET /central/network-monitoring/v1/devices",
		"GET /central/network-monitoring/v1/device-inventory",
		"GET /central/network-monitoring/v1/aps",
		"GET /central/network-monitoring/v1/switches",
		"GET /central/network-monitoring/v1/gateways",
		"GET /central/network-monitoring/v1/sites-health",
	}
	var missing []string
	for _, k := range want {
		if validated[k] == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		var got []string
		for k, n := range validated {
			got = append(got, fmt.Sprintf("%s x%d", k, n))
		}
		sort.Strings(got)
		t.Fatalf("no validated request for %v; validated: %v", missing, got)
	}
}
