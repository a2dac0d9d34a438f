package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/drivers"
)

// Pos is a place in a rule file.
type Pos struct {
	File   string
	Line   int
	Column int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Error is one mistake in a rule file.
type Error struct {
	Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors is every mistake found while loading, in file order; its Error is one line each.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// loader walks yaml.Nodes itself rather than unmarshalling into structs, so that every
// mistake carries its line and column and unknown keys can never slip through.
type loader struct {
	file string // as shown in errors
	path string // inside the FS, for resolving fixtures
	errs Errors
}

func (l *loader) errf(n *yaml.Node, format string, args ...any) {
	p := Pos{File: l.file}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	l.errs = append(l.errs, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// file parses one rule file; its mistakes are added to l.errs.
func (l *loader) parseFile(display, path string, b []byte) []*Rule {
	l.file, l.path = display, path
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []*Rule
	docs := 0
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, msg := 0, err.Error()
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
			}
			// The YAML library reports the line of a syntax error but not its column.
			l.errs = append(l.errs, &Error{Pos: Pos{File: display, Line: line, Column: 1}, Msg: "not valid YAML: " + msg})
			return nil
		}
		docs++
		if len(doc.Content) == 0 {
			continue
		}
		out = append(out, l.document(doc.Content[0])...)
	}
	if docs == 0 || len(out) == 0 && len(l.errs) == 0 {
		l.errs = append(l.errs, &Error{Pos: Pos{File: display, Line: 1, Column: 1}, Msg: "file holds no rules (want a top-level \"rules:\" list)"})
	}
	return out
}

// mapping checks that n is a mapping with no duplicate and no unknown keys, and returns
// its key and value nodes by key.
func (l *loader) mapping(n *yaml.Node, what string, known ...string) (map[string]*yaml.Node, map[string]*yaml.Node, bool) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s must be a mapping, not %s", what, kindName(n))
		return nil, nil, false
	}
	vals := make(map[string]*yaml.Node, len(n.Content)/2)
	keys := make(map[string]*yaml.Node, len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if prev, dup := keys[k.Value]; dup {
			l.errf(k, "duplicate key %q in %s (first at line %d)", k.Value, what, prev.Line)
			ok = false
			continue
		}
		if known != nil && !slicesContains(known, k.Value) {
			l.errf(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
			ok = false
			continue
		}
		keys[k.Value], vals[k.Value] = k, v
	}
	return keys, vals, ok
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

func (l *loader) document(n *yaml.Node) []*Rule {
	_, vals, ok := l.mapping(n, "rule file", "rules")
	if !ok {
		return nil
	}
	rs, present := vals["rules"]
	if !present {
		l.errf(n, "missing \"rules:\" list")
		return nil
	}
	rs = resolve(rs)
	if rs.Kind != yaml.SequenceNode || len(rs.Content) == 0 {
		l.errf(rs, "\"rules\" must be a non-empty list of rules, not %s", kindName(rs))
		return nil
	}
	var out []*Rule
	for _, rn := range rs.Content {
		if r := l.rule(rn); r != nil {
			out = append(out, r)
		}
	}
	return out
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

var ruleKeys = []string{"id", "title", "severity", "summary", "explanation", "remedy", "links", "confidence", "owner", "tags", "match", "tests"}

func (l *loader) rule(n *yaml.Node) *Rule {
	before := len(l.errs)
	keys, vals, _ := l.mapping(n, "rule", ruleKeys...)
	if vals == nil {
		return nil
	}
	r := &Rule{Pos: Pos{File: l.file, Line: n.Line, Column: n.Column}}
	for _, req := range []string{"id", "title", "severity", "match"} {
		if _, ok := vals[req]; !ok {
			l.errf(n, "rule is missing %q", req)
		}
	}
	if v, ok := vals["id"]; ok {
		r.ID = l.str(v, "id")
		if r.ID != "" && !idPattern.MatchString(r.ID) {
			l.errf(v, "id %q must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", r.ID)
		}
		if r.ID != "" {
			r.Pos = Pos{File: l.file, Line: keys["id"].Line, Column: keys["id"].Column}
		}
	}
	if v, ok := vals["title"]; ok {
		r.Title = l.str(v, "title")
	}
	if v, ok := vals["severity"]; ok {
		r.Severity = l.str(v, "severity")
		if r.Severity != "" && severityRank(r.Severity) == 0 {
			l.errf(v, "severity %q is not one of %s", r.Severity, strings.Join(Severities, ", "))
		}
		r.sevRank = severityRank(r.Severity)
	}
	if v, ok := vals["summary"]; ok {
		r.Summary = l.str(v, "summary")
	}
	if v, ok := vals["explanation"]; ok {
		r.Explanation = l.str(v, "explanation")
	}
	if v, ok := vals["owner"]; ok {
		r.Owner = l.str(v, "owner")
	}
	if v, ok := vals["confidence"]; ok {
		r.Confidence = l.str(v, "confidence")
	}
	if v, ok := vals["remedy"]; ok {
		r.Remedy = l.strs(v, "remedy")
	}
	if v, ok := vals["tags"]; ok {
		r.Tags = l.strs(v, "tags")
	}
	if v, ok := vals["links"]; ok {
		r.Links = l.strs(v, "links")
		for i, u := range r.Links {
			if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
				l.errf(resolve(v).Content[i], "link %q must be an http(s) URL", u)
			}
		}
	}
	if v, ok := vals["match"]; ok {
		r.match = l.cond(v, "match")
		if r.match != nil {
			r.specificity = r.match.leaves()
		}
	}
	if v, ok := vals["tests"]; ok {
		r.Tests = l.tests(v)
	}
	if len(l.errs) > before {
		return nil
	}
	return r
}

// str reads a non-empty string scalar.
func (l *loader) str(n *yaml.Node, what string) string {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.errf(n, "%s must be a string, not %s", what, kindName(n))
		return ""
	}
	if strings.TrimSpace(n.Value) == "" {
		l.errf(n, "%s is empty", what)
		return ""
	}
	return strings.TrimSpace(n.Value)
}

