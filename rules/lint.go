package rules

import (
	"fmt"
	"slices"
	"strings"
)

// maxBranches bounds the alternatives lint expands a rule into (the product of its any
// lists); a rule with more is not checked for shadowing, which is rare and said so.
const maxBranches = 256

// branch is one way a rule can match: conditions that must all hold.
type branch []cond

// branches expands c into its alternatives, any into one branch each, all into their
// products; not and every matcher are single conditions. ok is false past maxBranches.
func branches(c cond) ([]branch, bool) {
	switch x := c.(type) {
	case allCond:
		out := []branch{{}}
		for _, sub := range x {
			bs, ok := branches(sub)
			if !ok || len(out)*len(bs) > maxBranches {
				return nil, false
			}
			var next []branch
			for _, a := range out {
				for _, b := range bs {
					next = append(next, append(slices.Clone(a), b...))
				}
			}
			out = next
		}
		return out, true
	case anyCond:
		var out []branch
		for _, sub := range x {
			bs, ok := branches(sub)
			if !ok || len(out)+len(bs) > maxBranches {
				return nil, false
			}
			out = append(out, bs...)
		}
		return out, true
	}
	return []branch{{c}}, true
}

// Lint looks for rules that can never match (contradictory conditions, bug check codes no
// crash has) and rules that shadow each other: the same conditions, or a rule whose every
// match is also a match of another rule listed before it, so that it never makes the
// headline. Findings are at the rule's "id:" line, in file order.
func (s *Set) Lint() Errors {
	type info struct {
		r  *Rule
		bs []branch
		ok bool
	}
	rs := s.byFile()
	rank := map[*Rule]int{}
	for i, r := range s.rules {
		rank[r] = i
	}
	infos := make([]info, len(rs))
	var out Errors
	for i, r := range rs {
		bs, ok := branches(r.match)
		infos[i] = info{r, bs, ok}
		for _, msg := range impossibleCodes(r.match) {
			out = append(out, &Error{Pos: r.Pos, Msg: fmt.Sprintf("rule %q %s", r.ID, msg)})
		}
		if !ok {
			continue
		}
		var why string
		dead := 0
		for _, b := range bs {
			if w := contradiction(b); w != "" {
				dead++
				if why == "" {
					why = w
				}
			}
		}
		if dead == len(bs) {
			out = append(out, &Error{Pos: r.Pos, Msg: fmt.Sprintf("rule %q can never match: %s", r.ID, why)})
		}
	}
	for i, b := range infos {
		if !b.ok {
			continue
		}
		for j, a := range infos {
			if i == j || !a.ok || !subsumes(a.bs, b.bs) {
				continue
			}
			if subsumes(b.bs, a.bs) {
				if j < i { // report a pair of twins once, at the second
					out = append(out, &Error{Pos: b.r.Pos, Msg: fmt.Sprintf("rule %q has the same conditions as %q (%s): one of them is redundant", b.r.ID, a.r.ID, a.r.Pos)})
				}
				continue
			}
			if rank[a.r] < rank[b.r] {
				out = append(out, &Error{Pos: b.r.Pos, Msg: fmt.Sprintf("rule %q is shadowed by %q (%s): every crash it matches also matches %q, which is listed first (severity %s); raise its severity or narrow the other rule",
					b.r.ID, a.r.ID, a.r.Pos, a.r.ID, a.r.Severity)})
			}
		}
	}
	slices.SortStableFunc(out, func(x, y *Error) int {
		if c := strings.Compare(x.File, y.File); c != 0 {
			return c
		}
		return x.Line - y.Line
	})
	return out
}

