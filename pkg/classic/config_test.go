package classic

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validBlock = `
  username: admin@example.com
  password: pw
  client_id: cid
  client_secret: sec
  customer_id: cust
`

func TestClusterTable(t *testing.T) {
	t.Parallel()
	want := "US-1, US-2, US-East1, US-West4, EU-1, EU-Central2, EU-Central3, Canada-1, China-1, APAC-1, APAC-EAST1, APAC-SOUTH1, UAE-NORTH1"
	if got := strings.Join(ClusterNames(), ", "); got != want {
		t.Fatalf("ClusterNames = %s", got)
	}
	for name, host := range map[string]string{
		"US-1": "app1-apigw.central.arubanetworks.com", "US-2": "apigw-prod2.central.arubanetworks.com",
		"US-East1": "apigw-us-east-1.central.arubanetworks.com", "US-West4": "apigw-uswest4.central.arubanetworks.com",
		"EU-1": "eu-apigw.central.arubanetworks.com", "EU-Central2": "apigw-eucentral2.central.arubanetworks.com",
		"EU-Central3": "apigw-eucentral3.central.arubanetworks.com", "Canada-1": "apigw-ca.central.arubanetworks.com",
		"China-1": "apigw.central.arubanetworks.com.cn", "APAC-1": "api-ap.central.arubanetworks.com",
		"APAC-EAST1": "apigw-apaceast.central.arubanetworks.com", "APAC-SOUTH1": "apigw-apacsouth.central.arubanetworks.com",
		"UAE-NORTH1": "apigw-uaenorth1.central.arubanetworks.com",
	} {
		if u, ok := ClusterURL(name); !ok || u != "https://"+host {
			t.Errorf("ClusterURL(%s) = %s", name, u)
		}
	}
	if _, ok := ClusterURL("US-WEST-4"); ok {
		t.Error("New Central name accepted as a Classic cluster")
	}
}

