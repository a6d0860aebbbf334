package classic

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/centralmsp/centralmsp/internal/httpcore"
)

// DefaultAccount is the key of the connection block in a config file, as in
// PyCentral's get_conn_from_file.
const DefaultAccount = "central_info"

// clusters is PyCentral's classic CLUSTER_API_BASE_URL_LIST, verbatim.
var clusters = []struct{ name, host string }{
	{"US-1", "app1-apigw.central.arubanetworks.com"},
	{"US-2", "apigw-prod2.central.arubanetworks.com"},
	{"US-East1", "apigw-us-east-1.central.arubanetworks.com"},
	{"US-West4", "apigw-uswest4.central.arubanetworks.com"},
	{"EU-1", "eu-apigw.central.arubanetworks.com"},
	{"EU-Central2", "apigw-eucentral2.central.arubanetworks.com"},
	{"EU-Central3", "apigw-eucentral3.central.arubanetworks.com"},
	{"Canada-1", "apigw-ca.central.arubanetworks.com"},
	{"China-1", "apigw.central.arubanetworks.com.cn"},
	{"APAC-1", "api-ap.central.arubanetworks.com"},
	{"APAC-EAST1", "apigw-apaceast.central.arubanetworks.com"},
	{"APAC-SOUTH1", "apigw-apacsouth.central.arubanetworks.com"},
	{"UAE-NORTH1", "apigw-uaenorth1.central.arubanetworks.com"},
}

// ClusterNames returns the 13 Classic cluster names in PyCentral's order.
func ClusterNames() []string {
	out := make([]string, len(clusters))
	for i, c := range clusters {
		out[i] = c.name
	}
	return out
}

// ClusterURL returns the API gateway URL (https://host) of a Classic cluster.
// The name is matched case-insensitively.
func ClusterURL(name string) (string, bool) {
	for _, c := range clusters {
		if strings.EqualFold(c.name, strings.TrimSpace(name)) {
			return "https://" + c.host, true
		}
	}
	return "", false
}

// Token is the token block of central_info.
type Token struct {
	AccessToken  string `yaml:"access_token,omitempty" json:"access_token,omitempty"`
	RefreshToken string `yaml:"refresh_token,omitempty" json:"refresh_token,omitempty"`
}

// Config is one Classic Central connection: PyCentral's central_info block
// plus the top-level token_store and ssl_verify keys of its config file.
// String, GoString and LogValue never show the password, the client secret
// or the tokens.
type Config struct {
	Username     string `yaml:"username,omitempty" json:"username,omitempty"`
	Password     string `yaml:"password,omitempty" json:"password,omitempty"`
	ClientID     string `yaml:"client_id,omitempty" json:"client_id,omitempty"`
	ClientSecret string `yaml:"client_secret,omitempty" json:"client_secret,omitempty"`
	CustomerID   string `yaml:"customer_id,omitempty" json:"customer_id,omitempty"`
	// BaseURL and ClusterName are exclusive: exactly one must be given. A
	// bare host gets https://; plain http is accepted for loopback hosts only.
	BaseURL     string `yaml:"base_url,omitempty" json:"base_url,omitempty"`
	ClusterName string `yaml:"cluster_name,omitempty" json:"cluster_name,omitempty"`
	Token       Token  `yaml:"token,omitempty" json:"token,omitempty"`

	// TokenStoreDir is token_store.path: the directory of the token cache
	// file. Empty = no file store unless Options.TokenStore is set.
	TokenStoreDir string `yaml:"-" json:"-"`
	// SSLVerify is ssl_verify (nil = true). false disables TLS certificate
	// verification of the client New builds, with a warning.
	SSLVerify *bool `yaml:"-" json:"-"`
	// CABundle is ssl_verify given as a path (as requests' verify=): a PEM
	// file of CA certificates trusted instead of the system roots.
	CABundle string `yaml:"-" json:"-"`

	// Source names where the config came from, for error messages
	// (file path or "<value>"); Account is the block key.
	Source  string `yaml:"-" json:"-"`
	Account string `yaml:"-" json:"-"`
}

// ConfigError reports an invalid configuration. It names the file, the block
// key and the field, never a secret value.
type ConfigError struct {
	Source  string // file path or "<value>"
	Account string // block key, e.g. central_info
	Field   string // e.g. cluster_name; "" for the whole block or file
	Reason  string
	Err     error
}

