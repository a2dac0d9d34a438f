package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analyzer/cdbout"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/rules"
)

// transcript is a corpus transcript that a shipped rule recognises: what a replayed cdb run on
// it must end as in chat.
type transcript struct {
	path   string
	ruleID string
	title  string
	module string // the culprit as the transcript's label (written by a person) names it
}

// pickTranscripts returns up to n kernel transcripts from the shared corpus that match a
// shipped rule and whose label names the culprit module. Which rule matches is computed by
// the parser and rules packages (their own tests check them); the culprit comes from the
// independent label.
func pickTranscripts(t testing.TB, n int) []transcript {
	t.Helper()
	dir := filepath.Join(sharedtest.Dir(t, "corpus"), "kernel")
	rl, err := rules.NewReloader("", zerolog.Nop(), nil)
	if err != nil {
		t.Fatalf("shipped rules: %v", err)
	}
	set := rl.Current()
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	sort.Strings(files)
	var out []transcript
	for _, f := range files {
		var side struct {
			Flattened bool `json:"flattened"`
			Partial   bool `json:"partial"`
			Expected  struct {
				ModuleName string `json:"module_name"`
			} `json:"expected"`
		}
		b, err := os.ReadFile(strings.TrimSuffix(f, ".txt") + ".json")
		if err != nil || json.Unmarshal(b, &side) != nil || side.Expected.ModuleName == "" || side.Flattened || side.Partial {
			continue
		}
		if strings.HasPrefix(strings.ToLower(side.Expected.ModuleName), "unknown") {
			continue
		}
		txt, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a := cdbout.ParseBytes(txt)
		ms := set.Match(rules.Input{Analysis: a, Engine: "cdb"})
		if len(ms) == 0 {
			continue
		}
		out = append(out, transcript{path: f, ruleID: ms[0].ID, title: ms[0].Title, module: side.Expected.ModuleName})
		if len(out) == n {
			break
		}
	}
	if len(out) == 0 {
		t.Fatal("no corpus transcript matches a shipped rule: the end-to-end check has nothing to show")
	}
	return out
}
