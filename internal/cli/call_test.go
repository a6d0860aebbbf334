package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunCallMSPLevel(t *testing.T) {
	sim, creds := mspCLISim(t)
	env, out, _ := mspCLIEnv()
	err := runCall(context.Background(), env, []string{"--credentials", creds, "GET", "network-msp/v1/list-tenants", "limit=100", "next=1"})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Items []struct {
			TenantID   string `json:"tenantId"`
			TenantName string `json:"tenantName"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out.Bytes(), &body); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(body.Items) != len(sim.Tenants()) || body.Items[0].TenantName == "" {
		t.Errorf("items %+v", body.Items)
	}
	// GLP MSP-level, lower-case method, flags after the arguments.
	env, out, _ = mspCLIEnv()
	if err := runCall(context.Background(), env, []string{"get", "workspaces/v1/msp-tenants", "--app", "glp", "--credentials", creds}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), sim.Tenants()[0].ID) {
		t.Errorf("msp-tenants output lacks tenant id: %s", out)
	}
}

func TestRunCallTenant(t *testing.T) {
	sim, creds := mspCLISim(t)
	tn := sim.Tenants()[3]
	for _, ref := range []string{tn.ID, tn.HexID, tn.Name} {
		env, out, _ := mspCLIEnv()
		err := runCall(context.Background(), env, []string{"--credentials", creds, "--tenant", ref, "--app", "glp", "GET", "audit-log/v1/logs"})
		if err != nil {
			t.Fatalf("--tenant %q: %v", ref, err)
		}
		var body struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(out.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if want := len(sim.Records(tn.HexID, "audit-logs")); len(body.Items) != want {
			t.Errorf("--tenant %q: %d audit logs, want %d", ref, len(body.Items), want)
		}
	}
	// New Central with repeated keys and the tenant's APs.
	env, out, _ := mspCLIEnv()
	if err := runCall(context.Background(), env, []string{"--credentials", creds, "--tenant", tn.HexID, "GET", "network-monitoring/v1/aps", "limit=100"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"items"`) {
		t.Errorf("aps output %s", out)
	}
	// Unknown tenant name.
	env, _, _ = mspCLIEnv()
	if err := runCall(context.Background(), env, []string{"--credentials", creds, "--tenant", "Nobody Here", "GET", "x"}); err == nil || !strings.Contains(err.Error(), "Nobody Here") {
		t.Errorf("unknown tenant: %v", err)
	}
}

func TestRunCallNon2xx(t *testing.T) {
	_, creds := mspCLISim(t)
	env, out, errb := mspCLIEnv()
	err := runCall(context.Background(), env, []string{"--credentials", creds, "--app", "glp", "GET", "workspaces/v1/msp-tenants", "limit=100000"})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("err = %v; want exit 1", err)
	}
	if out.Len() != 0 || !json.Valid(errb.Bytes()) {
		t.Errorf("stdout %q, stderr %q; want the JSON body on stderr", out, errb)
	}
	if !strings.Contains(err.Error(), "HTTP 4") {
		t.Errorf("error %q", err)
	}
}

func TestRunCallUsage(t *testing.T) {
	var ue *UsageError
	for _, args := range [][]string{
		{"GET", "x"},                                     // no credentials
		{"--credentials", "c"},                           // no method/path
		{"--credentials", "c", "GET"},                    // no path
		{"--credentials", "c", "FETCH", "x"},             // bad method
		{"--credentials", "c", "--app", "x", "GET", "x"}, // bad app
		{"--credentials", "c", "GET", "x", "novalue"},    // bad param
		{"--credentials", "c", "--data", "{", "POST", "x"},
		{"--nope"},
	} {
		env, _, _ := mspCLIEnv()
		if err := runCall(context.Background(), env, args); !errors.As(err, &ue) {
			t.Errorf("%q: %v; want UsageError", args, err)
		}
	}
	env, out, _ := mspCLIEnv()
	if err := runCall(context.Background(), env, []string{"--help"}); err != nil || !strings.Contains(out.String(), "METHOD PATH") {
		t.Errorf("--help: %v %q", err, out)
	}
}

func TestCallRequest(t *testing.T) {
	dir := t.TempDir()
	body := filepath.Join(dir, "b.json")
	os.WriteFile(body, []byte(` {"a": 1} `), 0o600)
	req, err := callRequest("glp", "post", "devices/v1/devices", []string{"id=a", "id=b", "id=c", "q=x=y"}, "@"+body)
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "POST" || req.App != "glp" {
		t.Errorf("req %+v", req)
	}
	if ids, _ := req.Params["id"].([]string); len(ids) != 3 || req.Params["q"] != "x=y" {
		t.Errorf("params %v", req.Params)
	}
	if b, _ := req.Body.(json.RawMessage); string(b) != `{"a": 1}` {
		t.Errorf("body %q", b)
	}
}
