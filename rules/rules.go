// Package rules loads, tests and matches the known-issue rules that operations staff write:
// YAML files that say which crashes are a known issue and what to tell people about them.
// Loading is strict (every mistake is refused with file:line:column), every match says
// which facts met which conditions, and rules carry their own tests.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/rules/known"
)

// Input is what a rule set is matched against.
type Input struct {
	Analysis *analysis.Analysis
	// Engine is "cdb" or "native".
	Engine string
}

// Severities, most severe first; a rule's severity must be one of them.
var Severities = analysis.Severities

func severityRank(s string) int {
	for i, x := range Severities {
		if x == s {
			return len(Severities) - i
		}
	}
	return 0
}

// Rule is one known issue.
type Rule struct {
	ID          string
	Title       string
	Severity    string
	Summary     string
	Explanation string
	Remedy      []string
	Links       []string
	// Confidence says how sure the rule's facts are: which sources were read, what could
	// not be confirmed.
	Confidence string
	Owner      string
	Tags       []string
	// Tests are the rule's own cases: inputs that must and must not match.
	Tests []TestCase
	// Pos is where the rule starts (its "- id:" line).
	Pos Pos

	match       cond
	specificity int
	sevRank     int
}

// Specificity is the number of conditions a match of the rule is sure to have met; it
// orders matches of equal severity.
func (r *Rule) Specificity() int { return r.specificity }

// Condition describes the rule's match expression in one line.
func (r *Rule) Condition() string { return r.match.String() }

// Tested reports whether the rule has both a must-match and a must-not-match case. Loading
// accepts a rule without them (the analyzer must not drop it); Test and lint refuse it.
func (r *Rule) Tested() bool {
	var m, n bool
	for _, tc := range r.Tests {
		m, n = m || tc.Want, n || !tc.Want
	}
	return m && n
}

// Match evaluates this one rule.
func (r *Rule) Match(in Input) (Match, bool) {
	return r.eval(newFacts(in))
}

func (r *Rule) eval(f *facts) (Match, bool) {
	f.explain = false
	if _, ok := r.match.eval(f, nil); !ok {
		return Match{}, false
	}
	f.explain = true
	why, _ := r.match.eval(f, nil)
	return Match{
		ID: r.ID, Title: r.Title, Severity: r.Severity, Summary: r.Summary,
		Explanation: r.Explanation, Remedy: r.Remedy, Links: r.Links, Confidence: r.Confidence, Owner: r.Owner,
		Tags: r.Tags, Why: why,
	}, true
}

// Set is a loaded, validated set of rules. It is immutable and safe for concurrent use.
type Set struct {
	rules   []*Rule // in match order
	files   []string
	version string
	fsys    fs.FS // where test fixtures are read from
	root    string
}

// Rules returns the rules in match order.
func (s *Set) Rules() []*Rule { return s.rules }

// Files returns the rule files loaded, as named in errors.
func (s *Set) Files() []string { return s.files }

// Version identifies the rule set's content (a hash), recorded in every result.
func (s *Set) Version() string {
	if s == nil {
		return ""
	}
	return s.version
}

// Match returns the rules that match in, in the documented order: severity (critical
// first), then specificity (more conditions first), then id. A nil set matches nothing.
func (s *Set) Match(in Input) []Match {
	if s == nil || len(s.rules) == 0 {
		return nil
	}
	f := newFacts(in)
	var out []Match
	for _, r := range s.rules {
		if m, ok := r.eval(f); ok {
			out = append(out, m)
		}
	}
	return out
}

// Load loads dir, or the shipped library (rules/known) when dir is empty.
func Load(dir string) (*Set, error) {
	if dir == "" {
		return LoadFS(known.FS, "rules/known")
	}
	return LoadDir(dir)
}

// LoadDir loads every rule file (*.yaml, *.yml) directly in dir. On any mistake it
// returns a nil set and an Errors listing each one as file:line:column: message.
func LoadDir(dir string) (*Set, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return LoadFS(os.DirFS(dir), dir)
}

// LoadFS loads every rule file at the top of fsys, such as the shipped library
// (rules/known.FS). root is only used to name files in errors and Match output.
func LoadFS(fsys fs.FS, root string) (*Set, error) {
	names, err := ruleFiles(fsys)
	if err != nil {
		return nil, err
	}
	l := &loader{}
	h := sha256.New()
	var files []string
	var all []*Rule
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
		display := name
		if root != "" && root != "." {
			display = filepath.Join(root, name)
		}
		files = append(files, display)
		all = append(all, l.parseFile(display, name, b)...)
	}
	if len(names) == 0 {
		l.errs = append(l.errs, &Error{Pos: Pos{File: root}, Msg: "no rule files (*.yaml, *.yml) found"})
	}
	seen := map[string]*Rule{}
	for _, r := range all {
		if prev, dup := seen[r.ID]; dup {
			l.errs = append(l.errs, &Error{Pos: r.Pos, Msg: "duplicate rule id " + quote(r.ID) + " (first defined at " + prev.Pos.String() + ")"})
			continue
		}
		seen[r.ID] = r
	}
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	slices.SortStableFunc(all, func(a, b *Rule) int {
		if a.sevRank != b.sevRank {
			return b.sevRank - a.sevRank
		}
		if a.specificity != b.specificity {
			return b.specificity - a.specificity
		}
		return strings.Compare(a.ID, b.ID)
	})
	return &Set{rules: all, files: files, version: "sha256:" + hex.EncodeToString(h.Sum(nil))[:16], fsys: fsys, root: root}, nil
}

// ruleFiles lists the rule files at the top of fsys, sorted.
func ruleFiles(fsys fs.FS) ([]string, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		if strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// sortByPos orders rules as they appear in their files.
func sortByPos(rs []*Rule) {
	slices.SortStableFunc(rs, func(a, b *Rule) int {
		if c := strings.Compare(a.Pos.File, b.Pos.File); c != 0 {
			return c
		}
		return a.Pos.Line - b.Pos.Line
	})
}