// subsumes reports whether every branch of b implies some branch of a: whenever b matches, a
// does.
func subsumes(a, b []branch) bool {
	for _, bb := range b {
		hit := false
		for _, ab := range a {
			if branchImplies(bb, ab) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// branchImplies reports whether every condition of a is implied by one of b.
func branchImplies(b, a branch) bool {
	for _, ac := range a {
		if !slices.ContainsFunc(b, func(bc cond) bool { return implies(bc, ac) }) {
			return false
		}
	}
	return true
}

// implies reports whether b holding guarantees that a holds, for the cases lint can see:
// the same condition, or the same fact with b's values a subset of a's.
func implies(b, a cond) bool {
	if b.String() == a.String() {
		return true
	}
	switch x := b.(type) {
	case *codeCond:
		y, ok := a.(*codeCond)
		return ok && x.exc == y.exc && subset(x.codes, y.codes)
	case *fieldCond:
		y, ok := a.(*fieldCond)
		return ok && x.field == y.field && x.m.exactOnly && y.m.exactOnly && x.m.name == y.m.name && subset(exacts(x.m), exacts(y.m))
	case *setCond:
		y, ok := a.(*setCond)
		return ok && x.key == y.key && subset(x.vals, y.vals)
	case *kindCond:
		y, ok := a.(*kindCond)
		return ok && subset(x.vals, y.vals)
	case *argCond:
		y, ok := a.(*argCond)
		return ok && x.n == y.n && subset(x.alts, y.alts)
	case *osBuildCond:
		y, ok := a.(*osBuildCond)
		return ok && !slices.ContainsFunc(x.rs, func(in intRange) bool {
			return !slices.ContainsFunc(y.rs, func(out intRange) bool { return rangeWithin(in, out) })
		})
	}
	return false
}

func subset[T comparable](xs, ys []T) bool {
	for _, x := range xs {
		if !slices.Contains(ys, x) {
			return false
		}
	}
	return true
}

func exacts(m *textMatcher) []string {
	out := make([]string, len(m.alts))
	for i, a := range m.alts {
		out[i] = a.exact
	}
	return out
}

// bounds turns a range into inclusive bounds over int64.
func bounds(r intRange) (lo, hi int64) {
	lo, hi = -1<<63, 1<<63-1
	if r.hasFrom {
		lo = r.from
	}
	if r.hasTo {
		hi = r.to
	}
	if r.hasBefore && r.before-1 < hi {
		hi = r.before - 1
	}
	return lo, hi
}

func rangeWithin(inner, outer intRange) bool {
	il, ih := bounds(inner)
	ol, oh := bounds(outer)
	return il >= ol && ih <= oh
}

// singleFacts are the text fields with one value per analysis: two exact conditions on one
// of them with no name in common cannot both hold.
var singleFacts = map[int]bool{fieldThirdParty: true, fieldProcess: true, fieldSymbol: true,
	fieldBugcheckName: true, fieldProblemClass: true, fieldDriverVendor: true}

// contradiction says why the conditions of one branch cannot all hold, or "".
func contradiction(b branch) string {
	for i, x := range b {
		for _, y := range b[i+1:] {
			if w := conflict(x, y); w != "" {
				return w
			}
			if w := conflict(y, x); w != "" {
				return w
			}
		}
	}
	return ""
}

func conflict(x, y cond) string {
	switch a := x.(type) {
	case notCond:
		if implies(y, a.c) {
			return fmt.Sprintf("it requires %s and also not(%s)", y, a.c)
		}
	case *codeCond:
		if b, ok := y.(*codeCond); ok && a.exc == b.exc && !overlap(a.codes, b.codes) {
			return fmt.Sprintf("%s and %s have no code in common", a, b)
		}
	case *argCond:
		if b, ok := y.(*argCond); ok && a.n == b.n {
			for _, p := range a.alts {
				for _, q := range b.alts {
					if (p.value^q.value)&p.mask&q.mask == 0 {
						return ""
					}
				}
			}
			return fmt.Sprintf("%s and %s cannot both hold", a, b)
		}
	case *osBuildCond:
		if b, ok := y.(*osBuildCond); ok {
			for _, p := range a.rs {
				for _, q := range b.rs {
					pl, ph := bounds(p)
					ql, qh := bounds(q)
					if max(pl, ql) <= min(ph, qh) {
						return ""
					}
				}
			}
			return fmt.Sprintf("%s and %s do not overlap", a, b)
		}
	case *setCond:
		if b, ok := y.(*setCond); ok && a.key == b.key && !overlap(a.vals, b.vals) {
			return fmt.Sprintf("%s and %s have no value in common", a, b)
		}
	case *kindCond:
		if b, ok := y.(*kindCond); ok && !overlap(a.vals, b.vals) {
			return fmt.Sprintf("%s and %s have no kind in common", a, b)
		}
	case *fieldCond:
		if b, ok := y.(*fieldCond); ok && a.field == b.field && singleFacts[a.field] && a.m.exactOnly && b.m.exactOnly && !overlap(exacts(a.m), exacts(b.m)) {
			return fmt.Sprintf("%s and %s name different values of a fact that has one", a, b)
		}
	}
	return ""
}

func overlap[T comparable](xs, ys []T) bool {
	return slices.ContainsFunc(xs, func(x T) bool { return slices.Contains(ys, x) })
}

// impossibleCodes lists bug check codes a rule names that no crash can have: bug check codes
// are 32 bits wide.
func impossibleCodes(c cond) []string {
	var out []string
	var walk func(cond)
	walk = func(c cond) {
		switch x := c.(type) {
		case allCond:
			for _, s := range x {
				walk(s)
			}
		case anyCond:
			for _, s := range x {
				walk(s)
			}
		case notCond:
			walk(x.c)
		case *codeCond:
			for _, code := range x.codes {
				if code > 0xffffffff {
					out = append(out, fmt.Sprintf("names %s 0x%x, wider than 32 bits: no crash has it", x.key, code))
				}
			}
		}
	}
	walk(c)
	return out
}
