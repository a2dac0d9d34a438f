package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func runRulesCmd(t *testing.T, getenv map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return getenv[k] }, Log: zerolog.New(&errb)}
	code = cmdRules(context.Background(), e, args)
	return code, out.String(), errb.String()
}

func rulesDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const passingRule = `rules:
  - id: good
    title: t
    severity: high
    match: {bugcheck_code: 0x27, module: symevent}
    tests:
      match:
        - analysis: {bugcheck_code: "0x27", module_name: SYMEVENT}
      no_match:
        - analysis: {bugcheck_code: "0x27", module_name: nt}
`

func TestRulesLint(t *testing.T) {
	// The shipped library lints clean.
	code, out, errOut := runRulesCmd(t, nil, "lint")
	if code != exitOK || !strings.HasPrefix(out, "ok: ") || errOut != "" {
		t.Fatalf("lint shipped: %d %q %q", code, out, errOut)
	}

	bad := rulesDir(t, map[string]string{"a.yaml": "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {modul: x}\n"})
	code, out, _ = runRulesCmd(t, nil, "lint", bad)
	want := filepath.Join(bad, "a.yaml") + `:5:13: unknown key "modul" in match`
	if code != exitFindings || !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "1 finding(s)\n") {
		t.Errorf("lint bad: %d %q", code, out)
	}

	// A rule without tests loads, but lint reports it.
	untested := rulesDir(t, map[string]string{"a.yaml": "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {bugcheck_code: 0x1}\n"})
	code, out, _ = runRulesCmd(t, nil, "lint", "--json", untested)
	var res struct {
		OK       bool
		Rules    int
		Findings []struct {
			File         string
			Line, Column int
			Message      string
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("lint --json: %v\n%s", err, out)
	}
	if code != exitFindings || res.OK || res.Rules != 1 || len(res.Findings) != 1 || res.Findings[0].Line != 2 ||
		res.Findings[0].Message != `rule "a" needs tests.match and tests.no_match cases` {
		t.Errorf("lint untested: %d %+v", code, res)
	}

	if code, _, errOut := runRulesCmd(t, nil, "lint", filepath.Join(t.TempDir(), "absent")); code != exitUsage || !strings.Contains(errOut, "absent") {
		t.Errorf("lint absent dir: %d %q", code, errOut)
	}
	if code, _, _ := runRulesCmd(t, nil, "lint", "a", "b"); code != exitUsage {
		t.Errorf("lint two dirs: %d", code)
	}
}

func TestRulesTest(t *testing.T) {
	good := rulesDir(t, map[string]string{"a.yaml": passingRule})
	code, out, _ := runRulesCmd(t, nil, "test", "-v", good)
	if code != exitOK || !strings.Contains(out, "PASS good") || !strings.Contains(out, "why: bugcheck_code 0x27 in [0x27]") ||
		!strings.HasSuffix(out, "ok: 1 rules, 2 passed, 0 failed, 0 skipped\n") {
		t.Errorf("test good: %d\n%s", code, out)
	}

	failing := rulesDir(t, map[string]string{"a.yaml": strings.Replace(passingRule, `module_name: nt`, `module_name: symevent.sys`, 1)})
	code, out, _ = runRulesCmd(t, nil, "test", failing)
	if code != exitFindings || !strings.Contains(out, "FAIL good ") || !strings.Contains(out, "matched but must not") {
		t.Errorf("test failing: %d\n%s", code, out)
	}

	code, out, _ = runRulesCmd(t, nil, "test", "--json", failing)
	var rep struct {
		OK             bool
		Passed, Failed int
		Cases          []struct{ Rule, Status string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("test --json: %v\n%s", err, out)
	}
	if code != exitFindings || rep.OK || rep.Passed != 1 || rep.Failed != 1 || len(rep.Cases) != 2 {
		t.Errorf("test --json: %d %+v", code, rep)
	}

	// --run selects rules; selecting none is a failure, not a silent pass.
	code, out, errOut := runRulesCmd(t, nil, "test", "--run", "^nothing$", good)
	if code != exitFindings || !strings.Contains(errOut, "no rule matched --run") {
		t.Errorf("test --run none: %d %q %q", code, out, errOut)
	}
	if code, _, _ := runRulesCmd(t, nil, "test", "--run", "(", good); code != exitUsage {
		t.Errorf("bad --run: %d", code)
	}

	// Rules that do not load fail the test run with their positions.
	bad := rulesDir(t, map[string]string{"a.yaml": "rules: []\n"})
	code, out, _ = runRulesCmd(t, nil, "test", bad)
	if code != exitFindings || !strings.Contains(out, "a.yaml:1:8:") {
		t.Errorf("test bad: %d %q", code, out)
	}

	// Shared cases are skipped, and said to be, without the shared material.
	shared := rulesDir(t, map[string]string{"a.yaml": strings.Replace(passingRule, "      no_match:\n", "      no_match:\n        - shared:corpus/none.txt\n", 1)})
	code, out, _ = runRulesCmd(t, map[string]string{"BSODWATCH_SHARED": filepath.Join(t.TempDir(), "absent")}, "test", shared)
	if code != exitOK || !strings.Contains(out, "SKIP good") || !strings.Contains(out, "1 skipped") {
		t.Errorf("test shared absent: %d\n%s", code, out)
	}
}

func TestRulesShipped(t *testing.T) {
	// The shipped library passes its own tests (the shared cases run when ../shared is
	// there; its cases of their own always do).
	code, out, _ := runRulesCmd(t, nil, "test")
	if code != exitOK || !strings.Contains(out, "ok: ") {
		t.Errorf("rules test (shipped): %d\n%s", code, out)
	}
}

func TestRulesUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frob"}, {"lint", "--nope"}} {
		if code, _, _ := runRulesCmd(t, nil, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, errOut := runRulesCmd(t, nil, "--help"); code != exitOK || !strings.Contains(errOut, "rules test") {
		t.Errorf("--help: %d %q", code, errOut)
	}
}
