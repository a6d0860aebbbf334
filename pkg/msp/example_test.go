package msp_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/centralmsp/centralmsp/pkg/central"
	"github.com/centralmsp/centralmsp/pkg/centralsim"
	"github.com/centralmsp/centralmsp/pkg/msp"
)

// The examples mirror the Python examples of PyCentral's MSP guide. A
// simulator stands in for GLP and New Central, and exampleCredentials writes
// its unified credentials to a file, the guide's msp_token.yaml:
//
//	unified:
//	  client_id: <client-id>
//	  client_secret: <client-secret>
//	  workspace_id: <workspace-id>
//	  cluster_name: US-WEST-5 # or base_url; omit both for GLP-only mode

func exampleSim() *centralsim.Server {
	return centralsim.NewServer(func(o *centralsim.Options) {
		o.Seed = 7
		o.Tenants = 3
		o.DevicesPerTenant = func(i int) int { return 4 + i }
		o.TenantNames = []string{"", "The Wandwright Academy"} // the guide's tenant
	})
}

func exampleCredentials(sim *centralsim.Server) string {
	dir, err := os.MkdirTemp("", "msp-example")
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "msp_token.yaml")
	if err := os.WriteFile(path, sim.CredentialsYAML(), 0o600); err != nil {
		log.Fatal(err)
	}
	return path
}

