package cli

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunSimServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	credsPath := filepath.Join(t.TempDir(), "creds.yaml")
	var stderr strings.Builder
	env := &Env{Stdout: pw, Stderr: &stderr, Getenv: func(string) string { return "" }, Logger: slog.New(slog.DiscardHandler)}
	done := make(chan error, 1)
	go func() {
		done <- runSim(ctx, env, []string{"--addr", "127.0.0.1:0", "--tenants", "3", "--seed", "7", "--token-ttl", "60s", "--creds-out", credsPath})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var glp, central string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "GLP base URL:"); ok {
			glp = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Central base URL:"); ok {
			central = strings.TrimSpace(v)
		}
		if line == "---" {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if glp == "" || central != glp+"/central" {
		t.Fatalf("URLs not printed: glp=%q central=%q", glp, central)
	}
	creds, err := os.ReadFile(credsPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"unified:", "client_id:", "client_secret:", "workspace_id:", "glp_base_url: \"" + glp + "\"", "base_url: \"" + central + "\""} {
		if !strings.Contains(string(creds), want) {
			t.Fatalf("credentials lack %q:\n%s", want, creds)
		}
	}
	if fi, _ := os.Stat(credsPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials mode %v", fi.Mode())
	}
	res, err := http.Get(glp + "/_sim/stats")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("stats: %v %v", res, err)
	}
	res.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runSim: %v", err)
	}
}

func TestRunSimUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--tenants", "-1"}, {"--token-ttl", "0s"}, {"--bogus"}, {"extra"}} {
		var out strings.Builder
		env := &Env{Stdout: &out, Stderr: &out, Logger: slog.New(slog.DiscardHandler)}
		err := runSim(context.Background(), env, args)
		if _, ok := err.(*UsageError); !ok {
			t.Fatalf("%v: got %v, want a UsageError", args, err)
		}
	}
}
