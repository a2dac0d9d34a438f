package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer/cdbout"
)

// SharedPrefix marks a test fixture in the read-only shared test material (../shared beside
// a checkout); such cases are skipped, and reported as skipped, when it is absent.
const SharedPrefix = "shared:"

// TestOptions configures (*Set).Test.
type TestOptions struct {
	// SharedDir is the shared test material's root; empty skips "shared:" cases.
	SharedDir string
	// Run, when set, limits the run to rules whose id it matches.
	Run *regexp.Regexp
	// Parse reads debugger output; nil means cdbout.ParseBytes, as the analyzer does.
	Parse func([]byte) *analysis.Analysis
	// Native reads a dump file (*.dmp fixtures) as the native engine does; nil skips
	// such cases. The caller supplies it so that matching rules needs no dump reader.
	Native func(r io.ReaderAt, size int64) (*analysis.Analysis, error)
}

// Test outcomes.
const (
	StatusPass = "pass"
	StatusFail = "fail"
	StatusSkip = "skip"
)

// CaseResult is the outcome of one rule test case. Its JSON form is the stable output of
// `bsodwatch rules test --json`.
type CaseResult struct {
	Rule   string   `json:"rule"`
	Pos    string   `json:"pos"`
	Name   string   `json:"name"`
	Want   string   `json:"want"` // "match" or "no_match"
	Status string   `json:"status"`
	Detail string   `json:"detail,omitempty"`
	Why    []string `json:"why,omitempty"`
}

// TestReport is the outcome of a rule set's tests.
type TestReport struct {
	Rules   int          `json:"rules"`
	Passed  int          `json:"passed"`
	Failed  int          `json:"failed"`
	Skipped int          `json:"skipped"`
	Cases   []CaseResult `json:"cases"`
}

// OK reports whether every case that ran passed. Skipped cases are not passes: callers
// show them, and a report that skipped everything is not OK.
func (r *TestReport) OK() bool { return r.Failed == 0 && r.Passed > 0 }

// Test runs every rule's own tests: each must-match input must match the rule and each
// must-not-match input must not. A rule without both kinds of case fails.
func (s *Set) Test(ctx context.Context, opts TestOptions) TestReport {
	if opts.Parse == nil {
		opts.Parse = cdbout.ParseBytes
	}
	var rep TestReport
	add := func(c CaseResult) {
		switch c.Status {
		case StatusPass:
			rep.Passed++
		case StatusFail:
			rep.Failed++
		default:
			rep.Skipped++
		}
		rep.Cases = append(rep.Cases, c)
	}
	for _, r := range s.byFile() {
		if opts.Run != nil && !opts.Run.MatchString(r.ID) {
			continue
		}
		rep.Rules++
		for _, tc := range r.Tests {
			if ctx.Err() != nil {
				add(CaseResult{Rule: r.ID, Pos: tc.Pos.String(), Name: tc.Name, Want: wantName(tc.Want), Status: StatusFail, Detail: ctx.Err().Error()})
				continue
			}
			add(s.runCase(r, tc, opts))
		}
		if !r.Tested() {
			add(CaseResult{Rule: r.ID, Pos: r.Pos.String(), Name: "rule has tests", Want: "match", Status: StatusFail,
				Detail: "every rule needs tests.match and tests.no_match cases"})
		}
	}
	return rep
}

func wantName(want bool) string {
	if want {
		return "match"
	}
	return "no_match"
}

// byFile returns the rules in file order, which reads better in test reports than match order.
func (s *Set) byFile() []*Rule {
	rs := append([]*Rule(nil), s.rules...)
	sortByPos(rs)
	return rs
}

func (s *Set) runCase(r *Rule, tc TestCase, opts TestOptions) CaseResult {
	res := CaseResult{Rule: r.ID, Pos: tc.Pos.String(), Name: tc.Name, Want: wantName(tc.Want)}
	in, skip, err := s.caseInput(tc, opts)
	switch {
	case skip != "":
		res.Status, res.Detail = StatusSkip, skip
		return res
	case err != nil:
		res.Status, res.Detail = StatusFail, err.Error()
		return res
	}
	m, matched := r.Match(in)
	res.Why = m.Why
	switch {
	case matched == tc.Want:
		res.Status = StatusPass
	case tc.Want:
		res.Status, res.Detail = StatusFail, "did not match; input has "+summarize(in)
	default:
		res.Status, res.Detail = StatusFail, "matched but must not: "+strings.Join(m.Why, "; ")
	}
	return res
}

// caseInput builds the input of a test case from its inline analysis or its fixture.
func (s *Set) caseInput(tc TestCase, opts TestOptions) (Input, string, error) {
	in := Input{Analysis: tc.Analysis, Engine: tc.Engine}
	if tc.Analysis != nil {
		return in, "", nil
	}
	var b []byte
	var err error
	if rest, ok := strings.CutPrefix(tc.File, SharedPrefix); ok {
		if opts.SharedDir == "" {
			return in, "shared test material not available (set BSODWATCH_SHARED or --shared)", nil
		}
		if _, err := os.Stat(opts.SharedDir); err != nil {
			return in, fmt.Sprintf("shared test material %s is absent", opts.SharedDir), nil
		}
		b, err = os.ReadFile(filepath.Join(opts.SharedDir, filepath.FromSlash(rest)))
	} else {
		if s.fsys == nil {
			return in, "", fmt.Errorf("no file system to read %s from", tc.File)
		}
		p := path.Clean(path.Join(tc.dir, tc.File))
		b, err = fs.ReadFile(s.fsys, p)
	}
	if err != nil {
		return in, "", fmt.Errorf("read fixture: %w", err)
	}
	if strings.HasSuffix(strings.ToLower(tc.File), ".dmp") {
		if opts.Native == nil {
			return in, "no native dump reader to read " + tc.File, nil
		}
		a, err := opts.Native(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return in, "", fmt.Errorf("fixture %s: %w", tc.File, err)
		}
		in.Analysis, in.Engine = a, "native"
		return in, "", nil
	}
	if strings.HasSuffix(strings.ToLower(tc.File), ".json") {
		var a analysis.Analysis
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			return in, "", fmt.Errorf("fixture %s: %w", tc.File, err)
		}
		in.Analysis = &a
		return in, "", nil
	}
	in.Analysis = opts.Parse(b)
	return in, "", nil
}

// summarize names the facts a rule author most often matches on, for failure messages.
func summarize(in Input) string {
	a := in.Analysis
	if a == nil {
		return "no analysis"
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("bugcheck_code", a.BugcheckCode)
	add("args", strings.Join(a.Args, ","))
	add("module_name", a.ModuleName)
	add("image_name", a.ImageName)
	add("symbol_name", a.SymbolName)
	add("failure_bucket_id", a.FailureBucketID)
	add("process_name", a.ProcessName)
	if len(a.Stack) > 0 {
		add("stack_frames", fmt.Sprint(len(a.Stack)))
	}
	if len(a.Modules) > 0 {
		add("modules", fmt.Sprint(len(a.Modules)))
	}
	if len(parts) == 0 {
		return "no facts (did the parser find an analysis?)"
	}
	return "engine=" + in.Engine + " " + strings.Join(parts, " ")
}