// strs reads a non-empty list of non-empty strings.
func (l *loader) strs(n *yaml.Node, what string) []string {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		l.errf(n, "%s must be a list of strings, not %s", what, kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		l.errf(n, "%s is an empty list", what)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		out = append(out, l.str(c, what+" item"))
	}
	return out
}

// items returns n's elements when it is a list, or n itself: most matchers take one value
// or a list of values, any of which may match.
func (l *loader) items(n *yaml.Node, what string) []*yaml.Node {
	n = resolve(n)
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			l.errf(n, "%s: empty list matches nothing", what)
		}
		return n.Content
	}
	return []*yaml.Node{n}
}

// textFields are the matchers on text facts: key, field, and whether they are names whose
// .sys/.exe/.dll suffix is optional.
var textFields = []struct {
	key   string
	field int
	name  bool
}{
	{"bucket", fieldBucket, false},
	{"module", fieldModule, true},
	{"third_party_module", fieldThirdParty, true},
	{"process", fieldProcess, true},
	{"symbol", fieldSymbol, false},
	{"bugcheck_name", fieldBugcheckName, false},
	{"primary_problem_class", fieldProblemClass, false},
	{"stack_module", fieldStackModule, true},
	{"stack_function", fieldStackFunction, false},
	{"loaded_module", fieldLoadedModule, true},
	{"driver_vendor", fieldDriverVendor, false},
}

// condKeys lists every key a condition may use, for error messages.
func condKeys() []string {
	ks := []string{"all", "any", "not", "bugcheck_code", "exception_code", "arg1", "arg2", "arg3", "arg4",
		"driver", "driver_kind", "os_build", "engine", "arch"}
	for _, t := range textFields {
		ks = append(ks, t.key)
	}
	return ks
}

