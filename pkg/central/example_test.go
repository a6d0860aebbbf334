package central_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/centralmsp/centralmsp/pkg/central"
)

// exampleServer stands in for GLP and New Central (under /central) so the
// examples run offline.
func exampleServer() *httptest.Server {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /authorization/v2/oauth2/{ws}/token", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"access_token": "token-for-" + r.PathValue("ws"), "token_type": "Bearer", "expires_in": 899})
	})
	mux.HandleFunc("GET /devices/v1/devices", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"items": []any{map[string]any{"serialNumber": "SG123"}}, "count": 1, "offset": 0, "total": 1})
	})
	mux.HandleFunc("GET /central/network-monitoring/v1/aps", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reply(w, map[string]any{"items": []any{map[string]any{"serialNumber": "CN0001", "status": "ONLINE"}}, "count": 1, "total": 1, "next": nil})
	})
	return httptest.NewServer(mux)
}

func quiet(o *central.Options) { o.Logger = slog.New(slog.DiscardHandler) }

// Unified credentials: one GLP token serves both GLP and New Central calls.
// In production cluster_name (e.g. "Internal") replaces base_url and
// glp_base_url is omitted.
func Example_unifiedGLPAndCentral() {
	srv := exampleServer()
	defer srv.Close()
	doc := fmt.Sprintf(`
unified:
  client_id: <glp-client-id>
  client_secret: <glp-client-secret>
  workspace_id: 0123456789abcdef0123456789abcdef
  base_url: %s/central
  glp_base_url: %s
`, srv.URL, srv.URL)
	creds, err := central.ParseCredentials([]byte(doc), central.FormatYAML, "token_info.yaml")
	if err != nil {
		log.Fatal(err)
	}
	c, err := central.New(creds, quiet)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	glp, _ := c.Command(ctx, central.Request{App: central.AppGLP, Method: "GET", Path: "devices/v1/devices"})
	aps, _ := c.Command(ctx, central.Request{Method: "GET", Path: "network-monitoring/v1/aps"})
	fmt.Println(glp.StatusCode, glp.Body.(map[string]any)["total"])
	fmt.Println(aps.StatusCode, aps.Body.(map[string]any)["items"])
	// Output:
	// 200 1
	// 200 [map[serialNumber:CN0001 status:ONLINE]]
}

// Unified credentials without base_url or cluster_name enable GLP only.
func Example_unifiedGLPOnly() {
	srv := exampleServer()
	defer srv.Close()
	creds := &central.Credentials{Unified: &central.Unified{
		ClientID: "<glp-client-id>", ClientSecret: "<glp-client-secret>", WorkspaceID: "ws1",
		GLPBaseURL: srv.URL,
	}}
	c, err := central.New(creds, quiet)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("glp:", c.HasApp(central.AppGLP), "new_central:", c.HasApp(central.AppCentral))
	for d, err := range central.Items[map[string]any](context.Background(), c, central.PageSpec{
		App: central.AppGLP, Path: "devices/v1/devices", Style: central.OffsetPaging, Limit: 2000,
	}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(d["serialNumber"])
	}
	_, err = c.Command(context.Background(), central.Request{Path: "network-monitoring/v1/aps"})
	fmt.Println(err)
	// Output:
	// glp: true new_central: false
	// SG123
	// central: app not configured: Missing configuration for 'new_central'. Please provide access token or client credentials to generate an access token for app - new_central
}

// A new_central block with cluster_name: the base URL comes from the cluster
// table (case-insensitive). No network I/O happens until the first call.
func Example_newCentralClusterName() {
	creds, err := central.ParseCredentials([]byte(`{"new_central": {"cluster_name": "us-west-4", "client_id": "<id>", "client_secret": "<secret>"}}`), central.FormatJSON, "token_info.json")
	if err != nil {
		log.Fatal(err)
	}
	c, err := central.New(creds, quiet)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.BaseURL(central.AppCentral))
	fmt.Println(creds.NewCentral.TokenURL())

	_, err = central.ParseCredentials([]byte(`{"new_central": {"cluster_name": "US-3", "access_token": "t"}}`), central.FormatJSON, "token_info.json")
	fmt.Println(err)
	// Output:
	// https://us4.api.central.arubanetworks.com
	// https://sso.common.cloud.hpe.com/as/token.oauth2
	// central: credentials token_info.json: block "new_central": field "cluster_name": Invalid cluster_name 'US-3' provided. Supported clusters: EU-1, EU-Central2, EU-Central3, UK, US-1, US-2, US-WEST-4, US-WEST-5, US-East1, Canada-1, APAC-1, APAC-EAST1, APAC-SOUTH1, UAE, China, Internal
}

// A new_central block with an access token only: calls work until the token
// expires; then the error says so (there are no credentials to renew it).
func Example_newCentralAccessToken() {
	srv := exampleServer()
	defer srv.Close()
	creds := &central.Credentials{NewCentral: &central.AppCreds{
		BaseURL:     srv.URL + "/central",
		AccessToken: "<access-token>",
	}}
	c, err := central.New(creds, quiet)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.Command(context.Background(), central.Request{Method: "GET", Path: "network-monitoring/v1/aps"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode)
	// Output:
	// 200
}

// Client.Command mirrors PyCentral's command(): method, path, app, query
// parameters (None/nil values dropped) and JSON body; the answer carries the
// status code, the headers and the decoded JSON.
func ExampleClient_Command() {
	srv := exampleServer()
	defer srv.Close()
	creds := &central.Credentials{Unified: &central.Unified{
		ClientID: "<glp-client-id>", ClientSecret: "<glp-client-secret>", WorkspaceID: "ws1",
		GLPBaseURL: srv.URL, BaseURL: srv.URL + "/central",
	}}
	c, err := central.New(creds, quiet)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := c.Command(context.Background(), central.Request{
		Method: "GET",
		Path:   "network-monitoring/v1/aps",
		App:    central.AppCentral,
		Params: map[string]any{"limit": 100, "next": 1, "filter": nil},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"))
	fmt.Println(resp.Body.(map[string]any)["total"])

	// The typed layer: decode into a struct, non-2xx become *APIError.
	var aps struct {
		Items []struct{ SerialNumber string }
	}
	if _, err := c.Do(context.Background(), central.Request{Path: "network-monitoring/v1/aps"}, &aps); err != nil {
		log.Fatal(err)
	}
	fmt.Println(aps.Items[0].SerialNumber)
	// Output:
	// 200 application/json
	// 1
	// CN0001
}
