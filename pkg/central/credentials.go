package central

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/centralmsp/centralmsp/internal/httpcore"
)

// Default endpoints.
const (
	// DefaultGLPBaseURL is the single GreenLake Platform API host
	// (https://developer.greenlake.hpe.com/docs/greenlake/guides/public/authentication/authentication).
	DefaultGLPBaseURL = "https://global.api.greenlake.hpe.com"
	// SSOTokenURL is the token endpoint of standalone glp and new_central blocks.
	SSOTokenURL = "https://sso.common.cloud.hpe.com/as/token.oauth2"
)

// Credential block names.
const (
	blockUnified    = "unified"
	blockGLP        = "glp"
	blockNewCentral = "new_central"
)

var supportedBlocks = []string{blockNewCentral, blockGLP, blockUnified}

// Credentials holds the credential blocks of a PyCentral token_info document.
// When Unified is set, GLP and NewCentral are ignored (a warning is logged).
//
// Printing a Credentials value (fmt, slog) never shows secrets or tokens.
type Credentials struct {
	Unified    *Unified  `yaml:"unified,omitempty" json:"unified,omitempty"`
	GLP        *AppCreds `yaml:"glp,omitempty" json:"glp,omitempty"`
	NewCentral *AppCreds `yaml:"new_central,omitempty" json:"new_central,omitempty"`
	// Source names where the credentials came from (a file path, or "<value>"
	// when empty); it is used in error messages only.
	Source string `yaml:"-" json:"-"`
}

// Unified is the unified credential block: one GLP API client whose token
// serves both GLP and New Central.
type Unified struct {
	ClientID     string `yaml:"client_id,omitempty" json:"client_id,omitempty"`
	ClientSecret string `yaml:"client_secret,omitempty" json:"client_secret,omitempty"`
	WorkspaceID  string `yaml:"workspace_id,omitempty" json:"workspace_id,omitempty"`
	// ClusterName or BaseURL (at most one) enables New Central calls.
	ClusterName string `yaml:"cluster_name,omitempty" json:"cluster_name,omitempty"`
	BaseURL     string `yaml:"base_url,omitempty" json:"base_url,omitempty"`
	// GLPBaseURL defaults to DefaultGLPBaseURL.
	GLPBaseURL string `yaml:"glp_base_url,omitempty" json:"glp_base_url,omitempty"`
	// TokenEndpoint overrides the per-workspace issuer.
	TokenEndpoint string `yaml:"token_endpoint,omitempty" json:"token_endpoint,omitempty"`
	// AccessToken is an optional pre-existing token.
	AccessToken string `yaml:"access_token,omitempty" json:"access_token,omitempty"`
}

// AppCreds is a standalone glp or new_central credential block.
type AppCreds struct {
	ClientID     string `yaml:"client_id,omitempty" json:"client_id,omitempty"`
	ClientSecret string `yaml:"client_secret,omitempty" json:"client_secret,omitempty"`
	// ClusterName or BaseURL: exactly one for new_central; glp uses BaseURL
	// (default DefaultGLPBaseURL) and ignores ClusterName.
	ClusterName string `yaml:"cluster_name,omitempty" json:"cluster_name,omitempty"`
	BaseURL     string `yaml:"base_url,omitempty" json:"base_url,omitempty"`
	// TokenEndpoint overrides SSOTokenURL.
	TokenEndpoint string `yaml:"token_endpoint,omitempty" json:"token_endpoint,omitempty"`
	AccessToken   string `yaml:"access_token,omitempty" json:"access_token,omitempty"`
}

// Format is the encoding of a credentials document.
type Format string

// Supported credential formats.
const (
	FormatYAML Format = "yaml"
	FormatJSON Format = "json"
)

// CredentialsError reports invalid credentials. Error names the source, the
// block and the field. It never contains a secret or token value.
type CredentialsError struct {
	Source string // file path or "<value>"
	Block  string // unified, glp, new_central, or "" for the whole document
	Field  string // key inside the block, or ""
	Reason string // PyCentral's message text
	Err    error  // underlying error (file system, decoder), if any
}