func TestConfigValidationTexts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc, account, want string
	}{
		{"both", "central_info:" + validBlock + "  base_url: https://a.example\n  cluster_name: EU-1\n", "",
			"classic: conn.yaml: central_info.base_url: give either base_url or cluster_name, not both"},
		{"neither", "central_info:" + validBlock, "",
			"classic: conn.yaml: central_info.base_url: one of base_url or cluster_name is required"},
		{"unknown cluster", "central_info:" + validBlock + "  cluster_name: US-WEST-4\n", "",
			`classic: conn.yaml: central_info.cluster_name: unknown cluster "US-WEST-4"; supported clusters: US-1, US-2, US-East1, US-West4, EU-1, EU-Central2, EU-Central3, Canada-1, China-1, APAC-1, APAC-EAST1, APAC-SOUTH1, UAE-NORTH1`},
		{"http public", "central_info:" + validBlock + "  base_url: http://apigw.example.com\n", "",
			"classic: conn.yaml: central_info.base_url: plain http is only allowed for loopback hosts; use https: http://apigw.example.com"},
		{"ftp", "central_info:" + validBlock + "  base_url: ftp://apigw.example.com\n", "",
			"classic: conn.yaml: central_info.base_url: scheme must be https: ftp://apigw.example.com"},
		{"query in url", "central_info:" + validBlock + "  base_url: https://apigw.example.com/?x=1\n", "",
			"classic: conn.yaml: central_info.base_url: query and fragment are not allowed: https://apigw.example.com/?x=1"},
		{"missing key", "other:" + validBlock + "  cluster_name: EU-1\n", "",
			"classic: conn.yaml: central_info: key not found (top-level keys: other)"},
		{"custom account missing", "central_info:" + validBlock + "  cluster_name: EU-1\n", "tenant_a",
			"classic: conn.yaml: tenant_a: key not found (top-level keys: central_info)"},
		{"missing password", "central_info:\n  username: u\n  client_id: c\n  client_secret: s\n  customer_id: x\n  cluster_name: EU-1\n", "",
			"classic: conn.yaml: central_info.password: required to log in when no token.access_token is given"},
		{"block not mapping", "central_info: hello\n", "",
			"classic: conn.yaml: central_info: must be a mapping"},
		{"list field", "central_info:" + validBlock + "  cluster_name: [EU-1]\n", "",
			"classic: conn.yaml: central_info.cluster_name: must be a string"},
		{"token not mapping", "central_info:" + validBlock + "  cluster_name: EU-1\n  token: abc\n", "",
			"classic: conn.yaml: central_info.token: must be a mapping with access_token and refresh_token"},
		{"token store type", "central_info:" + validBlock + "  cluster_name: EU-1\ntoken_store:\n  type: redis\n  path: x\n", "",
			`classic: conn.yaml: token_store.type: unsupported token store type "redis"; only "local" is supported`},
		{"token store path", "central_info:" + validBlock + "  cluster_name: EU-1\ntoken_store:\n  type: local\n", "",
			"classic: conn.yaml: token_store.path: required"},
		{"ssl_verify", "central_info:" + validBlock + "  cluster_name: EU-1\nssl_verify: maybe\n", "",
			"classic: conn.yaml: ssl_verify: must be true, false or the path of a CA bundle (.pem/.crt)"},
		{"path in customer id", "central_info:" + strings.Replace(validBlock, "customer_id: cust", "customer_id: ../../etc", 1) + "  cluster_name: EU-1\n", "",
			"classic: conn.yaml: central_info.customer_id: must not contain path separators"},
		{"not a mapping", "- a\n- b\n", "",
			`classic: conn.yaml: the document must be a mapping with a "central_info" key`},
	} {
		_, err := ParseConfig([]byte(tc.doc), tc.account, "conn.yaml")
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: want *ConfigError, got %v", tc.name, err)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, err, tc.want)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	yml := filepath.Join(dir, "conn.yaml")
	doc := `central_info:
  username: admin@example.com
  password: pw
  client_id: cid
  client_secret: sec
  customer_id: 000123456789012345678901234567890
  cluster_name: eu-central3
  token:
    access_token: at
    refresh_token: rt
token_store:
  type: local
  path: /tmp/tokens
ssl_verify: false
`
	if err := os.WriteFile(yml, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(yml, "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := c.URL()
	if c.CustomerID != "000123456789012345678901234567890" || u != "https://apigw-eucentral3.central.arubanetworks.com" ||
		c.Token.AccessToken != "at" || c.Token.RefreshToken != "rt" || c.TokenStoreDir != "/tmp/tokens" ||
		c.SSLVerify == nil || *c.SSLVerify || c.Account != "central_info" || c.Source != yml {
		t.Fatalf("parsed %s", c)
	}

	js := filepath.Join(dir, "conn.json")
	if err := os.WriteFile(js, []byte(`{"tenant_b": {"base_url": "127.0.0.1:8443/gw/", "customer_id": 42, "token": {"access_token": "x"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = LoadConfig(js, "tenant_b")
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := c.URL(); u != "https://127.0.0.1:8443/gw" || c.CustomerID != "42" {
		t.Fatalf("json: %s %s", u, c)
	}
	c.BaseURL = "http://localhost:9/"
	if u, err := c.URL(); err != nil || u != "http://localhost:9" {
		t.Fatalf("loopback http: %s %v", u, err)
	}

	if _, err := LoadConfig(filepath.Join(dir, "conn.txt"), ""); err == nil || !strings.Contains(err.Error(), "conn.txt") {
		t.Fatalf("missing file: %v", err)
	}
	ini := filepath.Join(dir, "conn.ini")
	_ = os.WriteFile(ini, []byte("x"), 0o600)
	if _, err := LoadConfig(ini, ""); err == nil || !strings.Contains(err.Error(), "unsupported file type") {
		t.Fatalf("ini: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("central_info:\n  password: 'SECRET-IN-BROKEN-LINE\n"), 0o600)
	if _, err := LoadConfig(bad, ""); err == nil || strings.Contains(err.Error(), "SECRET-IN-BROKEN-LINE") {
		t.Fatalf("broken yaml: %v", err)
	}
}