// cond parses a condition: a mapping of one or more matchers, all of which must hold.
func (l *loader) cond(n *yaml.Node, what string) cond {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s must be a mapping of conditions, not %s", what, kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		l.errf(n, "%s is empty: a rule must match on something", what)
		return nil
	}
	keys, vals, ok := l.mapping(n, what, condKeys()...)
	if !ok {
		return nil
	}
	var cs allCond
	// Walk in file order so that why lines follow the rule as written.
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if c := l.leaf(keys[k], k, vals[k]); c != nil {
			cs = append(cs, c)
		} else {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	if len(cs) == 1 {
		return cs[0]
	}
	return cs
}

func (l *loader) leaf(kn *yaml.Node, key string, v *yaml.Node) cond {
	before := len(l.errs)
	var c cond
	switch key {
	case "all", "any":
		v = resolve(v)
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			l.errf(v, "%s must be a non-empty list of conditions, not %s", key, kindName(v))
			return nil
		}
		var cs []cond
		for _, x := range v.Content {
			cs = append(cs, l.cond(x, key+" item"))
		}
		if len(l.errs) > before {
			return nil
		}
		if key == "all" {
			c = allCond(cs)
		} else {
			c = anyCond(cs)
		}
	case "not":
		inner := l.cond(v, "not")
		if inner == nil {
			return nil
		}
		c = notCond{inner}
	case "bugcheck_code", "exception_code":
		cc := &codeCond{key: key, exc: key == "exception_code"}
		for _, x := range l.items(v, key) {
			s := l.str(x, key)
			if s == "" {
				continue
			}
			code, err := parseRuleHex(s)
			if err != nil {
				l.errf(x, "%s %v", key, err)
				continue
			}
			if !cc.exc {
				code = baseCode(code)
			}
			cc.codes = append(cc.codes, code)
		}
		c = cc
	case "arg1", "arg2", "arg3", "arg4":
		c = l.arg(int(key[3]-'0'), v)
	case "os_build":
		oc := &osBuildCond{}
		for _, x := range l.items(v, key) {
			if r, ok := l.intRange(x, key); ok {
				oc.rs = append(oc.rs, r)
			}
		}
		c = oc
	case "engine":
		c = l.set(v, key, func(f *facts) string { return f.engine }, "cdb", "native")
	case "arch":
		c = l.set(v, key, func(f *facts) string { return f.a.Arch }, "x86", "x64", "arm", "arm64")
	case "driver":
		c = l.driver(v)
	case "driver_kind":
		if sc, ok := l.set(v, key, func(f *facts) string { return f.culprit.Kind }, drivers.KindNames()...).(*setCond); ok {
			c = &kindCond{sc}
		}
	default:
		for _, t := range textFields {
			if t.key == key {
				m := l.text(v, key, t.name)
				if m == nil {
					return nil
				}
				c = &fieldCond{key: key, field: t.field, m: m}
			}
		}
	}
	if len(l.errs) > before || c == nil {
		return nil
	}
	return c
}

var textKinds = []string{"exact", "glob", "regex"}