// Error implements error.
func (e *CredentialsError) Error() string {
	var b strings.Builder
	b.WriteString("central: credentials ")
	b.WriteString(orValue(e.Source))
	if e.Block != "" {
		fmt.Fprintf(&b, ": block %q", e.Block)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %q", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *CredentialsError) Unwrap() error { return e.Err }

func orValue(s string) string {
	if s == "" {
		return "<value>"
	}
	return s
}

// LoadCredentials reads a credentials file. The format follows the extension:
// .yaml/.yml or .json; anything else is refused.
func LoadCredentials(path string) (*Credentials, error) {
	return loadCredentials(path, slog.Default())
}

func loadCredentials(path string, log *slog.Logger) (*Credentials, error) {
	var format Format
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		format = FormatYAML
	case ".json":
		format = FormatJSON
	default:
		return nil, &CredentialsError{Source: path, Reason: "Failed to load token information: Failed to parse data from file: Unsupported file format. Use YAML or JSON."}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		reason := "Failed to load token information: " + err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			reason = "Failed to load token information: File not found: " + path
		}
		return nil, &CredentialsError{Source: path, Reason: reason, Err: err}
	}
	return parseCredentials(data, format, path, log)
}

// ParseCredentials decodes and validates a credentials document. source names
// it in error messages (e.g. a file path or a secret name).
func ParseCredentials(data []byte, format Format, source string) (*Credentials, error) {
	return parseCredentials(data, format, source, slog.Default())
}

func parseCredentials(data []byte, format Format, source string, log *slog.Logger) (*Credentials, error) {
	var doc any
	switch Format(strings.ToLower(string(format))) {
	case FormatYAML:
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, &CredentialsError{Source: orValue(source), Reason: "Failed to load token information: invalid YAML: " + redactDecodeErr(err), Err: errors.New("yaml decode error")}
		}
	case FormatJSON:
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, &CredentialsError{Source: orValue(source), Reason: "Failed to load token information: invalid JSON: " + redactDecodeErr(err), Err: errors.New("json decode error")}
		}
		if dec.More() {
			return nil, &CredentialsError{Source: orValue(source), Reason: "Failed to load token information: invalid JSON: trailing data"}
		}
	default:
		return nil, &CredentialsError{Source: orValue(source), Reason: fmt.Sprintf("Unsupported format %q. Use YAML or JSON.", string(format))}
	}
	c, err := credentialsFromDoc(doc, orValue(source), log)
	if err != nil {
		return nil, err
	}
	if err := c.validate(log, false); err != nil {
		return nil, err
	}
	return c, nil
}

// redactDecodeErr keeps decoder error positions but drops quoted input, which
// could hold part of a secret.
func redactDecodeErr(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, "`\"'"); i >= 0 {
		msg = msg[:i] + "…"
	}
	return msg
}

var (
	unifiedFields = []string{"client_id", "client_secret", "workspace_id", "cluster_name", "base_url", "glp_base_url", "token_endpoint", "access_token"}
	appFields     = []string{"client_id", "client_secret", "cluster_name", "base_url", "token_endpoint", "access_token"}
)

func credentialsFromDoc(doc any, source string, log *slog.Logger) (*Credentials, error) {
	top, ok := asMap(doc)
	if !ok || len(top) == 0 {
		return nil, &CredentialsError{Source: source, Reason: "No valid token information provided. Supported apps: " + strings.Join(supportedBlocks, ", ")}
	}
	c := &Credentials{Source: source}
	keys := sortedKeys(top)
	for _, k := range keys {
		if !slices.Contains(supportedBlocks, k) {
			return nil, &CredentialsError{Source: source, Block: k, Reason: fmt.Sprintf("Unknown app name '%s' provided. Supported apps: %s", k, strings.Join(supportedBlocks, ", "))}
		}
	}
	if _, ok := top[blockUnified]; ok {
		var ignored []string
		for _, k := range []string{blockGLP, blockNewCentral} {
			if _, ok := top[k]; ok {
				ignored = append(ignored, k)
			}
		}
		if len(ignored) > 0 {
			log.Warn("'unified' credentials were provided alongside other blocks; they are ignored, 'unified' takes precedence",
				"source", source, "ignored", ignored)
		}
		fields, err := blockFields(top[blockUnified], source, blockUnified, unifiedFields, log)
		if err != nil {
			return nil, err
		}
		c.Unified = &Unified{
			ClientID: fields["client_id"], ClientSecret: fields["client_secret"], WorkspaceID: fields["workspace_id"],
			ClusterName: fields["cluster_name"], BaseURL: fields["base_url"], GLPBaseURL: fields["glp_base_url"],
			TokenEndpoint: fields["token_endpoint"], AccessToken: fields["access_token"],
		}
		return c, nil
	}
	for _, k := range keys {
		fields, err := blockFields(top[k], source, k, appFields, log)
		if err != nil {
			return nil, err
		}
		a := &AppCreds{
			ClientID: fields["client_id"], ClientSecret: fields["client_secret"], ClusterName: fields["cluster_name"],
			BaseURL: fields["base_url"], TokenEndpoint: fields["token_endpoint"], AccessToken: fields["access_token"],
		}
		if k == blockGLP {
			c.GLP = a
		} else {
			c.NewCentral = a
		}
	}
	return c, nil
}

