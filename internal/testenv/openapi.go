package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// OpenAPIEnv names the directory holding HPE's OpenAPI documents
// (central/*.json, greenlake/*.json) when they are not at the default place.
const OpenAPIEnv = "CENTRALMSP_OPENAPI_DIR"

// OpenAPIMissing is the notice a test skips with when the documents are absent.
const OpenAPIMissing = "OpenAPI documents not found: set " + OpenAPIEnv + " or place HPE's documents at ../shared/openapi"

// ErrOpenAPINotFound is matched by FindOpenAPIDir's error when neither
// $CENTRALMSP_OPENAPI_DIR is set nor ../shared/openapi exists beside the
// module root.
var ErrOpenAPINotFound = errors.New("OpenAPI documents not found")

// FindOpenAPIDir locates HPE's OpenAPI documents: $CENTRALMSP_OPENAPI_DIR
// when set (an error if it does not exist), else the folder shared/openapi
// beside the module root (the directory holding go.mod, found by walking up
// from start, the working directory when empty).
func FindOpenAPIDir(start string) (string, error) {
	if d := os.Getenv(OpenAPIEnv); d != "" {
		fi, err := os.Stat(d)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", OpenAPIEnv, d, err)
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("%s=%s is not a directory", OpenAPIEnv, d)
		}
		return d, nil
	}
	root, err := ModuleRoot(start)
	if err != nil {
		return "", err
	}
	d := filepath.Join(filepath.Dir(root), "shared", "openapi")
	if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: %s is absent and %s is not set", ErrOpenAPINotFound, d, OpenAPIEnv)
	}
	return d, nil
}

// ModuleRoot returns the nearest directory at or above start (the working
// directory when empty) that holds go.mod.
func ModuleRoot(start string) (string, error) {
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
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod at or above %s", start)
		}
		dir = parent
	}
}

// OpenAPIDir returns the directory of HPE's OpenAPI documents for a test
// that checks against them. When they are absent the test is skipped with
// OpenAPIMissing on a developer machine and fails under CI (CI=true), where
// .ci/run's checkout has them beside it. A CENTRALMSP_OPENAPI_DIR that
// names a missing directory always fails: it is a mistake, not an absence.
func OpenAPIDir(t testing.TB) string {
	t.Helper()
	d, err := FindOpenAPIDir("")
	switch {
	case err == nil:
		return d
	case !errors.Is(err, ErrOpenAPINotFound):
		t.Fatalf("OpenAPI documents: %v", err)
	case os.Getenv("CI") == "true":
		t.Fatalf("%v (required under CI=true); set %s or place HPE's documents at ../shared/openapi", err, OpenAPIEnv)
	default:
		t.Skip(OpenAPIMissing)
	}
	return ""
}
