package known_test

import (
	"context"
	"io"
	"testing"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer/native"

	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/rules/known"
)

// TestShippedRules loads the embedded library and runs every rule's own tests. Cases on
// the shared corpus are skipped (and reported as skipped) when ../shared is absent.
func TestShippedRules(t *testing.T) {
	s, err := rules.LoadFS(known.FS, "rules/known")
	if err != nil {
		t.Fatalf("shipped rules do not load:\n%v", err)
	}
	if n := len(s.Rules()); n < 60 {
		t.Errorf("shipped library has %d rules, want at least 60", n)
	}
	var shared string
	t.Run("shared", func(t *testing.T) { shared = sharedtest.Dir(t, ".") })

	rep := s.Test(context.Background(), rules.TestOptions{SharedDir: shared, Native: nativeAnalyze})
	for _, c := range rep.Cases {
		t.Run(c.Rule+"/"+c.Name, func(t *testing.T) {
			switch c.Status {
			case rules.StatusSkip:
				t.Skip(c.Detail)
			case rules.StatusFail:
				t.Errorf("%s (want %s): %s", c.Pos, c.Want, c.Detail)
			}
		})
	}
	if rep.Passed == 0 {
		t.Error("no rule test ran")
	}
	t.Logf("%d rules: %d passed, %d failed, %d skipped", rep.Rules, rep.Passed, rep.Failed, rep.Skipped)
}

// TestShippedRulesHaveReferences keeps the library honest: every rule cites a source, says
// what to do and how sure it is, names an owner, and carries both kinds of test.
func TestShippedRulesHaveReferences(t *testing.T) {
	s, err := rules.LoadFS(known.FS, "rules/known")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Rules() {
		if len(r.Links) == 0 || len(r.Remedy) == 0 || r.Summary == "" || r.Explanation == "" || r.Owner == "" || r.Confidence == "" {
			t.Errorf("%s (%s): needs links, remedy, summary, explanation, confidence and owner", r.ID, r.Pos)
		}
		if !r.Tested() {
			t.Errorf("%s (%s): needs tests.match and tests.no_match", r.ID, r.Pos)
		}
	}
}

func nativeAnalyze(r io.ReaderAt, size int64) (*analysis.Analysis, error) {
	a, _, err := native.Analyze(r, size)
	return a, err
}
