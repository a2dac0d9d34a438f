package rules

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// cond is one node of a rule's match expression. eval reports whether it holds and, when
// f.explain is set, appends a line per fact that met a condition to why (callers roll back
// on failure). Rules are first evaluated without explanations, which is most of the cost
// saved when a thousand rules meet an analysis that few of them match.
type cond interface {
	eval(f *facts, why []string) ([]string, bool)
	// leaves counts the conditions that constrain facts: the rule's specificity.
	leaves() int
	// String describes the condition for "not" reasons and lint output.
	String() string
}

type allCond []cond

func (c allCond) eval(f *facts, why []string) ([]string, bool) {
	n := len(why)
	for _, x := range c {
		var ok bool
		if why, ok = x.eval(f, why); !ok {
			return why[:n], false
		}
	}
	return why, true
}

func (c allCond) leaves() int {
	n := 0
	for _, x := range c {
		n += x.leaves()
	}
	return n
}

func (c allCond) String() string { return "all(" + joinConds(c) + ")" }

type anyCond []cond

func (c anyCond) eval(f *facts, why []string) ([]string, bool) {
	for _, x := range c {
		if w, ok := x.eval(f, why); ok {
			return w, true
		}
	}
	return why, false
}

// leaves of any counts its least specific branch: that is all a match is sure to have met.
func (c anyCond) leaves() int {
	n := -1
	for _, x := range c {
		if l := x.leaves(); n < 0 || l < n {
			n = l
		}
	}
	return max(n, 0)
}

func (c anyCond) String() string { return "any(" + joinConds(c) + ")" }

type notCond struct{ c cond }

func (c notCond) eval(f *facts, why []string) ([]string, bool) {
	n := len(why)
	if w, ok := c.c.eval(f, why); ok {
		return w[:n], false
	}
	return f.say(why, "not %s: no fact met it", c.c), true
}

func (c notCond) leaves() int    { return c.c.leaves() }
func (c notCond) String() string { return "not(" + c.c.String() + ")" }

func joinConds(cs []cond) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, ", ")
}

// textAlt is one way a text fact may match: exactly (case-insensitive), a glob or a regex.
type textAlt struct {
	exact string // lower-case; for names also stripped of .sys/.exe/.dll
	glob  string // lower-case glob pattern
	re    *regexp.Regexp
	need  string // lower-case literal every match of re contains: a cheap pre-check
	desc  string
}

func (a *textAlt) matches(s string) bool {
	switch {
	case a.re != nil:
		return (a.need == "" || strings.Contains(s, a.need)) && a.re.MatchString(s)
	case a.glob != "":
		return globMatch(a.glob, s)
	}
	return false
}

// textMatcher matches a text fact against any of its alternatives. Name matchers (module,
// image, process, driver) ignore a trailing .sys/.exe/.dll on both sides.
type textMatcher struct {
	alts []textAlt
	name bool
	// exactOnly is true when no alternative is a glob or regex: facts can then be looked
	// up in an index instead of scanned.
	exactOnly bool
}