// text parses a text matcher: "exact", {glob: "0x27_*"}, {regex: "..."}, or a list of them.
func (l *loader) text(v *yaml.Node, key string, name bool) *textMatcher {
	m := &textMatcher{name: name}
	for _, x := range l.items(v, key) {
		x = resolve(x)
		kind, s, at := "exact", "", x
		if x.Kind == yaml.MappingNode {
			_, vals, ok := l.mapping(x, key+" pattern", textKinds...)
			if !ok {
				continue
			}
			if len(vals) != 1 {
				l.errf(x, "%s pattern needs exactly one of exact, glob, regex", key)
				continue
			}
			for k, vn := range vals {
				kind, at = k, vn
			}
		}
		s = l.str(at, key)
		if s == "" {
			continue
		}
		lower := strings.ToLower(s)
		switch kind {
		case "exact":
			e := lower
			if name {
				e = stripExt(lower)
			}
			m.alts = append(m.alts, textAlt{exact: e, desc: strconv.Quote(s)})
		case "glob":
			m.alts = append(m.alts, textAlt{glob: lower, desc: "glob " + strconv.Quote(s)})
		case "regex":
			re, err := regexp.Compile("(?i)" + s)
			if err != nil {
				l.errf(at, "%s: bad regex %q: %s", key, s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				continue
			}
			m.alts = append(m.alts, textAlt{re: re, need: requiredLiteral(s), desc: "regex " + strconv.Quote(s)})
		}
	}
	if len(m.alts) == 0 {
		return nil
	}
	m.exactOnly = true
	for _, a := range m.alts {
		m.exactOnly = m.exactOnly && a.re == nil && a.glob == ""
	}
	return m
}

func (l *loader) arg(idx int, v *yaml.Node) cond {
	c := &argCond{n: idx}
	what := "arg" + strconv.Itoa(idx)
	for _, x := range l.items(v, what) {
		x = resolve(x)
		a := argAlt{mask: ^uint64(0)}
		valNode := x
		if x.Kind == yaml.MappingNode {
			_, vals, ok := l.mapping(x, what, "value", "mask")
			if !ok {
				continue
			}
			var present bool
			if valNode, present = vals["value"]; !present {
				l.errf(x, "%s needs a value", what)
				continue
			}
			if mn, ok := vals["mask"]; ok {
				s := l.str(mn, what+" mask")
				mask, err := parseRuleHex(s)
				if s != "" && err != nil {
					l.errf(mn, "%s mask %v", what, err)
					continue
				}
				if s != "" && mask == 0 {
					l.errf(mn, "%s mask 0x0 matches every value", what)
					continue
				}
				a.mask = mask
			}
		}
		s := l.str(valNode, what+" value")
		if s == "" {
			continue
		}
		val, err := parseRuleHex(s)
		if err != nil {
			l.errf(valNode, "%s value %v", what, err)
			continue
		}
		if val&^a.mask != 0 {
			l.errf(valNode, "%s value 0x%x has bits outside mask 0x%x, so it can never match", what, val, a.mask)
			continue
		}
		a.value = val
		c.alts = append(c.alts, a)
	}
	return c
}

var rangeKeys = []string{"from", "to", "before"}

// rangeBounds reads {from, to, before} (at least one) and hands each bound to set.
func (l *loader) rangeBounds(v *yaml.Node, what string, set func(bound string, n *yaml.Node) bool) bool {
	_, vals, ok := l.mapping(v, what+" range", rangeKeys...)
	if !ok {
		return false
	}
	if len(vals) == 0 {
		l.errf(v, "%s range is empty: give from, to and/or before", what)
		return false
	}
	if _, hasTo := vals["to"]; hasTo {
		if b, hasBefore := vals["before"]; hasBefore {
			l.errf(b, "%s range has both to and before: use one", what)
			return false
		}
	}
	for _, k := range rangeKeys {
		if n, present := vals[k]; present && !set(k, n) {
			ok = false
		}
	}
	return ok
}

func (l *loader) intRange(v *yaml.Node, what string) (intRange, bool) {
	var r intRange
	num := func(n *yaml.Node) (int64, bool) {
		s := l.str(n, what)
		x, err := strconv.ParseInt(s, 10, 64)
		if s != "" && err != nil {
			l.errf(n, "%s %q is not a number", what, s)
		}
		return x, s != "" && err == nil
	}
	v = resolve(v)
	if v.Kind == yaml.ScalarNode {
		x, ok := num(v)
		r.from, r.to, r.hasFrom, r.hasTo = x, x, true, true
		return r, ok
	}
	ok := l.rangeBounds(v, what, func(b string, n *yaml.Node) bool {
		x, ok := num(n)
		switch b {
		case "from":
			r.from, r.hasFrom = x, true
		case "to":
			r.to, r.hasTo = x, true
		case "before":
			r.before, r.hasBefore = x, true
		}
		return ok
	})
	if ok && ((r.hasTo && r.hasFrom && r.to < r.from) || (r.hasBefore && r.hasFrom && r.before <= r.from)) {
		l.errf(v, "%s range is empty: its upper bound is below its lower bound", what)
		return r, false
	}
	return r, ok
}

func (l *loader) set(v *yaml.Node, key string, get func(*facts) string, allowed ...string) cond {
	c := &setCond{key: key, get: get}
	for _, x := range l.items(v, key) {
		s := strings.ToLower(l.str(x, key))
		if s == "" {
			continue
		}
		if !slicesContains(allowed, s) {
			l.errf(x, "%s %q is not one of %s", key, s, strings.Join(allowed, ", "))
			continue
		}
		c.vals = append(c.vals, s)
	}
	return c
}

func (l *loader) driver(v *yaml.Node) cond {
	_, vals, ok := l.mapping(v, "driver", "name", "timestamp", "version")
	if !ok {
		return nil
	}
	c := &driverCond{}
	if n, present := vals["name"]; present {
		c.name = l.text(n, "driver name", true)
	} else {
		l.errf(v, "driver needs a name")
	}
	if n, present := vals["timestamp"]; present {
		c.ts = &timeRange{}
		ok := l.rangeBounds(n, "driver timestamp", func(b string, x *yaml.Node) bool {
			t, err := parseRuleTime(l.str(x, "driver timestamp"))
			if err != nil {
				l.errf(x, "driver timestamp %s: %v", b, err)
				return false
			}
			switch b {
			case "from":
				c.ts.from = t
			case "to":
				c.ts.to = t
			case "before":
				c.ts.before = t
			}
			return true
		})
		if ok && c.ts.empty() {
			l.errf(n, "driver timestamp range is empty: its upper bound is below its lower bound")
		}
	}
	if n, present := vals["version"]; present {
		c.version = &versionRange{}
		ok := l.rangeBounds(n, "driver version", func(b string, x *yaml.Node) bool {
			s := l.str(x, "driver version")
			ver, ok := parseVersion(s)
			if !ok || ver.String() != strings.ReplaceAll(s, ",", ".") {
				l.errf(x, "driver version %s %q is not a dotted version like 10.0.19041.1", b, s)
				return false
			}
			switch b {
			case "from":
				c.version.from = ver
			case "to":
				c.version.to = ver
			case "before":
				c.version.before = ver
			}
			return true
		})
		if ok && c.version.empty() {
			l.errf(n, "driver version range is empty: its upper bound is below its lower bound")
		}
	}
	if c.ts == nil && c.version == nil {
		l.errf(v, "driver needs a timestamp or version range (to match a driver's mere presence use loaded_module)")
	}
	if c.name == nil {
		return nil
	}
	return c
}

// TestCase is one of a rule's own tests: an input that must (Want) or must not match.
type TestCase struct {
	Pos  Pos
	Want bool
	// Name describes the case in reports.
	Name string
	// File is a fixture path: "shared:corpus/..." for the read-only shared test material,
	// otherwise relative to the rule file. .json files hold an analysis, .dmp files are
	// dumps read by the native engine; anything else is debugger output, parsed as the
	// cdb engine would.
	File string
	// Analysis is an inline analysis, when the case gives one instead of a file.
	Analysis *analysis.Analysis
	// Engine is the engine the input is matched as (default cdb).
	Engine string

	dir string // the rule file's directory inside the FS
}

func (l *loader) tests(v *yaml.Node) []TestCase {
	_, vals, ok := l.mapping(v, "tests", "match", "no_match")
	if !ok {
		return nil
	}
	if len(vals) == 0 {
		l.errf(v, "tests is empty: give match and/or no_match lists")
	}
	var out []TestCase
	for _, k := range []string{"match", "no_match"} {
		n, present := vals[k]
		if !present {
			continue
		}
		n = resolve(n)
		if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
			l.errf(n, "tests.%s must be a non-empty list, not %s", k, kindName(n))
			continue
		}
		for _, x := range n.Content {
			if tc, ok := l.testCase(x, k == "match"); ok {
				out = append(out, tc)
			}
		}
	}
	return out
}

