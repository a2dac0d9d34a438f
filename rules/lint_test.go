package rules

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bsodwatch/bsodwatch/rules/known"
)

func TestLint(t *testing.T) {
	rule := func(id, sev, match string) string {
		return "  - id: " + id + "\n    title: t\n    severity: " + sev + "\n    match: " + match + "\n"
	}
	tests := []struct {
		name  string
		rules string
		want  []string
	}{
		{"clean: generic rule ranks below the specific one",
			rule("specific", "high", "{bugcheck_code: 0x50, module: csagent}") + rule("generic", "medium", "{module: csagent}"), nil},
		{"twins",
			rule("a", "high", "{bugcheck_code: [0x50, 0x7e], module: csagent}") + rule("b", "low", "{module: csagent, bugcheck_code: [0x7e, 0x50]}"),
			[]string{`r.yaml:6:5: rule "b" has the same conditions as "a" (r.yaml:2:5): one of them is redundant`}},
		{"shadowed by a broader rule of higher severity",
			rule("broad", "critical", "{module: [csagent, csboot]}") + rule("narrow", "high", "{bugcheck_code: 0x50, module: csagent}"),
			[]string{`r.yaml:6:5: rule "narrow" is shadowed by "broad" (r.yaml:2:5): every crash it matches also matches "broad", which is listed first (severity critical); raise its severity or narrow the other rule`}},
		{"shadowing through any branches",
			rule("broad", "high", "{any: [{module: x}, {stack_module: x}]}") + rule("narrow", "medium", "{bugcheck_code: 0xd1, any: [{module: x}, {stack_module: x}]}"),
			[]string{`r.yaml:6:5: rule "narrow" is shadowed by "broad" (r.yaml:2:5): every crash it matches also matches "broad", which is listed first (severity high); raise its severity or narrow the other rule`}},
		{"contradictory codes",
			rule("dead", "low", "{bugcheck_code: 0x50, all: [{bugcheck_code: 0x7e}]}"),
			[]string{`r.yaml:2:5: rule "dead" can never match: bugcheck_code in [0x50] and bugcheck_code in [0x7e] have no code in common`}},
		{"condition and its negation",
			rule("dead", "low", "{module: x, not: {module: x}}"),
			[]string{`r.yaml:2:5: rule "dead" can never match: it requires module "x" and also not(module "x")`}},
		{"contradictory arguments",
			rule("dead", "low", `{bugcheck_code: 0x27, arg1: {value: 0xbaad0000, mask: 0xffff0000}, all: [{arg1: {value: 0xc1ee0000, mask: 0xffff0000}}]}`),
			[]string{`r.yaml:2:5: rule "dead" can never match: arg1 in [0xbaad0000 & 0xffff0000] and arg1 in [0xc1ee0000 & 0xffff0000] cannot both hold`}},
		{"disjoint builds",
			rule("dead", "low", "{os_build: {before: 19041}, all: [{os_build: {from: 22000}}]}"),
			[]string{`r.yaml:2:5: rule "dead" can never match: os_build < 19041 and os_build >= 22000 do not overlap`}},
		{"two processes",
			rule("dead", "low", "{process: lsass.exe, all: [{process: csrss}]}"),
			[]string{`r.yaml:2:5: rule "dead" can never match: process "lsass.exe" and process "csrss" name different values of a fact that has one`}},
		{"disjoint kinds",
			rule("dead", "low", "{driver_kind: edr, all: [{driver_kind: display}]}"),
			[]string{`r.yaml:2:5: rule "dead" can never match: driver_kind in [edr] and driver_kind in [display] have no kind in common`}},
		{"one live branch is enough",
			rule("live", "low", "{any: [{bugcheck_code: 0x50, all: [{bugcheck_code: 0x7e}]}, {module: x}]}"), nil},
		{"code wider than 32 bits",
			rule("wide", "low", "{bugcheck_code: 0x100000000}"),
			[]string{`r.yaml:2:5: rule "wide" names bugcheck_code 0x100000000, wider than 32 bits: no crash has it`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadFS(fstest.MapFS{"r.yaml": {Data: []byte("rules:\n" + tc.rules)}}, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range s.Lint() {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Lint:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestLintShippedLibrary keeps the shipped library free of dead and shadowed rules.
func TestLintShippedLibrary(t *testing.T) {
	s, err := LoadFS(known.FS, "rules/known")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s.Lint() {
		t.Error(e)
	}
}