// Error implements error.
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("classic: ")
	b.WriteString(orValue(e.Source))
	if e.Account != "" {
		b.WriteString(": ")
		b.WriteString(e.Account)
		if e.Field != "" {
			b.WriteString(".")
			b.WriteString(e.Field)
		}
	} else if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

func orValue(s string) string {
	if s == "" {
		return "<value>"
	}
	return s
}

// Validate checks the config as New does: base_url xor cluster_name, a
// known cluster, https (http only for loopback hosts), and either a token or
// the five login fields (username, password, client_id, client_secret,
// customer_id).
func (c *Config) Validate() error {
	_, err := c.resolve()
	return err
}

// URL returns the resolved gateway URL (no trailing slash), or an error as
// Validate.
func (c *Config) URL() (string, error) { return c.resolve() }

func (c *Config) resolve() (string, error) {
	bad := func(field, reason string) error {
		return &ConfigError{Source: c.Source, Account: orAccount(c.Account), Field: field, Reason: reason}
	}
	base, name := strings.TrimSpace(c.BaseURL), strings.TrimSpace(c.ClusterName)
	var u string
	switch {
	case base != "" && name != "":
		return "", bad("base_url", "give either base_url or cluster_name, not both")
	case base == "" && name == "":
		return "", bad("base_url", "one of base_url or cluster_name is required")
	case name != "":
		var ok bool
		if u, ok = ClusterURL(name); !ok {
			return "", bad("cluster_name", fmt.Sprintf("unknown cluster %q; supported clusters: %s", name, strings.Join(ClusterNames(), ", ")))
		}
	default:
		n, err := normalizeURL(base)
		if err != nil {
			return "", bad("base_url", err.Error()+": "+httpcore.RedactURL(withScheme(base)))
		}
		u = n
	}
	if c.Token.AccessToken == "" {
		for _, f := range []struct{ name, v string }{
			{"username", c.Username}, {"password", c.Password}, {"client_id", c.ClientID},
			{"client_secret", c.ClientSecret}, {"customer_id", c.CustomerID},
		} {
			if strings.TrimSpace(f.v) == "" {
				return "", bad(f.name, "required to log in when no token.access_token is given")
			}
		}
	}
	for _, f := range []struct{ name, v string }{{"client_id", c.ClientID}, {"customer_id", c.CustomerID}} {
		if strings.ContainsAny(f.v, "/\\\x00") || f.v == "." || f.v == ".." {
			return "", bad(f.name, "must not contain path separators")
		}
	}
	return u, nil
}

func orAccount(a string) string {
	if a == "" {
		return DefaultAccount
	}
	return a
}

// canLogin reports whether the OAuth 3-step login is possible.
func (c *Config) canLogin() bool {
	return c.Username != "" && c.Password != "" && c.ClientID != "" && c.ClientSecret != "" && c.CustomerID != ""
}

// canRefresh reports whether a refresh grant is possible.
func (c *Config) canRefresh() bool { return c.ClientID != "" && c.ClientSecret != "" }

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

// String implements fmt.Stringer without secrets.
func (c Config) String() string {
	where := c.BaseURL
	if c.ClusterName != "" {
		where = "cluster " + c.ClusterName
	}
	return fmt.Sprintf("classic.Config{%s username=%q password=%s client_id=%q client_secret=%s customer_id=%q access_token=%s refresh_token=%s}",
		where, c.Username, redact(c.Password), c.ClientID, redact(c.ClientSecret), c.CustomerID, redact(c.Token.AccessToken), redact(c.Token.RefreshToken))
}

// GoString implements fmt.GoStringer without secrets.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without secrets.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String implements fmt.Stringer without the tokens.
func (t Token) String() string {
	return fmt.Sprintf("classic.Token{access_token=%s refresh_token=%s}", redact(t.AccessToken), redact(t.RefreshToken))
}

// GoString implements fmt.GoStringer without the tokens.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer without the tokens.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// LoadConfig reads a YAML (.yaml, .yml) or JSON (.json) file as PyCentral's
// get_conn_from_file does: the connection block is under key account
// (default "central_info"); the optional top-level token_store
// ({type: local, path: DIR}) and ssl_verify (bool) keys fill TokenStoreDir
// and SSLVerify. The result is validated; errors name the file, the key and
// the field.
func LoadConfig(path, account string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Source: path, Reason: "cannot read config file", Err: err}
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
	default:
		return nil, &ConfigError{Source: path, Reason: "unsupported file type; use .yaml, .yml or .json"}
	}
	return ParseConfig(data, account, path)
}