func (l *loader) testCase(n *yaml.Node, want bool) (TestCase, bool) {
	n = resolve(n)
	tc := TestCase{Pos: Pos{File: l.file, Line: n.Line, Column: n.Column}, Want: want, Engine: "cdb", dir: dirOf(l.path)}
	if n.Kind == yaml.ScalarNode {
		tc.File = l.str(n, "test file")
		tc.Name = tc.File
		return tc, tc.File != ""
	}
	before := len(l.errs)
	_, vals, ok := l.mapping(n, "test case", "name", "file", "analysis", "engine")
	if !ok {
		return tc, false
	}
	if x, present := vals["name"]; present {
		tc.Name = l.str(x, "test name")
	}
	if x, present := vals["engine"]; present {
		tc.Engine = strings.ToLower(l.str(x, "test engine"))
		if tc.Engine != "cdb" && tc.Engine != "native" {
			l.errf(x, "test engine %q is not one of cdb, native", tc.Engine)
		}
	}
	fn, hasFile := vals["file"]
	an, hasAnalysis := vals["analysis"]
	switch {
	case hasFile == hasAnalysis:
		l.errf(n, "test case needs exactly one of file or analysis")
	case hasFile:
		tc.File = l.str(fn, "test file")
		if tc.Name == "" {
			tc.Name = tc.File
		}
	default:
		if m, ok := l.analysisJSON(an, analysisType); ok {
			b, _ := json.Marshal(m)
			tc.Analysis = &analysis.Analysis{}
			if err := json.Unmarshal(b, tc.Analysis); err != nil {
				l.errf(an, "analysis: %v", err)
			}
		}
		if tc.Name == "" {
			tc.Name = fmt.Sprintf("inline analysis at line %d", an.Line)
		}
	}
	return tc, len(l.errs) == before
}

