package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/drivers"
)

// goodRule is a minimal valid rule, indented to sit under "rules:".
const goodRule = `  - id: ok
    title: fine
    severity: low
    match: {bugcheck_code: 0x27}
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLoadErrors checks every load error: each bad file must be refused with exactly this
// file:line:column and message.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "line:column: message"; the file name is prefixed
	}{
		{"unknown top-level key", "rule:\n" + goodRule,
			[]string{`1:1: unknown key "rule" in rule file (known: rules)`}},
		{"rules not a list", "rules: {id: x}\n",
			[]string{`1:8: "rules" must be a non-empty list of rules, not a mapping`}},
		{"empty rules", "rules: []\n",
			[]string{`1:8: "rules" must be a non-empty list of rules, not a list`}},
		{"empty file", "",
			[]string{`1:1: file holds no rules (want a top-level "rules:" list)`}},
		{"not YAML", "rules:\n  - id: a\n    title: t: u\n",
			[]string{`3:1: not valid YAML: mapping values are not allowed in this context`}},
		{"unknown rule key", "rules:\n  - id: a\n    title: t\n    severity: low\n    sevrity: low\n    match: {bugcheck_code: 0x27}\n",
			[]string{`5:5: unknown key "sevrity" in rule (known: id, title, severity, summary, explanation, remedy, links, confidence, owner, tags, match, tests)`}},
		{"duplicate key", "rules:\n  - id: a\n    title: t\n    title: u\n    severity: low\n    match: {bugcheck_code: 0x27}\n",
			[]string{`4:5: duplicate key "title" in rule (first at line 3)`}},
		{"missing fields", "rules:\n  - id: a\n",
			[]string{`2:5: rule is missing "title"`, `2:5: rule is missing "severity"`, `2:5: rule is missing "match"`}},
		{"bad id", "rules:\n  - id: Bad Id\n    title: t\n    severity: low\n    match: {bugcheck_code: 0x27}\n",
			[]string{`2:9: id "Bad Id" must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit`}},
		{"bad severity", "rules:\n  - id: a\n    title: t\n    severity: urgent\n    match: {bugcheck_code: 0x27}\n",
			[]string{`4:15: severity "urgent" is not one of critical, high, medium, low, info`}},
		{"empty title", "rules:\n  - id: a\n    title: \"\"\n    severity: low\n    match: {bugcheck_code: 0x27}\n",
			[]string{`3:12: title is empty`}},
		{"remedy not a list", "rules:\n  - id: a\n    title: t\n    severity: low\n    remedy: reboot\n    match: {bugcheck_code: 0x27}\n",
			[]string{`5:13: remedy must be a list of strings, not the value "reboot"`}},
		{"bad link", "rules:\n  - id: a\n    title: t\n    severity: low\n    links: [ftp://x]\n    match: {bugcheck_code: 0x27}\n",
			[]string{`5:13: link "ftp://x" must be an http(s) URL`}},
		{"empty matcher", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {}\n",
			[]string{`5:12: match is empty: a rule must match on something`}},
		{"null matcher", "rules:\n  - id: a\n    title: t\n    severity: low\n    match:\n",
			[]string{`5:11: match must be a mapping of conditions, not empty`}},
		{"unknown condition", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {modul: x}\n",
			[]string{`5:13: unknown key "modul" in match (known: all, any, not, bugcheck_code, exception_code, arg1, arg2, arg3, arg4, driver, driver_kind, os_build, engine, arch, bucket, module, third_party_module, process, symbol, bugcheck_name, primary_problem_class, stack_module, stack_function, loaded_module, driver_vendor)`}},
		{"empty any", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {any: []}\n",
			[]string{`5:18: any must be a non-empty list of conditions, not a list`}},
		{"empty not", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {not: {}}\n",
			[]string{`5:18: not is empty: a rule must match on something`}},
		{"empty list of codes", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {bugcheck_code: []}\n",
			[]string{`5:28: bugcheck_code: empty list matches nothing`}},
		{"bugcheck code without 0x", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {bugcheck_code: 27}\n",
			[]string{`5:28: bugcheck_code "27": write hex numbers with 0x, e.g. 0x27`}},
		{"bugcheck code not hex", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {bugcheck_code: 0xzz}\n",
			[]string{`5:28: bugcheck_code "0xzz" is not a hex number`}},
		{"bad regex", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {bucket: {regex: \"0x27_(\"}}\n",
			[]string{"5:29: bucket: bad regex \"0x27_(\": missing closing ): `(?i)0x27_(`"}},
		{"two pattern kinds", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {module: {glob: a*, regex: b}}\n",
			[]string{`5:21: module pattern needs exactly one of exact, glob, regex`}},
		{"unknown pattern kind", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {module: {like: a}}\n",
			[]string{`5:22: unknown key "like" in module pattern (known: exact, glob, regex)`}},
		{"empty pattern", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {symbol: \"\"}\n",
			[]string{`5:21: symbol is empty`}},
		{"arg value outside mask", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {arg1: {value: 0xbaad0080, mask: 0xffff0000}}\n",
			[]string{`5:27: arg1 value 0xbaad0080 has bits outside mask 0xffff0000, so it can never match`}},
		{"arg zero mask", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {arg2: {value: 0x0, mask: 0x0}}\n",
			[]string{`5:38: arg2 mask 0x0 matches every value`}},
		{"arg without value", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {arg1: {mask: 0xff}}\n",
			[]string{`5:19: arg1 needs a value`}},
		{"os_build not a number", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {os_build: {from: 19h1}}\n",
			[]string{`5:30: os_build "19h1" is not a number`}},
		{"os_build empty range", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {os_build: {from: 22000, before: 19041}}\n",
			[]string{`5:23: os_build range is empty: its upper bound is below its lower bound`}},
		{"range with to and before", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {os_build: {to: 1, before: 2}}\n",
			[]string{`5:39: os_build range has both to and before: use one`}},
		{"bad engine", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {engine: windbg}\n",
			[]string{`5:21: engine "windbg" is not one of cdb, native`}},
		{"unknown driver kind", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {driver_kind: [edr, antivirus]}\n",
			[]string{`5:32: driver_kind "antivirus" is not one of ` + strings.Join(drivers.KindNames(), ", ")}},
		{"driver without range", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {driver: {name: symevent}}\n",
			[]string{`5:21: driver needs a timestamp or version range (to match a driver's mere presence use loaded_module)`}},
		{"driver without name", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {driver: {version: {from: 1.0}}}\n",
			[]string{`5:21: driver needs a name`}},
		{"driver bad date", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {driver: {name: x, timestamp: {before: 2007-13-01}}}\n",
			[]string{`5:51: driver timestamp before: "2007-13-01" is not a date (2006-01-02), an RFC 3339 time or a hex timestamp (0x42ddb287)`}},
		{"driver empty timestamp range", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {driver: {name: x, timestamp: {from: 2010-01-01, to: 2009-01-01}}}\n",
			[]string{`5:42: driver timestamp range is empty: its upper bound is below its lower bound`}},
		{"driver empty version range", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {driver: {name: x, version: {from: 2.0, before: 2.0}}}\n",
			[]string{`5:40: driver version range is empty: its upper bound is below its lower bound`}},
		{"driver bad version", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {driver: {name: x, version: {from: v10}}}\n",
			[]string{`5:47: driver version from "v10" is not a dotted version like 10.0.19041.1`}},
		{"unknown test key", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {bugcheck_code: 0x27}\n    tests: {must_match: [x.txt]}\n",
			[]string{`6:13: unknown key "must_match" in tests (known: match, no_match)`}},
		{"test case with file and analysis", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {bugcheck_code: 0x27}\n    tests:\n      match:\n        - {file: x.txt, analysis: {bugcheck_code: \"0x27\"}}\n",
			[]string{`8:11: test case needs exactly one of file or analysis`}},
		{"inline analysis typo", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {bugcheck_code: 0x27}\n    tests:\n      match:\n        - analysis: {bugcheck_cod: \"0x27\"}\n",
			[]string{`8:22: unknown analysis key "bugcheck_cod" (known: ` + analysisKeys() + `)`}},
		{"inline analysis bad number", "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {bugcheck_code: 0x27}\n    tests:\n      match:\n        - analysis: {os_build: win10}\n",
			[]string{`8:32: "win10" is not a number`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"r.yaml": tc.yaml})
			s, err := LoadDir(dir)
			if err == nil {
				t.Fatalf("loaded %d rules, want errors %q", len(s.Rules()), tc.want)
			}
			if s != nil {
				t.Errorf("a set came back with the errors")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %v is not Errors", err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Error())
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, filepath.Join(dir, "r.yaml")+":"+w)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
			}
		})
	}
}