// MSP-level API call to New Central: list the MSP's tenants.
func ExampleMSP_Command() {
	sim := exampleSim()
	defer sim.Close()
	credsFile := exampleCredentials(sim)
	defer os.RemoveAll(filepath.Dir(credsFile))
	ctx := context.Background()

	m, err := msp.NewFromFile(credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// New Central API call — list MSP tenants
	resp, err := m.Command(ctx, central.Request{
		Method: "GET",
		Path:   "network-msp/v1/list-tenants",
		Params: map[string]any{"limit": 100, "next": 1},
	})
	if err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode == 200 {
		body, _ := resp.Body.(map[string]any)
		tenants, _ := body["items"].([]any)
		fmt.Printf("Total tenants: %d\n", len(tenants))
		for _, t := range tenants {
			tenant, _ := t.(map[string]any)
			fmt.Printf("Central Tenant ID - %v, Tenant Name - %v\n", tenant["tenantId"], tenant["tenantName"])
		}
	} else {
		fmt.Printf("Error %d: %s\n", resp.StatusCode, resp.Raw)
	}
	// Output:
	// Total tenants: 3
	// Central Tenant ID - 1673911887, Tenant Name - L'Atelier Schools
	// Central Tenant ID - 8112017561, Tenant Name - The Wandwright Academy
	// Central Tenant ID - 3221162703, Tenant Name - Müller Hotels
}

// Tenant connection by workspace id, then a New Central call: the tenant's APs.
func ExampleMSP_Tenant() {
	sim := exampleSim()
	defer sim.Close()
	credsFile := exampleCredentials(sim)
	defer os.RemoveAll(filepath.Dir(credsFile))
	tenantWorkspaceID := sim.Tenants()[2].ID // from the GLP tenant list; dashes are stripped
	ctx := context.Background()

	m, err := msp.NewFromFile(credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	tenantConn, err := m.Tenant(ctx, msp.ByID(tenantWorkspaceID))
	if err != nil {
		log.Fatal(err)
	}
	// List APs in the tenant's Central environment
	resp, err := tenantConn.Command(ctx, central.Request{
		Method: "GET",
		Path:   "network-monitoring/v1/aps",
	})
	if err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode == 200 {
		body, _ := resp.Body.(map[string]any)
		aps, _ := body["items"].([]any)
		fmt.Printf("Tenant APs: %d\n", len(aps))
		for _, a := range aps {
			ap, _ := a.(map[string]any)
			fmt.Println(ap["serialNumber"], ap["deviceName"], ap["status"])
		}
	} else {
		fmt.Printf("Error %d: %s\n", resp.StatusCode, resp.Raw)
	}
	// Output:
	// Tenant APs: 4
	// AT00020000000 AP-0002-0000 ONLINE
	// AT00020000001 AP-0002-0001 OFFLINE
	// AT00020000002 AP-0002-0002 ONLINE
	// AT00020000003 AP-0002-0003 ONLINE
}

// Tenant connection by name, then a GLP call: the tenant's audit logs.
func ExampleMSP_Tenant_byName() {
	sim := exampleSim()
	defer sim.Close()
	credsFile := exampleCredentials(sim)
	defer os.RemoveAll(filepath.Dir(credsFile))
	tenantName := "The Wandwright Academy"
	ctx := context.Background()

	m, err := msp.NewFromFile(credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	tenantConn, err := m.Tenant(ctx, msp.ByName(tenantName))
	if err != nil {
		log.Fatal(err)
	}
	// App: central.AppGLP makes the call to GreenLake.
	resp, err := tenantConn.Command(ctx, central.Request{
		Method: "GET",
		Path:   "audit-log/v1/logs",
		App:    central.AppGLP,
	})
	if err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode == 200 {
		body, _ := resp.Body.(map[string]any)
		logs, _ := body["items"].([]any)
		fmt.Printf("Tenant %s audit logs: %d\n", tenantName, len(logs))
		for _, l := range logs {
			entry, _ := l.(map[string]any)
			user, _ := entry["user"].(map[string]any)
			fmt.Println(entry["createdAt"], entry["category"], user["username"])
		}
	} else {
		fmt.Printf("Error %d: %s\n", resp.StatusCode, resp.Raw)
	}
	// Output:
	// Tenant The Wandwright Academy audit logs: 5
	// 2026-09-30T23:59:57.000Z user_management admin0@example.com
	// 2026-09-30T23:22:50.000Z device_management admin1@example.com
	// 2026-09-30T22:45:36.000Z subscription_management admin2@example.com
	// 2026-09-30T22:08:54.000Z authentication admin0@example.com
	// 2026-09-30T21:31:55.000Z user_management admin1@example.com
}

// Closing one tenant connection mid-session; closing the MSP closes the rest.
func ExampleMSP_CloseTenant() {
	sim := exampleSim()
	defer sim.Close()
	credsFile := exampleCredentials(sim)
	defer os.RemoveAll(filepath.Dir(credsFile))
	tenantWorkspaceID := sim.Tenants()[0].ID
	ctx := context.Background()

	m, err := msp.NewFromFile(credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // closes the MSP connection and all remaining tenant connections

	if _, err := m.Tenant(ctx, msp.ByID(tenantWorkspaceID)); err != nil {
		log.Fatal(err)
	}
	// Use the tenant connection for API calls...

	// Optionally close a single tenant connection mid-session
	if err := m.CloseTenant(tenantWorkspaceID); err != nil {
		log.Fatal(err)
	}
	fmt.Println("open tenant connections:", m.Stats().OpenTenants)

	// Closing it again is an error that names the tenant.
	err = m.CloseTenant(tenantWorkspaceID)
	fmt.Println(err)
	// Output:
	// open tenant connections: 0
	// msp: no open connection for tenant "59faf3f744b5424c8df2f75a5547888c"; use Tenant to open one first
}

// Closing everything: Close closes every cached tenant connection, then the
// MSP connection (PyCentral's msp.close() or the end of a with block).
func ExampleMSP_Close() {
	sim := exampleSim()
	defer sim.Close()
	credsFile := exampleCredentials(sim)
	defer os.RemoveAll(filepath.Dir(credsFile))
	ctx := context.Background()

	m, err := msp.NewFromFile(credsFile)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range sim.Tenants() {
		if _, err := m.Tenant(ctx, msp.ByID(t.ID)); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("open tenant connections:", m.Stats().OpenTenants)

	if err := m.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("open tenant connections:", m.Stats().OpenTenants)
	_, err = m.Tenant(ctx, msp.ByID(sim.Tenants()[0].ID))
	fmt.Println(err)
	// Output:
	// open tenant connections: 3
	// open tenant connections: 0
	// msp: client closed
}

// Listing every tenant across all pages of the GLP tenant list.
func ExampleMSP_Tenants() {
	sim := exampleSim()
	defer sim.Close()
	credsFile := exampleCredentials(sim)
	defer os.RemoveAll(filepath.Dir(credsFile))
	ctx := context.Background()

	m, err := msp.NewFromFile(credsFile)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	for t, err := range m.Tenants(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(t.ID, t.Name, t.Ownership)
	}
	// Output:
	// 59faf3f744b5424c8df2f75a5547888c L'Atelier Schools CUSTOMER_OWNED_INVENTORY
	// 7a5f9540c474bda67e0b24124822e1b5 The Wandwright Academy CUSTOMER_OWNED_INVENTORY
	// 91f0cb218d50de54c11e1b4fbb4f0d36 Müller Hotels MSP_OWNED_INVENTORY
}
