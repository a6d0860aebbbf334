package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// tree makes <tmp>/<module>/go.mod, <module>/a/b and, when docs is set,
// <tmp>/shared/openapi, and returns <tmp>/<module>/a/b.
func tree(t *testing.T, docs bool) (string, string) {
	t.Helper()
	tmp := t.TempDir()
	mod := filepath.Join(tmp, "centralmsp")
	deep := filepath.Join(mod, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(tmp, "shared", "openapi")
	if docs {
		if err := os.MkdirAll(want, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return deep, want
}

func TestFindOpenAPIDirBesideModuleRoot(t *testing.T) {
	t.Setenv(OpenAPIEnv, "")
	deep, want := tree(t, true)
	got, err := FindOpenAPIDir(deep)
	if err != nil || got != want {
		t.Fatalf("FindOpenAPIDir = %q, %v; want %q", got, err, want)
	}
}

func TestFindOpenAPIDirAbsent(t *testing.T) {
	t.Setenv(OpenAPIEnv, "")
	deep, _ := tree(t, false)
	if _, err := FindOpenAPIDir(deep); !errors.Is(err, ErrOpenAPINotFound) {
		t.Fatalf("err = %v, want ErrOpenAPINotFound", err)
	}
}

func TestFindOpenAPIDirFromEnv(t *testing.T) {
	deep, _ := tree(t, false)
	other := t.TempDir()
	t.Setenv(OpenAPIEnv, other)
	if got, err := FindOpenAPIDir(deep); err != nil || got != other {
		t.Fatalf("FindOpenAPIDir = %q, %v; want %q", got, err, other)
	}
	// A variable naming a missing directory is a mistake, not an absence.
	t.Setenv(OpenAPIEnv, filepath.Join(other, "missing"))
	if _, err := FindOpenAPIDir(deep); err == nil || errors.Is(err, ErrOpenAPINotFound) {
		t.Fatalf("err = %v, want a configuration error", err)
	}
}

// fakeTB records how OpenAPIDir ends a test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

type stop struct{}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Skip(args ...any)                  { f.skipped = args[0].(string); panic(stop{}) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.failed = format; panic(stop{}) }

func runOpenAPIDir(f *fakeTB) (dir string) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stop); !ok {
				panic(r)
			}
		}
	}()
	return OpenAPIDir(f)
}

func TestOpenAPIDirSkipsLocallyFailsUnderCI(t *testing.T) {
	deep, _ := tree(t, false)
	t.Chdir(deep)
	t.Setenv(OpenAPIEnv, "")

	t.Setenv("CI", "")
	f := &fakeTB{TB: t}
	runOpenAPIDir(f)
	if f.skipped != OpenAPIMissing || f.failed != "" {
		t.Errorf("without CI: skipped %q, failed %q; want the skip notice", f.skipped, f.failed)
	}

	t.Setenv("CI", "true")
	f = &fakeTB{TB: t}
	runOpenAPIDir(f)
	if f.failed == "" || f.skipped != "" {
		t.Errorf("CI=true: skipped %q, failed %q; want a failure", f.skipped, f.failed)
	}
}
