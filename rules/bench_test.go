package rules

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// thousandRules builds 1,000 rules of the shapes ops write: code plus module, globs over
// the module and the stack, bucket regexes with a not, and driver timestamp ranges. Every
// hundredth rule matches the seed's crash.
func thousandRules(tb testing.TB) *Set {
	tb.Helper()
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := 0; i < 1000; i++ {
		drv := fmt.Sprintf("drv%03d", i)
		if i%100 == 0 {
			drv = "symevent"
		}
		var m string
		switch i % 4 {
		case 0:
			m = fmt.Sprintf("{bugcheck_code: [0x27, 0x7f], module: %s}", drv)
		case 1:
			m = fmt.Sprintf("{any: [{module: {glob: '%s*'}}, {stack_module: %s}]}", drv, drv)
		case 2:
			m = fmt.Sprintf("{bucket: {regex: '%s!.*'}, not: {process: csrss}}", drv)
		case 3:
			m = fmt.Sprintf("{driver: {name: %s, timestamp: {before: 2010-01-01}}, arg1: {value: 0xbaad0000, mask: 0xffff0000}}", drv)
		}
		fmt.Fprintf(&b, "  - {id: rule-%04d, title: t, severity: %s, match: %s}\n", i, Severities[i%len(Severities)], m)
	}
	s, err := LoadFS(fstest.MapFS{"r.yaml": {Data: []byte(b.String())}}, "")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// bigAnalysis is the seed with a 24-frame stack and 180 loaded modules, about what a
// kernel dump's lm output holds.
func bigAnalysis() *analysis.Analysis {
	a := *seed
	a.Stack = append([]analysis.Frame(nil), seed.Stack...)
	for len(a.Stack) < 24 {
		a.Stack = append(a.Stack, analysis.Frame{Module: "nt", Symbol: fmt.Sprintf("nt!Func%d+0x1c", len(a.Stack))})
	}
	a.Modules = append([]analysis.Module(nil), seed.Modules...)
	for i := 0; len(a.Modules) < 180; i++ {
		a.Modules = append(a.Modules, analysis.Module{Name: fmt.Sprintf("mod%d", i), ImageName: fmt.Sprintf("mod%d.sys", i),
			Timestamp: "Sat Feb 17 13:59:09 2007 (45D6CACD)", FileVersion: "5.2.3790.2670"})
	}
	return &a
}

func TestThousandRulesMatchTheSeed(t *testing.T) {
	got := thousandRules(t).Match(Input{Analysis: bigAnalysis(), Engine: "cdb"})
	// rules 0, 100, ... 900 name symevent: shapes 0 (code+module) and 3 (driver+arg1)
	// match; shape 1 never lands on a multiple of 100 and shape 2's bucket regex needs
	// "symevent!" which the bucket holds.
	if len(got) != 10 {
		var ids []string
		for _, m := range got {
			ids = append(ids, m.ID)
		}
		t.Fatalf("%d matches: %v", len(got), ids)
	}
	for _, m := range got {
		if len(m.Why) == 0 {
			t.Errorf("%s: no why", m.ID)
		}
	}
}

// BenchmarkMatch1000Rules is the figure the issue asks for: 1,000 rules against one
// analysis (target: under 1 ms per analysis).
func BenchmarkMatch1000Rules(b *testing.B) {
	s := thousandRules(b)
	in := Input{Analysis: bigAnalysis(), Engine: "cdb"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.Match(in)
	}
}

func BenchmarkLoad1000Rules(b *testing.B) {
	for b.Loop() {
		thousandRules(b)
	}
}