// candidates returns, in order, the positions in an indexed list that the exact
// alternatives name (only meaningful when exactOnly).
func (m *textMatcher) candidates(idx map[string][]int) []int {
	if len(m.alts) == 1 {
		return idx[m.alts[0].exact]
	}
	var out []int
	for _, a := range m.alts {
		out = append(out, idx[a.exact]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (m *textMatcher) match(v nameFact) (string, bool) {
	if v.raw == "" {
		return "", false
	}
	for i := range m.alts {
		a := &m.alts[i]
		if a.re == nil && a.glob == "" {
			if (m.name && a.exact == v.stripped) || (!m.name && a.exact == v.lower) {
				return a.desc, true
			}
			continue
		}
		if a.matches(v.lower) || (m.name && v.stripped != v.lower && a.matches(v.stripped)) {
			return a.desc, true
		}
	}
	return "", false
}

func (m *textMatcher) String() string {
	if len(m.alts) == 1 {
		return m.alts[0].desc
	}
	s := make([]string, len(m.alts))
	for i, a := range m.alts {
		s[i] = a.desc
	}
	return "[" + strings.Join(s, " ") + "]"
}

// globMatch reports whether s matches the glob p in full: * matches any run of
// characters, ? exactly one, everything else itself. Both are already lower-case.
func globMatch(p, s string) bool {
	// Iterative matching with backtracking to the last star: linear for the patterns
	// people write, and no regexp on the hot path.
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[sx:])
				px, sx = px+1, sx+n
				continue
			default:
				if c == s[sx] {
					px, sx = px+1, sx+1
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		px, sx = starP+1, starS
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

// requiredLiteral returns a lower-case ASCII string that every match of the regex must
// contain (the longest literal at its top level), or "" when there is none to rely on.
func requiredLiteral(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl|syntax.FoldCase)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	nodes := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		nodes = re.Sub
	}
	best := ""
	for _, n := range nodes {
		if n.Op != syntax.OpLiteral {
			continue
		}
		lit := string(n.Rune)
		ascii := true
		for _, r := range lit {
			ascii = ascii && r < utf8.RuneSelf
		}
		if ascii && len(lit) > len(best) {
			best = strings.ToLower(lit)
		}
	}
	return best
}

// fieldCond matches one named text fact of the analysis.
type fieldCond struct {
	key   string
	field int
	m     *textMatcher
}

type labelled struct {
	label string
	v     nameFact
}

// indexFrom is the list length from which an exact matcher uses the index: short lists
// (module_name and image_name) are faster to scan.
const indexFrom = 6

func (c *fieldCond) eval(f *facts, why []string) ([]string, bool) {
	list := f.list(c.field)
	if c.m.exactOnly && len(list) >= indexFrom {
		for _, i := range c.m.candidates(f.index(c.field, c.m.name)) {
			if d, ok := c.m.match(list[i].v); ok {
				return f.say(why, "%s %s ~ %s", list[i].label, list[i].v.raw, d), true
			}
		}
		return why, false
	}
	for _, l := range list {
		if d, ok := c.m.match(l.v); ok {
			return f.say(why, "%s %s ~ %s", l.label, l.v.raw, d), true
		}
	}
	return why, false
}

func (c *fieldCond) leaves() int    { return 1 }
func (c *fieldCond) String() string { return c.key + " " + c.m.String() }

// codeCond matches the bugcheck or exception code against a list of codes.
type codeCond struct {
	key   string
	codes []uint64
	exc   bool
}

func (c *codeCond) eval(f *facts, why []string) ([]string, bool) {
	v, ok := f.code, f.hasCode
	if c.exc {
		v, ok = f.exc, f.hasExc
	} else {
		v = baseCode(v)
	}
	if !ok {
		return why, false
	}
	for _, x := range c.codes {
		if x == v {
			if !f.explain {
				return why, true
			}
			raw := f.a.BugcheckCode
			if c.exc {
				raw = f.a.ExceptionCode
			}
			line := fmt.Sprintf("%s %s in %s", c.key, raw, c.list())
			if !c.exc && baseCode(f.code) != f.code {
				line = fmt.Sprintf("%s %s (base 0x%x) in %s", c.key, raw, v, c.list())
			}
			return append(why, line), true
		}
	}
	return why, false
}

func (c *codeCond) list() string {
	s := make([]string, len(c.codes))
	for i, x := range c.codes {
		s[i] = "0x" + strconv.FormatUint(x, 16)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func (c *codeCond) leaves() int    { return 1 }
func (c *codeCond) String() string { return c.key + " in " + c.list() }

// argCond matches bugcheck parameter N (1-based) against value/mask pairs.
type argCond struct {
	n    int
	alts []argAlt
}

type argAlt struct{ mask, value uint64 }

func (a argAlt) String() string {
	if a.mask == ^uint64(0) {
		return fmt.Sprintf("0x%x", a.value)
	}
	return fmt.Sprintf("0x%x & 0x%x", a.value, a.mask)
}

func (c *argCond) eval(f *facts, why []string) ([]string, bool) {
	if !f.hasArg[c.n-1] {
		return why, false
	}
	v := f.args[c.n-1]
	for _, a := range c.alts {
		if v&a.mask == a.value {
			if a.mask == ^uint64(0) {
				return f.say(why, "arg%d 0x%x = 0x%x", c.n, v, a.value), true
			}
			return f.say(why, "arg%d 0x%x & 0x%x = 0x%x", c.n, v, a.mask, a.value), true
		}
	}
	return why, false
}

func (c *argCond) leaves() int { return 1 }
func (c *argCond) String() string {
	s := make([]string, len(c.alts))
	for i, a := range c.alts {
		s[i] = a.String()
	}
	return fmt.Sprintf("arg%d in [%s]", c.n, strings.Join(s, " "))
}

// intRange is an inclusive lower bound and an inclusive or exclusive upper bound.
type intRange struct {
	from, to, before int64
	hasFrom, hasTo   bool
	hasBefore        bool
}

func (r intRange) contains(v int64) bool {
	return (!r.hasFrom || v >= r.from) && (!r.hasTo || v <= r.to) && (!r.hasBefore || v < r.before)
}

func (r intRange) String() string {
	var s []string
	if r.hasFrom {
		s = append(s, fmt.Sprintf(">= %d", r.from))
	}
	if r.hasTo {
		s = append(s, fmt.Sprintf("<= %d", r.to))
	}
	if r.hasBefore {
		s = append(s, fmt.Sprintf("< %d", r.before))
	}
	return strings.Join(s, " and ")
}

// osBuildCond matches the build number against one or more ranges.
type osBuildCond struct{ rs []intRange }

func (c *osBuildCond) eval(f *facts, why []string) ([]string, bool) {
	if f.a.OSBuild == 0 {
		return why, false
	}
	for _, r := range c.rs {
		if r.contains(int64(f.a.OSBuild)) {
			return f.say(why, "os_build %d %s", f.a.OSBuild, r), true
		}
	}
	return why, false
}

func (c *osBuildCond) leaves() int { return 1 }
func (c *osBuildCond) String() string {
	if len(c.rs) == 1 {
		return "os_build " + c.rs[0].String()
	}
	s := make([]string, len(c.rs))
	for i, r := range c.rs {
		s[i] = "(" + r.String() + ")"
	}
	return "os_build in [" + strings.Join(s, " ") + "]"
}

// setCond matches a small closed vocabulary: engine, arch.
type setCond struct {
	key  string
	get  func(f *facts) string
	vals []string
}

func (c *setCond) eval(f *facts, why []string) ([]string, bool) {
	v := strings.ToLower(c.get(f))
	for _, x := range c.vals {
		if v == x {
			return f.say(why, "%s %s in [%s]", c.key, v, strings.Join(c.vals, " ")), true
		}
	}
	return why, false
}

func (c *setCond) leaves() int    { return 1 }
func (c *setCond) String() string { return c.key + " in [" + strings.Join(c.vals, " ") + "]" }

// kindCond matches the driver reference's kind of the culprit (driver_kind); its why line
// names the culprit.
type kindCond struct{ *setCond }

func (c *kindCond) eval(f *facts, why []string) ([]string, bool) {
	k := f.culprit.Kind
	for _, x := range c.vals {
		if k == x {
			return f.say(why, "driver_kind of culprit %s (%s) %s in [%s]", f.culprit.Module, orUnknown(f.culprit.Vendor), k, strings.Join(c.vals, " ")), true
		}
	}
	return why, false
}

func orUnknown(s string) string {
	if s == "" {
		return "vendor unknown"
	}
	return s
}

// driverCond matches a loaded driver (lmvm block or the dump's driver list) by name and
// timestamp and/or version range.
type driverCond struct {
	name    *textMatcher
	ts      *timeRange
	version *versionRange
}

type timeRange struct{ from, to, before time.Time }

func (r *timeRange) contains(t time.Time) bool {
	return (r.from.IsZero() || !t.Before(r.from)) && (r.to.IsZero() || !t.After(r.to)) &&
		(r.before.IsZero() || t.Before(r.before))
}

// empty reports an upper bound below the lower bound: a range no driver can meet.
func (r *timeRange) empty() bool {
	return !r.from.IsZero() && ((!r.to.IsZero() && r.to.Before(r.from)) || (!r.before.IsZero() && !r.before.After(r.from)))
}

func (r *timeRange) String() string {
	var s []string
	if !r.from.IsZero() {
		s = append(s, ">= "+r.from.Format(time.RFC3339))
	}
	if !r.to.IsZero() {
		s = append(s, "<= "+r.to.Format(time.RFC3339))
	}
	if !r.before.IsZero() {
		s = append(s, "< "+r.before.Format(time.RFC3339))
	}
	return strings.Join(s, " and ")
}

type versionRange struct{ from, to, before version }

func (r *versionRange) contains(v version) bool {
	return (r.from == nil || v.compare(r.from) >= 0) && (r.to == nil || v.compare(r.to) <= 0) &&
		(r.before == nil || v.compare(r.before) < 0)
}

func (r *versionRange) empty() bool {
	return r.from != nil && ((r.to != nil && r.to.compare(r.from) < 0) || (r.before != nil && r.before.compare(r.from) <= 0))
}

func (r *versionRange) String() string {
	var s []string
	if r.from != nil {
		s = append(s, ">= "+r.from.String())
	}
	if r.to != nil {
		s = append(s, "<= "+r.to.String())
	}
	if r.before != nil {
		s = append(s, "< "+r.before.String())
	}
	return strings.Join(s, " and ")
}

func (c *driverCond) eval(f *facts, why []string) ([]string, bool) {
	mods := f.modules()
	var pos []int
	if c.name.exactOnly {
		pos = c.name.candidates(f.moduleIndex())
	}
	for k := 0; ; k++ {
		var m *modFact
		if c.name.exactOnly {
			if k >= len(pos) {
				break
			}
			m = &mods[pos[k]]
		} else {
			if k >= len(mods) {
				break
			}
			m = &mods[k]
		}
		label := m.name.raw
		_, ok := c.name.match(m.name)
		if !ok {
			if _, ok = c.name.match(m.image); ok {
				label = m.image.raw
			}
		}
		if !ok {
			continue
		}
		m.parse()
		var parts []string
		if c.ts != nil {
			if !m.hasTS || !c.ts.contains(m.ts) {
				continue
			}
			if f.explain {
				parts = append(parts, fmt.Sprintf("timestamp %s (%s) %s", m.ts.Format(time.RFC3339), strings.TrimSpace(m.tsRaw), c.ts))
			}
		}
		if c.version != nil {
			hit := false
			for _, v := range m.versions {
				if c.version.contains(v.v) {
					if f.explain {
						parts = append(parts, fmt.Sprintf("%s %s %s", v.field, v.v, c.version))
					}
					hit = true
					break
				}
			}
			if !hit {
				continue
			}
		}
		return f.say(why, "driver %s %s", label, strings.Join(parts, ", ")), true
	}
	return why, false
}

func (c *driverCond) leaves() int {
	n := 1
	if c.ts != nil {
		n++
	}
	if c.version != nil {
		n++
	}
	return n
}

func (c *driverCond) String() string {
	s := "driver " + c.name.String()
	if c.ts != nil {
		s += " timestamp " + c.ts.String()
	}
	if c.version != nil {
		s += " version " + c.version.String()
	}
	return s
}
