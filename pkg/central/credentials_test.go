package central

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCredentialsErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, doc  string
		format     Format
		block, fld string
		reason     string
	}{
		{"empty", ``, FormatYAML, "", "", "No valid token information provided. Supported apps: new_central, glp, unified"},
		{"unknown block", "classic:\n  client_id: a\n", FormatYAML, "classic", "", "Unknown app name 'classic' provided. Supported apps: new_central, glp, unified"},
		{"unknown format", "{}", Format("toml"), "", "", `Unsupported format "toml"`},
		{"access_token int", `{"glp":{"access_token":123}}`, FormatJSON, "glp", "access_token", "'access_token' for 'glp' must be a string. Got <class 'int'> instead."},
		{"access_token list yaml", "new_central:\n  cluster_name: US-2\n  access_token: [a, b]\n", FormatYAML, "new_central", "access_token", "'access_token' for 'new_central' must be a string. Got <class 'list'> instead."},
		{"client_id bool", "glp:\n  client_id: true\n  client_secret: x\n", FormatYAML, "glp", "client_id", "must be a string"},
		{"both cluster and base", "new_central:\n  cluster_name: US-2\n  base_url: https://x.example\n  access_token: t\n", FormatYAML, "new_central", "cluster_name", "You cannot provide both 'cluster_name' and 'base_url' for new_central. Please provide only one."},
		{"neither cluster nor base", "new_central:\n  access_token: t\n", FormatYAML, "new_central", "cluster_name", "For new_central, either 'cluster_name' or 'base_url' must be provided."},
		{"unknown cluster", "new_central:\n  cluster_name: Mars-1\n  access_token: t\n", FormatYAML, "new_central", "cluster_name", "Invalid cluster_name 'Mars-1' provided. Supported clusters: EU-1, EU-Central2, EU-Central3, UK, US-1, US-2, US-WEST-4, US-WEST-5, US-East1, Canada-1, APAC-1, APAC-EAST1, APAC-SOUTH1, UAE, China, Internal"},
		{"standalone missing secret", "glp:\n  client_id: a\n", FormatYAML, "glp", "client_secret", "Missing required keys for token creation for 'glp': client_secret."},
		{"unified missing", "unified:\n  client_id: a\n  access_token: t\n", FormatYAML, "unified", "client_secret, workspace_id", "Missing required keys for token creation for 'unified': client_secret, workspace_id."},
		{"unified unknown cluster", "unified:\n  client_id: a\n  client_secret: b\n  workspace_id: w\n  cluster_name: nope\n", FormatYAML, "unified", "cluster_name", "Invalid cluster_name 'nope'"},
		{"http non-loopback", "unified:\n  client_id: a\n  client_secret: b\n  workspace_id: w\n  base_url: http://central.example.com\n", FormatYAML, "unified", "base_url", "plain http is only allowed for loopback hosts"},
		{"http glp_base_url", "unified:\n  client_id: a\n  client_secret: b\n  workspace_id: w\n  glp_base_url: http://10.0.0.1:8080\n", FormatYAML, "unified", "glp_base_url", "use https"},
		{"token endpoint ftp", "glp:\n  access_token: t\n  token_endpoint: ftp://x.example\n", FormatYAML, "glp", "token_endpoint", "scheme must be https"},
		{"block not a map", "glp: hello\n", FormatYAML, "glp", "", "block 'glp' must be a mapping"},
		{"bad yaml", "glp: [\n", FormatYAML, "", "", "invalid YAML"},
		{"bad json", `{"glp":`, FormatJSON, "", "", "invalid JSON"},
		{"workspace with slash", "unified:\n  client_id: a\n  client_secret: b\n  workspace_id: w/../x\n", FormatYAML, "unified", "workspace_id", "must not contain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseCredentials([]byte(tc.doc), tc.format, "creds.yaml")
			var ce *CredentialsError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *CredentialsError", err)
			}
			if ce.Source != "creds.yaml" || ce.Block != tc.block || ce.Field != tc.fld {
				t.Errorf("source/block/field = %q/%q/%q, want creds.yaml/%q/%q", ce.Source, ce.Block, ce.Field, tc.block, tc.fld)
			}
			if !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("reason = %q, want it to contain %q", ce.Reason, tc.reason)
			}
			msg := err.Error()
			for _, want := range []string{"creds.yaml", tc.block, tc.fld} {
				if !strings.Contains(msg, want) {
					t.Errorf("Error() = %q does not name %q", msg, want)
				}
			}
		})
	}
}