func analysisKeys() string {
	return "bugcheck_code, bugcheck_name, args, bugcheck_str, exception_code, process_name, failure_bucket_id, bucket_id, default_bucket_id, primary_problem_class, module_name, image_name, image_version, symbol_name, followup_name, stack, third_party_module, blamed_module, blamed_by, suspect, suspect_why, mentioned_drivers, culprit, modules, debugger_version, symbol_path, dump_file, debugger_errors, os_build, arch, exception_record, fields, key_values, session, diagnostics, complete"
}

func TestLoadDuplicateIDAcrossFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": "rules:\n" + goodRule,
		"b.yml":  "# second file\nrules:\n" + goodRule,
	})
	_, err := LoadDir(dir)
	want := filepath.Join(dir, "b.yml") + `:3:5: duplicate rule id "ok" (first defined at ` + filepath.Join(dir, "a.yaml") + `:2:5)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestLoadDirMistakes(t *testing.T) {
	if _, err := LoadDir(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("absent dir loaded")
	}
	dir := writeFiles(t, map[string]string{"notes.txt": "not a rule"})
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "no rule files (*.yaml, *.yml) found") {
		t.Errorf("dir without rules: %v", err)
	}
}

func TestLoadCollectsEveryError(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": "rules:\n  - id: a\n    title: t\n    severity: low\n    match: {modul: x}\n",
		"b.yaml": "rules:\n  - id: b\n    title: t\n    severity: nope\n    match: {bugcheck_code: 0x27}\n",
	})
	_, err := LoadDir(dir)
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("want 2 errors from 2 files, got %v", err)
	}
	if !strings.HasSuffix(es[0].File, "a.yaml") || !strings.HasSuffix(es[1].File, "b.yaml") {
		t.Errorf("errors not in file order: %v", err)
	}
}

func TestLoadGood(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": `# anchors and several documents are fine
rules:
  - id: one
    title: One
    severity: high
    summary: s
    explanation: e
    remedy: [r1, r2]
    links: [https://example.com/kb]
    owner: team
    tags: [t]
    match:
      bugcheck_code: [0x27, 0x1000007e]
      module: &m symevent
    tests:
      match:
        - analysis: {bugcheck_code: "0x27", module_name: SYMEVENT, args: ["baad0080"], os_build: 19041, stack: [{module: nt, symbol: "nt!X"}], complete: true}
      no_match:
        - fixture.json
---
rules:
  - id: two
    title: Two
    severity: info
    match: {stack_module: *m}
`,
	})
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rules()) != 2 || len(s.Files()) != 1 {
		t.Fatalf("rules %d files %d", len(s.Rules()), len(s.Files()))
	}
	r := s.Rules()[0]
	if r.ID != "one" || r.Owner != "team" || len(r.Remedy) != 2 || r.Specificity() != 2 {
		t.Errorf("rule one: %+v spec %d", r, r.Specificity())
	}
	if len(r.Tests) != 2 || !r.Tests[0].Want || r.Tests[1].Want || r.Tests[0].Analysis.OSBuild != 19041 ||
		r.Tests[0].Analysis.BugcheckCode != "0x27" || r.Tests[0].Analysis.Stack[0].Symbol != "nt!X" {
		t.Errorf("tests: %+v", r.Tests)
	}
	if !strings.HasPrefix(s.Version(), "sha256:") {
		t.Errorf("version %q", s.Version())
	}
	// The version follows the content.
	s2, _ := LoadDir(dir)
	if s2.Version() != s.Version() {
		t.Errorf("same content, versions %s %s", s.Version(), s2.Version())
	}
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("rules:\n"+goodRule), 0o644)
	s3, _ := LoadDir(dir)
	if s3.Version() == s.Version() {
		t.Error("edited content kept its version")
	}
}
