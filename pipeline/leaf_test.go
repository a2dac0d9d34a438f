package pipeline_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The wire types are a leaf: every role imports them, so they import no role, parser or
// rule engine (a chat integration must not pull in the debugger parser).
func TestPipelineIsALeaf(t *testing.T) {
	allowed := []string{
		"github.com/bsodwatch/bsodwatch/analysis",
		"github.com/bsodwatch/bsodwatch/internal/optcheck",
		"github.com/bsodwatch/bsodwatch/pipeline",
		"github.com/bsodwatch/bsodwatch/secret",
	}
	for _, pkg := range []string{".", "../notifier/slack", "../notifier/teams", "../notifier/mattermost", "../notifier/webhook"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if !strings.HasPrefix(dep, "github.com/bsodwatch/bsodwatch/") || slices.Contains(allowed, dep) ||
				strings.HasPrefix(dep, "github.com/bsodwatch/bsodwatch/notifier/") {
				continue
			}
			t.Errorf("%s depends on %s", pkg, dep)
		}
	}
}