// ParseConfig parses a YAML or JSON document (JSON is read as YAML 1.2) like
// LoadConfig. source names it in errors.
func ParseConfig(data []byte, account, source string) (*Config, error) {
	account = orAccount(account)
	source = orValue(source)
	top, fields, err := accountBlock(data, account, source)
	if err != nil {
		return nil, err
	}
	c := &Config{Source: source, Account: account}
	if err := c.readAccount(fields); err != nil {
		return nil, err
	}
	if n, ok := top["token_store"]; ok && !isNull(n) {
		if err := c.readTokenStore(n); err != nil {
			return nil, err
		}
	}
	if n, ok := top["ssl_verify"]; ok && !isNull(n) {
		if err := c.readSSLVerify(n); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// accountBlock parses the document and returns its top-level keys and the
// fields of the account's block.
func accountBlock(data []byte, account, source string) (top, fields map[string]*yaml.Node, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, &ConfigError{Source: source, Reason: "not valid YAML or JSON", Err: scrubYAMLError(err)}
	}
	root := deref(&doc)
	if root != nil && root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = deref(root.Content[0])
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, nil, &ConfigError{Source: source, Reason: "the document must be a mapping with a " + strconvQuote(account) + " key"}
	}
	top, err = mapping(root)
	if err != nil {
		return nil, nil, &ConfigError{Source: source, Reason: err.Error()}
	}
	blk, ok := top[account]
	if !ok {
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return nil, nil, &ConfigError{Source: source, Account: account, Reason: fmt.Sprintf("key not found (top-level keys: %s)", strings.Join(keys, ", "))}
	}
	if blk.Kind != yaml.MappingNode {
		return nil, nil, &ConfigError{Source: source, Account: account, Reason: "must be a mapping"}
	}
	fields, err = mapping(blk)
	if err != nil {
		return nil, nil, &ConfigError{Source: source, Account: account, Reason: err.Error()}
	}
	return top, fields, nil
}

// readAccount reads the account block's credentials and token.
func (c *Config) readAccount(fields map[string]*yaml.Node) error {
	fail := func(field, reason string) error {
		return &ConfigError{Source: c.Source, Account: c.Account, Field: field, Reason: reason}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"username", &c.Username}, {"password", &c.Password}, {"client_id", &c.ClientID},
		{"client_secret", &c.ClientSecret}, {"customer_id", &c.CustomerID},
		{"base_url", &c.BaseURL}, {"cluster_name", &c.ClusterName},
	} {
		if n, ok := fields[f.key]; ok {
			v, err := scalar(n)
			if err != nil {
				return fail(f.key, err.Error())
			}
			*f.dst = strings.TrimSpace(v)
		}
	}
	n, ok := fields["token"]
	if !ok || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fail("token", "must be a mapping with access_token and refresh_token")
	}
	tf, err := mapping(n)
	if err != nil {
		return fail("token", err.Error())
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"access_token", &c.Token.AccessToken}, {"refresh_token", &c.Token.RefreshToken}} {
		if n, ok := tf[f.key]; ok {
			v, err := scalar(n)
			if err != nil {
				return fail("token."+f.key, err.Error())
			}
			*f.dst = strings.TrimSpace(v)
		}
	}
	return nil
}

// readTokenStore reads the top-level token_store mapping.
func (c *Config) readTokenStore(n *yaml.Node) error {
	bad := func(field, reason string) error {
		return &ConfigError{Source: c.Source, Field: field, Reason: reason}
	}
	if n.Kind != yaml.MappingNode {
		return bad("token_store", "must be a mapping {type: local, path: DIR}")
	}
	ts, err := mapping(n)
	if err != nil {
		return bad("token_store", err.Error())
	}
	typ := "local"
	if tn, ok := ts["type"]; ok {
		if typ, err = scalar(tn); err != nil {
			return bad("token_store.type", err.Error())
		}
	}
	if !strings.EqualFold(strings.TrimSpace(typ), "local") {
		return bad("token_store.type", fmt.Sprintf("unsupported token store type %q; only \"local\" is supported", typ))
	}
	pn, ok := ts["path"]
	if !ok {
		return bad("token_store.path", "required")
	}
	p, err := scalar(pn)
	if err != nil || strings.TrimSpace(p) == "" {
		return bad("token_store.path", "must be a non-empty directory path")
	}
	c.TokenStoreDir = strings.TrimSpace(p)
	return nil
}

