package pipeline_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The wire types are a leaf: every role imports them, so they import no role, parser or
// rule engine (a chat integration must not pull in the debugger parser). Imports can differ
// by operating system, so both are listed, whichever this test runs on.
func TestPipelineIsALeaf(t *testing.T) {
	allowed := []string{
		"github.com/bsodwatch/bsodwatch/analysis",
		"github.com/bsodwatch/bsodwatch/internal/optcheck",
		"github.com/bsodwatch/bsodwatch/pipeline",
		"github.com/bsodwatch/bsodwatch/secret",
	}
	for _, goos := range []string{"linux", "windows"} {
		for _, pkg := range []string{".", "../notifier/slack", "../notifier/teams", "../notifier/mattermost", "../notifier/webhook"} {
			cmd := exec.Command("go", "list", "-deps", pkg)
			cmd.Env = append(os.Environ(), "GOOS="+goos)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("GOOS=%s go list -deps %s: %v", goos, pkg, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				if !strings.HasPrefix(dep, "github.com/bsodwatch/bsodwatch/") || slices.Contains(allowed, dep) ||
					strings.HasPrefix(dep, "github.com/bsodwatch/bsodwatch/notifier/") {
					continue
				}
				t.Errorf("%s on %s depends on %s", pkg, goos, dep)
			}
		}
	}
}
