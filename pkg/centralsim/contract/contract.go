// Package contract checks HTTP requests and responses against the official
// GreenLake and New Central OpenAPI documents HPE publishes
// (developer.greenlake.hpe.com, developer.arubanetworks.com), kept in a
// directory outside the module (see FindDir),
// using github.com/pb33f/libopenapi-validator (OpenAPI 3.1).
//
// New Central paths may carry a base-path prefix such as "/central" (the
// simulator's CentralURL); it is stripped before matching. A few documented
// self-contradictions of the documents are patched on load (see Errata).
//
//	v, err := contract.Load(dir, contract.SimulatorPaths()...)
//	if err := v.ValidateRequest(req); err != nil { ... }
package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
)

// ErrUncovered is returned when no loaded document describes the request's
// path (for example the GLP token endpoints or /audit-log/v1/logs).
var ErrUncovered = errors.New("contract: no OpenAPI operation covers this request")

// Errata lists the patches applied to the documents on load, each fixing a
// contradiction inside the document itself.
func Errata() []string {
	return []string{
		`central: "next" response properties are typed string but described as "null if there are no further pages"; null is allowed`,
		`greenlake devices/subscriptions: errorDetails[].metadata values are typed object but the documents' own 401/403/429 examples carry strings; strings are allowed`,
	}
}

// document files and the path prefixes they cover (after stripping the Central prefix).
var documents = []struct {
	file     string
	prefixes []string
	central  bool
}{
	{"central/monitoring.json", []string{"/network-monitoring/"}, true},
	{"central/msp.json", []string{"/network-msp/"}, true},
	{"central/authorization.json", []string{"/as/token.oauth2"}, false},
	{"greenlake/workspace__workspace-management-v1-nb-openapi-workspace.json", []string{"/workspaces/"}, false},
	{"greenlake/device-management.json", []string{"/devices/"}, false},
	{"greenlake/subscription-management.json", []string{"/subscriptions/"}, false},
	{"greenlake/audit-logs.json", []string{"/audit-log/v2beta1/"}, false},
}

// Validator validates requests and responses. It is safe for concurrent use.
type Validator struct {
	// CentralPrefix is stripped from New Central paths (default "/central").
	CentralPrefix string
	docs          []*doc
}

type doc struct {
	file     string
	prefixes []string
	central  bool
	mu       sync.Mutex // the validator's caches are safe, but keep response bodies serialized
	v        validator.Validator
}

// FindDir locates the openapi directory: $CENTRALMSP_OPENAPI_DIR, else a
// sibling "shared/openapi" of the directory holding go.mod, searched upwards
// from start (the working directory when empty).
func FindDir(start string) (string, error) {
	if d := os.Getenv("CENTRALMSP_OPENAPI_DIR"); d != "" {
		if _, err := os.Stat(d); err != nil {
			return "", fmt.Errorf("CENTRALMSP_OPENAPI_DIR: %w", err)
		}
		return d, nil
	}
	if start == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		start = wd
	}
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "openapi")
			if _, err := os.Stat(d); err != nil {
				return "", fmt.Errorf("openapi directory not found beside module root %s: %w", dir, err)
			}
			return filepath.Clean(d), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above " + start)
		}
		dir = parent
	}
}

// SimulatorPaths lists the operations the simulator serves that the
// documents describe; pass them to Load to keep only those (loading the
// whole Central monitoring document takes several seconds).
func SimulatorPaths() []string {
	return []string{
		"/network-monitoring/v1/devices", "/network-monitoring/v1/device-inventory", "/network-monitoring/v1/aps",
		"/network-monitoring/v1/switches", "/network-monitoring/v1/gateways", "/network-monitoring/v1/sites-health",
		"/network-msp/v1/list-tenants", "/as/token.oauth2", "/workspaces/v1/msp-tenants", "/devices/v1/devices",
		"/subscriptions/v1/subscriptions", "/audit-log/v2beta1/logs",
	}
}

