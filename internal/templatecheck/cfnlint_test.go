package templatecheck

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/centralmsp/centralmsp/internal/testenv"
)

// TestCfnLint runs cfn-lint on template.yaml: it must report nothing (no
// errors, no warnings). Missing cfn-lint skips the test with a notice on a
// developer machine and fails it under CI (testenv.RequireTool).
func TestCfnLint(t *testing.T) {
	bin := testenv.RequireTool(t, "cfn-lint")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "template.yaml")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}