// blockFields checks that a block is a mapping whose known keys hold strings.
// Null values count as absent, as in PyCentral.
func blockFields(v any, source, block string, known []string, log *slog.Logger) (map[string]string, error) {
	m, ok := asMap(v)
	if !ok {
		if v == nil {
			m = map[string]any{}
		} else {
			return nil, &CredentialsError{Source: source, Block: block, Reason: fmt.Sprintf("block '%s' must be a mapping. Got %s instead.", block, pyType(v))}
		}
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		val := m[k]
		if !slices.Contains(known, k) {
			log.Warn("unknown credential field ignored", "source", source, "block", block, "field", k)
			continue
		}
		if val == nil {
			continue
		}
		s, ok := val.(string)
		if !ok {
			return nil, &CredentialsError{Source: source, Block: block, Field: k,
				Reason: fmt.Sprintf("'%s' for '%s' must be a string. Got %s instead.", k, block, pyType(val))}
		}
		out[k] = s
	}
	return out, nil
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pyType names a decoded value's type as Python would, for PyCentral-identical
// messages.
func pyType(v any) string {
	switch x := v.(type) {
	case bool:
		return "<class 'bool'>"
	case int, int64, uint64, int32:
		return "<class 'int'>"
	case float64, float32:
		return "<class 'float'>"
	case json.Number:
		if strings.ContainsAny(x.String(), ".eE") {
			return "<class 'float'>"
		}
		return "<class 'int'>"
	case []any:
		return "<class 'list'>"
	case map[string]any, map[any]any:
		return "<class 'dict'>"
	default:
		return fmt.Sprintf("<class '%T'>", v)
	}
}

// Validate checks the credentials with PyCentral's rules
// (https://github.com/aruba/pycentral, its credential validation) plus URL safety: every URL must be https, except http for loopback
// hosts. It does not modify c. Warnings (ignored blocks) go to slog.Default().
func (c *Credentials) Validate() error {
	return c.validate(slog.Default(), false)
}

// validate checks c. external=true relaxes the client-credential requirements
// because an external TokenSource supplies tokens.
func (c *Credentials) validate(log *slog.Logger, external bool) error {
	if c == nil {
		return &CredentialsError{Source: "<value>", Reason: "No valid token information provided. Supported apps: " + strings.Join(supportedBlocks, ", ")}
	}
	src := orValue(c.Source)
	if c.Unified == nil && c.GLP == nil && c.NewCentral == nil {
		return &CredentialsError{Source: src, Reason: "No valid token information provided. Supported apps: " + strings.Join(supportedBlocks, ", ")}
	}
	if c.Unified != nil {
		if c.GLP != nil || c.NewCentral != nil {
			log.Warn("'unified' credentials were provided alongside other blocks; they are ignored, 'unified' takes precedence", "source", src)
		}
		return c.Unified.validate(src, external)
	}
	if c.NewCentral != nil {
		if err := c.NewCentral.validate(src, blockNewCentral, external); err != nil {
			return err
		}
	}
	if c.GLP != nil {
		if err := c.GLP.validate(src, blockGLP, external); err != nil {
			return err
		}
	}
	return nil
}

func (u *Unified) validate(src string, external bool) error {
	if !external {
		var missing []string
		for _, f := range []struct{ k, v string }{{"client_id", u.ClientID}, {"client_secret", u.ClientSecret}, {"workspace_id", u.WorkspaceID}} {
			if strings.TrimSpace(f.v) == "" {
				missing = append(missing, f.k)
			}
		}
		if len(missing) > 0 {
			return &CredentialsError{Source: src, Block: blockUnified, Field: strings.Join(missing, ", "),
				Reason: fmt.Sprintf("Missing required keys for token creation for 'unified': %s. Provide either a valid access token or the required credentials to generate an access token.", strings.Join(missing, ", "))}
		}
	}
	if strings.ContainsAny(u.WorkspaceID, "/?#%\\ \t\r\n") {
		return &CredentialsError{Source: src, Block: blockUnified, Field: "workspace_id", Reason: "workspace_id must not contain '/', '?', '#', '%', '\\' or spaces"}
	}
	if u.ClusterName != "" && u.BaseURL != "" {
		return &CredentialsError{Source: src, Block: blockUnified, Field: "cluster_name",
			Reason: "You cannot provide both 'cluster_name' and 'base_url' for unified. Please provide only one."}
	}
	if u.ClusterName != "" {
		if _, ok := ClusterURL(u.ClusterName); !ok {
			return unknownCluster(src, blockUnified, u.ClusterName)
		}
	}
	for _, f := range []struct{ k, v string }{{"base_url", u.BaseURL}, {"glp_base_url", u.GLPBaseURL}, {"token_endpoint", u.TokenEndpoint}} {
		if f.v == "" {
			continue
		}
		if _, err := normalizeURL(f.v); err != nil {
			return &CredentialsError{Source: src, Block: blockUnified, Field: f.k, Reason: err.Error()}
		}
	}
	return nil
}

func (a *AppCreds) validate(src, block string, external bool) error {
	if block == blockNewCentral {
		switch {
		case a.ClusterName != "" && a.BaseURL != "":
			return &CredentialsError{Source: src, Block: block, Field: "cluster_name",
				Reason: "You cannot provide both 'cluster_name' and 'base_url' for new_central. Please provide only one."}
		case a.ClusterName != "":
			if _, ok := ClusterURL(a.ClusterName); !ok {
				return unknownCluster(src, block, a.ClusterName)
			}
		case a.BaseURL == "":
			return &CredentialsError{Source: src, Block: block, Field: "cluster_name",
				Reason: "For new_central, either 'cluster_name' or 'base_url' must be provided."}
		}
	}
	if !external && a.AccessToken == "" {
		var missing []string
		if strings.TrimSpace(a.ClientID) == "" {
			missing = append(missing, "client_id")
		}
		if strings.TrimSpace(a.ClientSecret) == "" {
			missing = append(missing, "client_secret")
		}
		if len(missing) > 0 {
			return &CredentialsError{Source: src, Block: block, Field: strings.Join(missing, ", "),
				Reason: fmt.Sprintf("Missing required keys for token creation for '%s': %s. Provide either a valid access token or the required credentials to generate an access token.", block, strings.Join(missing, ", "))}
		}
	}
	for _, f := range []struct{ k, v string }{{"base_url", a.BaseURL}, {"token_endpoint", a.TokenEndpoint}} {
		if f.v == "" {
			continue
		}
		if _, err := normalizeURL(f.v); err != nil {
			return &CredentialsError{Source: src, Block: block, Field: f.k, Reason: err.Error()}
		}
	}
	return nil
}

func unknownCluster(src, block, name string) error {
	return &CredentialsError{Source: src, Block: block, Field: "cluster_name",
		Reason: fmt.Sprintf("Invalid cluster_name '%s' provided. Supported clusters: %s", name, strings.Join(ClusterNames(), ", "))}
}

// normalizeURL applies PyCentral's valid_url (a bare host gets https://) and
// the transport rule: https everywhere, http only for loopback hosts. The
// result has no trailing slash.
func normalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	bad := func(why string) error {
		//lint:ignore ST1005 PyCentral's text, which users match on
		return fmt.Errorf("Invalid Base URL - %s: %s", httpcore.RedactURL(s), why)
	}
	if s == "" {
		return "", bad("empty")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return "", bad("not a URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", bad("plain http is only allowed for loopback hosts; use https")
		}
	default:
		return "", bad("scheme must be https")
	}
	if u.User != nil {
		return "", bad("user information is not allowed in URLs")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", bad("query and fragment are not allowed")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func mustNormal(raw, def string) string {
	if raw == "" {
		return def
	}
	if n, err := normalizeURL(raw); err == nil {
		return n
	}
	return raw
}

// GLPURL returns the GLP base URL (glp_base_url or DefaultGLPBaseURL).
func (u *Unified) GLPURL() string { return mustNormal(u.GLPBaseURL, DefaultGLPBaseURL) }

// TokenURL returns token_endpoint when set, else the per-workspace issuer
// {glp_base_url}/authorization/v2/oauth2/{workspace_id}/token. workspace_id is
// used verbatim, as PyCentral does.
func (u *Unified) TokenURL() string {
	if u.TokenEndpoint != "" {
		return mustNormal(u.TokenEndpoint, "")
	}
	return u.GLPURL() + "/authorization/v2/oauth2/" + u.WorkspaceID + "/token"
}

// WorkspaceTokenURL returns the GLP issuer of any workspace,
// {glp_base_url}/authorization/v2/oauth2/{workspaceID}/token, e.g. the tenant
// token-exchange endpoint (https://developer.greenlake.hpe.com/docs/greenlake/services/credentials/public/msp-token-exchange).
// token_endpoint does not apply.
func (u *Unified) WorkspaceTokenURL(workspaceID string) string {
	return u.GLPURL() + "/authorization/v2/oauth2/" + workspaceID + "/token"
}

// CentralURL returns the New Central base URL from cluster_name or base_url;
// "" means GLP only.
func (u *Unified) CentralURL() string {
	if u.ClusterName != "" {
		if s, ok := ClusterURL(u.ClusterName); ok {
			return s
		}
		return ""
	}
	return mustNormal(u.BaseURL, "")
}

// String describes the block without its secret or token.
func (u Unified) String() string {
	return fmt.Sprintf("unified{client_id:%q workspace_id:%q central:%q glp:%q client_secret:%s access_token:%s}",
		u.ClientID, u.WorkspaceID, u.CentralURL(), u.GLPURL(), redacted(u.ClientSecret), redacted(u.AccessToken))
}

// GoString is String, so %#v cannot leak secrets either.
func (u Unified) GoString() string { return u.String() }

// LogValue implements slog.LogValuer without secrets.
func (u Unified) LogValue() slog.Value { return slog.StringValue(u.String()) }

// TokenURL returns token_endpoint when set, else SSOTokenURL.
func (a *AppCreds) TokenURL() string {
	if a.TokenEndpoint != "" {
		return mustNormal(a.TokenEndpoint, "")
	}
	return SSOTokenURL
}

// URL returns the API base URL of the block for app: the cluster or base_url
// for new_central, base_url or DefaultGLPBaseURL for glp.
func (a *AppCreds) URL(app App) string {
	if app == AppGLP {
		return mustNormal(a.BaseURL, DefaultGLPBaseURL)
	}
	if a.ClusterName != "" {
		s, _ := ClusterURL(a.ClusterName)
		return s
	}
	return mustNormal(a.BaseURL, "")
}

// String describes the block without its secret or token.
func (a AppCreds) String() string {
	return fmt.Sprintf("app{client_id:%q cluster_name:%q base_url:%q client_secret:%s access_token:%s}",
		a.ClientID, a.ClusterName, a.BaseURL, redacted(a.ClientSecret), redacted(a.AccessToken))
}

// GoString is String, so %#v cannot leak secrets either.
func (a AppCreds) GoString() string { return a.String() }

// LogValue implements slog.LogValuer without secrets.
func (a AppCreds) LogValue() slog.Value { return slog.StringValue(a.String()) }

// String describes the credentials without secrets or tokens.
func (c Credentials) String() string {
	var parts []string
	if c.Unified != nil {
		parts = append(parts, c.Unified.String())
	}
	if c.GLP != nil {
		parts = append(parts, "glp:"+c.GLP.String())
	}
	if c.NewCentral != nil {
		parts = append(parts, "new_central:"+c.NewCentral.String())
	}
	return "credentials(" + orValue(c.Source) + "){" + strings.Join(parts, " ") + "}"
}

// GoString is String, so %#v cannot leak secrets either.
func (c Credentials) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without secrets.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

func redacted(s string) string {
	if s == "" {
		return "<unset>"
	}
	return "<redacted>"
}