// readSSLVerify reads the top-level ssl_verify: a boolean or a CA bundle path.
func (c *Config) readSSLVerify(n *yaml.Node) error {
	var b bool
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!bool" && n.Decode(&b) == nil:
		c.SSLVerify = &b
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str" && slices.Contains([]string{"yes", "on", "no", "off"}, strings.ToLower(n.Value)):
		b = slices.Contains([]string{"yes", "on"}, strings.ToLower(n.Value)) // YAML 1.1 booleans, as PyYAML reads them
		c.SSLVerify = &b
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str" && (strings.ContainsAny(n.Value, "/\\") || strings.HasSuffix(strings.ToLower(n.Value), ".pem") || strings.HasSuffix(strings.ToLower(n.Value), ".crt")):
		c.CABundle = strings.TrimSpace(n.Value)
	default:
		return &ConfigError{Source: c.Source, Field: "ssl_verify", Reason: "must be true, false or the path of a CA bundle (.pem/.crt)"}
	}
	return nil
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// deref follows aliases (bounded).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// mapping turns a mapping node into key → value (aliases followed).
// Duplicate keys are refused (yaml.v3 already refuses them at parse time).
func mapping(n *yaml.Node) (map[string]*yaml.Node, error) {
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	merged := map[string]bool{} // keys that came from a merge (<<) and may be overridden
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			return nil, errors.New("keys must be strings")
		}
		if k.Tag == "!!merge" { // <<: *anchor (one level; explicit keys win)
			src := deref(n.Content[i+1])
			if src == nil || src.Kind != yaml.MappingNode {
				return nil, errors.New("merge key (<<) must refer to a mapping")
			}
			for j := 0; j+1 < len(src.Content); j += 2 {
				mk, mv := deref(src.Content[j]), deref(src.Content[j+1])
				if mk == nil || mk.Kind != yaml.ScalarNode || mk.Tag == "!!merge" || mv == nil {
					continue
				}
				if _, ok := out[mk.Value]; !ok {
					out[mk.Value] = mv
					merged[mk.Value] = true
				}
			}
			continue
		}
		if _, dup := out[k.Value]; dup && !merged[k.Value] {
			return nil, fmt.Errorf("duplicate key %q", k.Value)
		}
		v := deref(n.Content[i+1])
		if v == nil {
			return nil, fmt.Errorf("key %q: alias too deep", k.Value)
		}
		out[k.Value] = v
		delete(merged, k.Value)
	}
	return out, nil
}

// scalar returns the raw text of a string or number scalar, so customer ids
// written as numbers keep every digit. null is "".
func scalar(n *yaml.Node) (string, error) {
	if isNull(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", errors.New("must be a string")
	}
	switch n.Tag {
	case "!!str", "!!int", "!!float", "":
		return n.Value, nil
	}
	return "", errors.New("must be a string")
}

// scrubYAMLError drops quoted document text from yaml errors so a secret on
// a malformed line cannot travel in the error.
func scrubYAMLError(err error) error {
	msg := err.Error()
	if i := strings.IndexAny(msg, "`'\""); i >= 0 {
		msg = msg[:i] + "..."
	}
	return errors.New(msg)
}

// withScheme prefixes https:// to a URL without a scheme.
func withScheme(s string) string {
	if !strings.Contains(s, "://") {
		return "https://" + s
	}
	return s
}

// normalizeURL turns base_url into scheme://host[/path] with no trailing
// slash: a bare host gets https://, plain http is only for loopback hosts.
func normalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return "", errors.New("not a valid URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", errors.New("plain http is only allowed for loopback hosts; use https")
		}
	default:
		return "", errors.New("scheme must be https")
	}
	if u.User != nil {
		return "", errors.New("user information is not allowed in the URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", errors.New("query and fragment are not allowed")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

func isLoopback(host string) bool {
	h := strings.ToLower(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