var analysisType = reflect.TypeOf(analysis.Analysis{})

// analysisJSON turns an inline YAML analysis into JSON-ready values, checking each key
// against the analysis JSON contract so that a typo is refused at its own line. Scalars
// stay strings (0x27 must not become 39) except the numeric and boolean fields.
func (l *loader) analysisJSON(n *yaml.Node, t reflect.Type) (any, bool) {
	n = resolve(n)
	switch t.Kind() {
	case reflect.Pointer:
		return l.analysisJSON(n, t.Elem())
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			l.errf(n, "want a mapping, not %s", kindName(n))
			return nil, false
		}
		out := map[string]any{}
		ok := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, good := l.analysisJSON(n.Content[i+1], t.Elem())
			ok = ok && good
			out[n.Content[i].Value] = v
		}
		return out, ok
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.errf(n, "%s must be a mapping, not %s", t.Name(), kindName(n))
			return nil, false
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			fields[name] = t.Field(i).Type
			names = append(names, name)
		}
		out := map[string]any{}
		ok := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, known := fields[k.Value]
			if !known {
				l.errf(k, "unknown analysis key %q (known: %s)", k.Value, strings.Join(names, ", "))
				ok = false
				continue
			}
			v, good := l.analysisJSON(n.Content[i+1], ft)
			ok = ok && good
			out[k.Value] = v
		}
		return out, ok
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.errf(n, "want a list, not %s", kindName(n))
			return nil, false
		}
		out := make([]any, 0, len(n.Content))
		ok := true
		for _, x := range n.Content {
			v, good := l.analysisJSON(x, t.Elem())
			ok = ok && good
			out = append(out, v)
		}
		return out, ok
	default:
		if n.Kind != yaml.ScalarNode {
			l.errf(n, "want a single value, not %s", kindName(n))
			return nil, false
		}
		switch t.Kind() {
		case reflect.Int:
			x, err := strconv.Atoi(n.Value)
			if err != nil {
				l.errf(n, "%q is not a number", n.Value)
				return nil, false
			}
			return x, true
		case reflect.Bool:
			x, err := strconv.ParseBool(n.Value)
			if err != nil {
				l.errf(n, "%q is not true or false", n.Value)
				return nil, false
			}
			return x, true
		}
		return n.Value, true
	}
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return "."
}

func quote(s string) string { return strconv.Quote(s) }