func TestParseCredentialsValid(t *testing.T) {
	t.Parallel()
	t.Run("unified precedence warns and drops", func(t *testing.T) {
		t.Parallel()
		log, buf := bufLogger()
		doc := "unified:\n  client_id: a\n  client_secret: b\n  workspace_id: w1\n  cluster_name: internal\nglp:\n  access_token: x\nnew_central:\n  cluster_name: US-2\n  access_token: y\n"
		c, err := parseCredentials([]byte(doc), FormatYAML, "f.yaml", log)
		if err != nil {
			t.Fatal(err)
		}
		if c.GLP != nil || c.NewCentral != nil {
			t.Errorf("standalone blocks kept alongside unified")
		}
		if got := c.Unified.CentralURL(); got != "https://internal.api.central.arubanetworks.com" {
			t.Errorf("CentralURL = %q", got)
		}
		if got := c.Unified.TokenURL(); got != "https://global.api.greenlake.hpe.com/authorization/v2/oauth2/w1/token" {
			t.Errorf("TokenURL = %q", got)
		}
		out := buf.String()
		if !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "takes precedence") || !strings.Contains(out, "glp") {
			t.Errorf("no precedence warning: %s", out)
		}
	})
	t.Run("json standalone", func(t *testing.T) {
		t.Parallel()
		c, err := ParseCredentials([]byte(`{"new_central":{"base_url":"us2.api.central.arubanetworks.com/","client_id":"a","client_secret":"b","access_token":null},"glp":{"access_token":"t"}}`), FormatJSON, "x.json")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.NewCentral.URL(AppCentral); got != "https://us2.api.central.arubanetworks.com" {
			t.Errorf("new_central URL = %q", got)
		}
		if got := c.GLP.URL(AppGLP); got != DefaultGLPBaseURL {
			t.Errorf("glp URL = %q", got)
		}
		if got := c.NewCentral.TokenURL(); got != SSOTokenURL {
			t.Errorf("token URL = %q", got)
		}
		if c.NewCentral.AccessToken != "" {
			t.Errorf("null access_token not treated as absent")
		}
	})
	t.Run("overrides and loopback http", func(t *testing.T) {
		t.Parallel()
		c, err := ParseCredentials([]byte("unified:\n  client_id: a\n  client_secret: b\n  workspace_id: w\n  glp_base_url: http://127.0.0.1:9999/\n  base_url: http://localhost:9999/central\n  token_endpoint: http://[::1]:9/tok\n"), FormatYAML, "")
		if err != nil {
			t.Fatal(err)
		}
		u := c.Unified
		if u.GLPURL() != "http://127.0.0.1:9999" || u.CentralURL() != "http://localhost:9999/central" || u.TokenURL() != "http://[::1]:9/tok" {
			t.Errorf("urls = %q %q %q", u.GLPURL(), u.CentralURL(), u.TokenURL())
		}
		u.TokenEndpoint = ""
		if got := u.TokenURL(); got != "http://127.0.0.1:9999/authorization/v2/oauth2/w/token" {
			t.Errorf("issuer = %q", got)
		}
	})
	t.Run("glp only unified", func(t *testing.T) {
		t.Parallel()
		c, err := ParseCredentials([]byte("unified: {client_id: a, client_secret: b, workspace_id: w}"), FormatYAML, "")
		if err != nil {
			t.Fatal(err)
		}
		if c.Unified.CentralURL() != "" {
			t.Errorf("CentralURL should be empty")
		}
	})
}

func TestClusterURL(t *testing.T) {
	t.Parallel()
	if n := len(ClusterNames()); n != 16 {
		t.Fatalf("%d clusters, want 16", n)
	}
	for name, want := range map[string]string{
		"EU-1": "https://de1.api.central.arubanetworks.com", "us-west-5": "https://us5.api.central.arubanetworks.com",
		" china ": "https://cn1.api.central.arubanetworks.com.cn", "US-East1": "https://us6.api.central.arubanetworks.com",
		"apac-south1": "https://au1.api.central.arubanetworks.com", "UAE": "https://ae1.api.central.arubanetworks.com",
	} {
		if got, ok := ClusterURL(name); !ok || got != want {
			t.Errorf("ClusterURL(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, ok := ClusterURL("US-3"); ok {
		t.Error("US-3 should be unknown")
	}
}

func TestLoadCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	y := write("c.yml", "glp:\n  client_id: a\n  client_secret: b\n")
	j := write("c.JSON", `{"glp":{"client_id":"a","client_secret":"b"}}`)
	for _, p := range []string{y, j} {
		c, err := LoadCredentials(p)
		if err != nil || c.GLP == nil || c.Source != p {
			t.Errorf("LoadCredentials(%s) = %v, %v", p, c, err)
		}
	}
	_, err := LoadCredentials(write("c.txt", "glp: {}"))
	if err == nil || !strings.Contains(err.Error(), "Unsupported file format. Use YAML or JSON.") {
		t.Errorf("txt: %v", err)
	}
	missing := filepath.Join(dir, "nope.yaml")
	_, err = LoadCredentials(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "File not found: "+missing) {
		t.Errorf("missing: %v", err)
	}
}

func TestValidateGoValue(t *testing.T) {
	t.Parallel()
	var nilCreds *Credentials
	if err := nilCreds.Validate(); err == nil {
		t.Error("nil credentials validated")
	}
	c := &Credentials{NewCentral: &AppCreds{ClusterName: "us-2", AccessToken: "t"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.NewCentral.ClusterName != "us-2" {
		t.Error("Validate modified the value")
	}
	c = &Credentials{}
	var ce *CredentialsError
	if err := c.Validate(); !errors.As(err, &ce) || ce.Source != "<value>" {
		t.Errorf("empty: %v", err)
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	t.Parallel()
	c := &Credentials{
		Unified:    &Unified{ClientID: "id", ClientSecret: "SECRET-CANARY", WorkspaceID: "w", AccessToken: "TOKEN-CANARY"},
		GLP:        &AppCreds{ClientSecret: "SECRET-CANARY", AccessToken: "TOKEN-CANARY"},
		NewCentral: &AppCreds{ClientSecret: "SECRET-CANARY"},
	}
	log, buf := bufLogger()
	log.Info("creds", "c", c, "u", c.Unified, "g", *c.GLP)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v %+v %#v", *c.Unified, c.Unified, c.GLP), buf.String()} {
		if strings.Contains(s, "CANARY") {
			t.Errorf("secret printed: %s", s)
		}
	}
}
