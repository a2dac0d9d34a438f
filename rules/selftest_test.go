package rules

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// fakeParse stands in for the debugger-output parser: "code=0x27 module=x" per line.
func fakeParse(b []byte) *analysis.Analysis {
	a := &analysis.Analysis{}
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "code":
			a.BugcheckCode = v
		case "module":
			a.ModuleName = v
		}
	}
	return a
}

func TestSelfTest(t *testing.T) {
	shared := t.TempDir()
	os.MkdirAll(filepath.Join(shared, "corpus"), 0o755)
	os.WriteFile(filepath.Join(shared, "corpus", "x.txt"), []byte("code=27 module=SYMEVENT"), 0o644)
	dir := writeFiles(t, map[string]string{
		"a.yaml": `rules:
  - id: good
    title: t
    severity: high
    match: {bugcheck_code: 0x27, module: symevent}
    tests:
      match:
        - shared:corpus/x.txt
        - transcript.txt
        - fixture.json
        - analysis: {bugcheck_code: "0x27", image_name: SYMEVENT.SYS}
      no_match:
        - analysis: {bugcheck_code: "0x27", module_name: nt}
  - id: wrong
    title: t
    severity: low
    match: {bugcheck_code: 0x7f}
    tests:
      match:
        - name: want match, gets none
          analysis: {bugcheck_code: "0x27"}
        - missing.txt
        - bad.json
      no_match:
        - name: want no match, gets one
          analysis: {bugcheck_code: "0x7f"}
  - id: untested
    title: t
    severity: low
    match: {bugcheck_code: 0x1}
`,
		"transcript.txt": "code=0x27 module=symevent",
		"fixture.json":   `{"bugcheck_code":"0x27","module_name":"symevent.sys","complete":true}`,
		"bad.json":       `{"bugcheck_code":"0x27","modul":"x"}`,
	})
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep := s.Test(context.Background(), TestOptions{SharedDir: shared, Parse: fakeParse})
	if rep.Rules != 3 || rep.Passed != 5 || rep.Failed != 5 || rep.Skipped != 0 || rep.OK() {
		t.Errorf("report: rules %d passed %d failed %d skipped %d", rep.Rules, rep.Passed, rep.Failed, rep.Skipped)
	}
	byName := map[string]CaseResult{}
	for _, c := range rep.Cases {
		byName[c.Rule+"/"+c.Name] = c
	}
	checks := []struct{ key, status, detail string }{
		{"good/shared:corpus/x.txt", StatusPass, ""},
		{"good/transcript.txt", StatusPass, ""},
		{"good/fixture.json", StatusPass, ""},
		{"wrong/want match, gets none", StatusFail, "did not match; input has engine=cdb bugcheck_code=0x27"},
		{"wrong/missing.txt", StatusFail, "read fixture: open missing.txt: "},
		{"wrong/bad.json", StatusFail, `fixture bad.json: json: unknown field "modul"`},
		{"wrong/want no match, gets one", StatusFail, "matched but must not: bugcheck_code 0x7f in [0x7f]"},
		{"untested/rule has tests", StatusFail, "every rule needs tests.match and tests.no_match cases"},
	}
	for _, c := range checks {
		got, ok := byName[c.key]
		if !ok {
			t.Errorf("no case %s", c.key)
			continue
		}
		if got.Status != c.status || got.Detail != c.detail && !(strings.HasSuffix(c.detail, ": ") && strings.HasPrefix(got.Detail, c.detail)) {
			t.Errorf("%s: %s %q, want %s %q", c.key, got.Status, got.Detail, c.status, c.detail)
		}
	}
	if w := byName["good/fixture.json"].Why; len(w) != 2 {
		t.Errorf("passing case carries no why: %q", w)
	}

	// Without the shared material the shared case is skipped, never passed.
	rep = s.Test(context.Background(), TestOptions{SharedDir: filepath.Join(shared, "absent"), Parse: fakeParse, Run: regexp.MustCompile("^good$")})
	if rep.Rules != 1 || rep.Skipped != 1 || rep.Passed != 4 || rep.Failed != 0 || !rep.OK() {
		t.Errorf("without shared: %+v", rep)
	}
	if c := rep.Cases[0]; c.Status != StatusSkip || !strings.Contains(c.Detail, "absent") {
		t.Errorf("shared case: %+v", c)
	}
	rep = s.Test(context.Background(), TestOptions{Parse: fakeParse, Run: regexp.MustCompile("^good$")})
	if rep.Skipped != 1 || !strings.Contains(rep.Cases[0].Detail, "BSODWATCH_SHARED") {
		t.Errorf("no shared dir: %+v", rep.Cases[0])
	}

	// Dump fixtures go to the native engine, and are skipped without one.
	dumps := writeFiles(t, map[string]string{"a.yaml": `rules:
  - id: d
    title: t
    severity: low
    match: {bugcheck_code: 0xe2, engine: native}
    tests: {match: [crash.dmp], no_match: [{analysis: {bugcheck_code: "0xe2"}}]}
`, "crash.dmp": "PAGEDU64 fake"})
	s3, err := LoadDir(dumps)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	nat := func(r io.ReaderAt, n int64) (*analysis.Analysis, error) {
		size = n
		return &analysis.Analysis{BugcheckCode: "0xe2"}, nil
	}
	if rep := s3.Test(context.Background(), TestOptions{Native: nat}); !rep.OK() || rep.Passed != 2 || size != 13 {
		t.Errorf("dump fixture: %+v (size %d)", rep, size)
	}
	if rep := s3.Test(context.Background(), TestOptions{}); rep.Skipped != 1 || !strings.Contains(rep.Cases[0].Detail, "no native dump reader") {
		t.Errorf("dump fixture without native engine: %+v", rep)
	}

	// A report that only skipped is not OK.
	only := writeFiles(t, map[string]string{"a.yaml": `rules:
  - id: s
    title: t
    severity: low
    match: {bugcheck_code: 0x27}
    tests: {match: [shared:x.txt], no_match: [shared:y.txt]}
`})
	s2, err := LoadDir(only)
	if err != nil {
		t.Fatal(err)
	}
	if rep := s2.Test(context.Background(), TestOptions{}); rep.OK() || rep.Skipped != 2 {
		t.Errorf("all-skipped report counted as OK: %+v", rep)
	}

	// A cancelled context fails the cases instead of running them.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if rep := s.Test(ctx, TestOptions{Parse: fakeParse}); rep.Passed != 0 || rep.OK() {
		t.Errorf("cancelled run passed cases: %+v", rep)
	}
}