// Load reads and patches the documents in dir (the shared/openapi
// directory). With paths, only those operations are kept (document paths,
// without any Central prefix); without, every operation is loaded.
func Load(dir string, paths ...string) (*Validator, error) {
	v := &Validator{CentralPrefix: "/central"}
	for _, d := range documents {
		raw, err := os.ReadFile(filepath.Join(dir, d.file))
		if err != nil {
			return nil, fmt.Errorf("contract: %w", err)
		}
		raw, err = patch(raw, paths)
		if err != nil {
			return nil, fmt.Errorf("contract: patch %s: %w", d.file, err)
		}
		document, err := libopenapi.NewDocument(raw)
		if err != nil {
			return nil, fmt.Errorf("contract: parse %s: %w", d.file, err)
		}
		val, errs := validator.NewValidator(document, config.WithURLEncodedBodyValidation())
		if len(errs) > 0 {
			return nil, fmt.Errorf("contract: build validator for %s: %w", d.file, errors.Join(errs...))
		}
		v.docs = append(v.docs, &doc{file: d.file, prefixes: d.prefixes, central: d.central, v: val})
	}
	return v, nil
}

// patch applies Errata to one document.
func patch(raw []byte, keep []string) ([]byte, error) {
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, err
	}
	if m, ok := root.(map[string]any); ok && len(keep) > 0 {
		if ps, ok := m["paths"].(map[string]any); ok {
			for p := range ps {
				if !slices.Contains(keep, p) {
					delete(ps, p)
				}
			}
		}
	}
	var walk func(x any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			if props, ok := t["properties"].(map[string]any); ok {
				if next, ok := props["next"].(map[string]any); ok && next["type"] == "string" {
					next["type"] = []any{"string", "null"}
				}
				if md, ok := props["metadata"].(map[string]any); ok {
					if ap, ok := md["additionalProperties"].(map[string]any); ok && ap["type"] == "object" {
						ap["type"] = []any{"object", "string"}
					}
				}
			}
			for _, v := range t {
				walk(v)
			}
		case []any:
			for _, v := range t {
				walk(v)
			}
		}
	}
	walk(root)
	return json.Marshal(root)
}

// route finds the document for req and returns a copy of req whose path is
// relative to the document (Central prefix stripped).
func (v *Validator) route(req *http.Request) (*doc, *http.Request, error) {
	p := req.URL.Path
	stripped := p
	if v.CentralPrefix != "" {
		if s, ok := strings.CutPrefix(p, v.CentralPrefix); ok && strings.HasPrefix(s, "/") {
			stripped = s
		}
	}
	for _, d := range v.docs {
		path := p
		if d.central {
			path = stripped
		}
		for _, pre := range d.prefixes {
			if strings.HasPrefix(path, pre) {
				r2 := req.Clone(req.Context())
				u := *req.URL
				u.Path, u.RawPath = path, ""
				r2.URL = &u
				return d, r2, nil
			}
		}
	}
	return nil, nil, fmt.Errorf("%w: %s %s", ErrUncovered, req.Method, p)
}

// ValidationError lists every mismatch of one request or response.
type ValidationError struct {
	Document string
	Method   string
	Path     string
	Issues   []string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("contract: %s %s does not match %s:\n  %s", e.Method, e.Path, e.Document, strings.Join(e.Issues, "\n  "))
}

// ValidateRequest checks req (path, query, headers, security, body) against
// the request schemas. The body, if any, is restored for later use.
func (v *Validator) ValidateRequest(req *http.Request) error {
	d, r2, err := v.route(req)
	if err != nil {
		return err
	}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return fmt.Errorf("contract: read request body: %w", err)
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		r2.Body = io.NopCloser(bytes.NewReader(b))
	}
	ok, verrs := d.v.ValidateHttpRequestSync(r2)
	if ok {
		return nil
	}
	return newValidationError(d.file, req, verrs)
}

// ValidateResponse checks res (status, headers, body) against the response
// schemas of the operation req was sent to. The body is restored.
func (v *Validator) ValidateResponse(req *http.Request, res *http.Response) error {
	d, r2, err := v.route(req)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("contract: read response body: %w", err)
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	res2 := *res
	res2.Body = io.NopCloser(bytes.NewReader(b))
	d.mu.Lock()
	ok, verrs := d.v.ValidateHttpResponse(r2, &res2)
	d.mu.Unlock()
	if ok {
		return nil
	}
	return newValidationError(d.file, req, verrs)
}

func newValidationError(file string, req *http.Request, verrs []*verrors.ValidationError) error {
	e := &ValidationError{Document: file, Method: req.Method, Path: req.URL.Path}
	for _, ve := range verrs {
		msg := ve.Message
		if ve.Reason != "" {
			msg += ": " + ve.Reason
		}
		for _, se := range ve.SchemaValidationErrors {
			msg += "; " + se.FieldPath + ": " + se.Reason
		}
		e.Issues = append(e.Issues, msg)
	}
	return e
}
