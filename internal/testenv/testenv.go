// Package testenv gives tests what a plain clone of the repository may lack:
// the real local stand-ins that end-to-end tests run against (moto_server
// for S3, Secrets Manager and SQS on loopback, with an AWS SDK configuration
// that points at it; command-line tools such as aws and cfn-lint) and HPE's
// OpenAPI documents that the contract tests check against (OpenAPIDir).
//
// When one is missing the test is skipped with a one-line notice on a
// developer machine and fails under CI (CI=true), so a green CI always means
// those paths ran.
package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Required reports whether missing stand-ins must fail the test rather than
// skip it. It is true under CI and when CENTRALMSP_REQUIRE_AWS_LOCAL=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("CENTRALMSP_REQUIRE_AWS_LOCAL") == "1"
}

// Moto is a running moto_server.
type Moto struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:40123.
	Endpoint string
	cmd      *exec.Cmd
	logPath  string
}

// StartMoto starts a fresh moto_server on a free loopback port for the test
// and stops it in t.Cleanup. Each call gets its own server and so its own
// empty state.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if Required() {
			t.Fatalf("moto_server is required (CI=true) but not on PATH: %v", err)
		}
		t.Skip("moto_server not installed: end-to-end AWS test skipped (required under CI=true)")
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	logPath := filepath.Join(t.TempDir(), "moto.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating moto log: %v", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto_server: %v", err)
	}
	m := &Moto{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, logPath: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
	})
	if err := waitHTTP(m.Endpoint+"/moto-api/", 30*time.Second); err != nil {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("moto_server did not become ready: %v\n%s", err, log)
	}
	return m
}

// AWSConfig returns an AWS SDK configuration whose every service endpoint is
// this moto server, with static test credentials and region us-east-1.
func (m *Moto) AWSConfig(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(m.Endpoint),
	)
	if err != nil {
		t.Fatalf("loading AWS config: %v", err)
	}
	return cfg
}

// Env returns the environment variables that point a process started with the
// AWS SDK's default configuration (a Lambda binary, the CLI) at this server.
func (m *Moto) Env() []string {
	return []string{
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_ENDPOINT_URL=" + m.Endpoint,
		"AWS_ENDPOINT_URL_S3=" + m.Endpoint,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + m.Endpoint,
		"AWS_ENDPOINT_URL_SQS=" + m.Endpoint,
	}
}

// SetEnv sets Env() in the test's process environment (t.Setenv), for code
// under test that loads the default AWS configuration itself.
func (m *Moto) SetEnv(t *testing.T) {
	t.Helper()
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

var portMu sync.Mutex

func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers or the deadline passes. Polling a
// process's readiness is not a timing assumption: it only bounds start-up.
func waitHTTP(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// RequireTool fails (under CI) or skips the test when a command is missing.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if Required() {
			t.Fatalf("%s is required (CI=true) but not on PATH", name)
		}
		t.Skipf("%s not installed: skipped (required under CI=true)", name)
	}
	return p
}
