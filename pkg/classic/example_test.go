package classic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/classic"
)

// exampleGateway stands in for a Classic API gateway (e.g. cluster_name
// EU-1) so the examples run offline: the OAuth 3-step login, and a few
// monitoring and MSP endpoints.
func exampleGateway() *httptest.Server {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /oauth2/authorize/central/api/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "csrftoken", Value: "csrf"})
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "sess"})
		reply(w, map[string]any{"status": true})
	})
	mux.HandleFunc("POST /oauth2/authorize/central/api", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"auth_code": "code"})
	})
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"access_token": "access", "refresh_token": "refresh", "expires_in": 7200})
	})
	mux.HandleFunc("GET /monitoring/v2/aps", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer access" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		aps := []any{map[string]any{"serial": "CNF7JSP0T1", "status": "Up"}}
		if r.Header.Get("TenantID") == "tenant-42" {
			aps = []any{map[string]any{"serial": "CNT4200001", "status": "Up"}, map[string]any{"serial": "CNT4200002", "status": "Down"}}
		}
		reply(w, map[string]any{"aps": aps, "count": len(aps), "total": len(aps)})
	})
	mux.HandleFunc("GET /msp_api/v1/customers", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"customers": []any{map[string]any{"customer_id": "tenant-42", "customer_name": "Acme"}}, "total": 1})
	})
	return httptest.NewServer(mux)
}

func quiet(o *classic.Options) { o.Logger = slog.New(slog.DiscardHandler) }

// The PyCentral classic workflow:
//
//	central = get_conn_from_file("central.yaml")
//	resp = central.command(apiMethod="GET", apiPath="/monitoring/v2/aps")
//	print(resp["code"], resp["msg"])
//
// In production central_info names cluster_name (e.g. EU-1) instead of a
// base_url, and token_store keeps the rotating tokens across runs.
func Example_getConnFromFile() {
	srv := exampleGateway()
	defer srv.Close()
	dir, err := os.MkdirTemp("", "classic-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "central.yaml")
	doc := fmt.Sprintf(`central_info:
  username: admin@example.com
  password: <password>
  client_id: <client-id>
  client_secret: <client-secret>
  customer_id: <customer-id>
  base_url: %s
token_store:
  type: local
  path: %s
`, srv.URL, filepath.Join(dir, "temp"))
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		log.Fatal(err)
	}

	cfg, err := classic.LoadConfig(file, "") // "" = "central_info"
	if err != nil {
		log.Fatal(err)
	}
	conn, err := classic.New(cfg, quiet)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	resp, err := conn.Command(context.Background(), central.Request{Method: "GET", Path: "/monitoring/v2/aps"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("code:", resp.StatusCode)
	fmt.Println("msg:", strings.TrimSpace(string(resp.Raw)))
	_, err = os.Stat(filepath.Join(dir, "temp", "tok_<customer-id>_<client-id>.json"))
	fmt.Println("token cached:", err == nil)
	// Output:
	// code: 200
	// msg: {"aps":[{"serial":"CNF7JSP0T1","status":"Up"}],"count":1,"total":1}
	// token cached: true
}

// An MSP lists its customers, then reads a tenant's APs with the MSP token
// and the TenantID header, page by page.
func ExampleClient_WithTenant() {
	srv := exampleGateway()
	defer srv.Close()
	cfg := &classic.Config{
		Username: "msp-admin@example.com", Password: "<password>",
		ClientID: "<client-id>", ClientSecret: "<client-secret>", CustomerID: "<msp-customer-id>",
		BaseURL: srv.URL,
	}
	msp, err := classic.New(cfg, quiet)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	type customer struct {
		ID   string `json:"customer_id"`
		Name string `json:"customer_name"`
	}
	type ap struct {
		Serial string `json:"serial"`
		Status string `json:"status"`
	}
	for cust, err := range classic.Items[customer](ctx, msp, classic.PageSpec{Path: "/msp_api/v1/customers", Limit: 100}) {
		if err != nil {
			log.Fatal(err)
		}
		tenant := msp.WithTenant(cust.ID)
		for a, err := range classic.Items[ap](ctx, tenant, classic.PageSpec{Path: "/monitoring/v2/aps", Limit: 1000}) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println(cust.Name, a.Serial, a.Status)
		}
	}
	// Output:
	// Acme CNT4200001 Up
	// Acme CNT4200002 Down
}

// Config values print without their secrets.
func ExampleConfig_String() {
	cfg := classic.Config{Username: "admin", Password: "hunter2", ClientID: "id", ClientSecret: "s3cret",
		CustomerID: "c1", ClusterName: "EU-1", Token: classic.Token{AccessToken: "abc", RefreshToken: "def"}}
	fmt.Println(cfg)
	// Output:
	// classic.Config{cluster EU-1 username="admin" password=[REDACTED] client_id="id" client_secret=[REDACTED] customer_id="c1" access_token=[REDACTED] refresh_token=[REDACTED]}
}
