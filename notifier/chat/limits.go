package chat

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The truncation policy, the same for every target, in two steps:
//
//  1. Before any template runs, each value is capped (Caps): cut on a rune boundary, never
//     inside a combining sequence, and ended with an ellipsis. The cut happens before the
//     value is escaped for the target's markup, so it can never fall inside an escape
//     sequence or an entity, or leave markup open. Lists are capped in items too, with a
//     last item saying how many more there are.
//  2. If the rendered message is still over the target's limit, whole parts are dropped in
//     DropOrder (least important first) and the message is rendered again, until it fits.
//     The headline, the host, the known issue's title, the culprit module, the failure
//     reason and the link to the full result are in no part: they are never dropped. The
//     caps are chosen so that these alone fit every target's limit, whatever they contain.
//
// A message that was shortened in either step says so and links the full result
// (TruncatedNote).

// Cap bounds one value of a View: Runes for each string (0: no cap), Items for a list.
type Cap struct {
	Runes int
	Items int
}

// Caps are the caps of the View's fields, by field name. A field that is not listed is not
// a value from a dump, the debugger or a rule (numbers, kinds, our own dates).
var Caps = map[string]Cap{
	"Host": {Runes: 64}, "HostTags": {Runes: 32, Items: 8}, "JobID": {Runes: 64},
	"Dump": {Runes: 160}, "Source": {Runes: 160}, "Bucket": {Runes: 160},
	"Engine": {Runes: 32}, "Confidence": {Runes: 32}, "RulesVersion": {Runes: 64},
	"DegradedReasons": {Runes: 200, Items: 5},
	"Headline":        {Runes: 200}, "Reason": {Runes: 500}, "Error": {Runes: 500},
	"OS": {Runes: 100}, "Uptime": {Runes: 40}, "EventLog": {Runes: 200},
	"BugcheckCode": {Runes: 32}, "BugcheckName": {Runes: 100}, "Process": {Runes: 100},
	"Image": {Runes: 100}, "Symbol": {Runes: 160},
	"Module": {Runes: 100}, "Culprit": {Runes: 100}, "Vendor": {Runes: 100}, "Product": {Runes: 100},
	"Description": {Runes: 200}, "CulpritWhy": {Runes: 200}, "Version": {Runes: 64},
	"Timestamp": {Runes: 64}, "ImagePath": {Runes: 200},
	"Title": {Runes: 200}, "Severity": {Runes: 20}, "Summary": {Runes: 500},
	"Remedy": {Runes: 300, Items: 10}, "Links": {Items: 5},
	"OtherTitles": {Runes: 200, Items: 5}, "Flags": {Runes: 200, Items: 5},
	"Evidence": {Runes: 200, Items: 5}, "Modules": {Runes: 64, Items: 10},
	"Hosts": {Runes: 64, Items: 20}, "Window": {Runes: 40},
}

// Ellipsis ends a value that was cut.
const Ellipsis = "…"

// Part is a piece of a message that may be dropped to make it fit: Drop removes it from
// the view and reports whether there was anything to remove.
type Part struct {
	Name string
	Drop func(v *View) bool
}

// DropOrder lists the parts of a message, least important first: the order in which they
// are dropped from a message over its target's limit.
var DropOrder = []Part{
	{"evidence", func(v *View) bool { return clearList(&v.Evidence) }},
	{"other matches", func(v *View) bool { return clearList(&v.OtherTitles) }},
	{"modules", func(v *View) bool { return clearList(&v.Modules) }},
	{"dump path", func(v *View) bool { return clearStr(&v.Dump) || clearStr(&v.Source) }},
	{"host tags", func(v *View) bool { return clearList(&v.HostTags) }},
	{"degraded reasons", func(v *View) bool { return clearList(&v.DegradedReasons) }},
	{"symbol and image", func(v *View) bool {
		return clearStr(&v.Symbol) || clearStr(&v.ImagePath) || clearStr(&v.Image) || clearStr(&v.CulpritWhy)
	}},
	{"remedies beyond the first", func(v *View) bool { return keepFirst(&v.Remedy) }},
	{"links beyond the first", func(v *View) bool { return keepFirst(&v.Links) }},
	{"summary", func(v *View) bool { return clearStr(&v.Summary) }},
	{"hosts", func(v *View) bool { return clearList(&v.Hosts) }},
	{"process", func(v *View) bool { return clearStr(&v.Process) }},
	{"culprit version and date", func(v *View) bool { return clearStr(&v.Version) || clearStr(&v.Timestamp) }},
	{"crash time and system", func(v *View) bool {
		return clearStr(&v.CrashTime) || clearStr(&v.OS) || clearStr(&v.Uptime)
	}},
	{"flags", func(v *View) bool { return clearList(&v.Flags) }},
	{"remedy", func(v *View) bool { return clearList(&v.Remedy) }},
	{"links", func(v *View) bool { return clearList(&v.Links) }},
	{"culprit description", func(v *View) bool {
		return clearStr(&v.Description) || clearStr(&v.Vendor) || clearStr(&v.Product)
	}},
}

// clearStr empties *s; clearList and keepFirst shorten *l. Each reports whether it changed
// anything. clearStr callers use || on purpose: a part is dropped one field per call, and
// Fit calls Drop again until it reports nothing left.
func clearStr(s *string) bool {
	if *s == "" {
		return false
	}
	*s = ""
	return true
}

func clearList(l *[]string) bool {
	if len(*l) == 0 {
		return false
	}
	*l = nil
	return true
}

func keepFirst(l *[]string) bool {
	if len(*l) <= 1 {
		return false
	}
	*l = (*l)[:1]
	return true
}

// dropPart removes all of part p from v, reporting whether there was anything.
func dropPart(v *View, p Part) bool {
	any := false
	for p.Drop(v) {
		any = true
	}
	return any
}

// DropParts removes the named parts from v (to repeat on another view of the same message
// what Fit did), in DropOrder.
func DropParts(v *View, names []string) {
	for _, p := range DropOrder {
		for _, n := range names {
			if p.Name == n && dropPart(v, p) {
				v.Shortened = true
			}
		}
	}
}

// ErrTooBig is returned by Fit when a message is over its target's limit even with every
// part that may be dropped gone (only a template override can do that).
var ErrTooBig = errors.New("message over the target's limit even with every optional part dropped")

// Fit builds the payload of v, dropping parts in DropOrder until fits accepts it. v is
// changed: it ends as the view the payload was built from, with Dropped naming the parts
// removed and Shortened set when anything was cut. fits says why a payload is too big, or
// nil when it is within every limit.
func Fit(v *View, build func(*View) ([]byte, error), fits func([]byte) error) ([]byte, error) {
	b, err := build(v)
	if err != nil {
		return nil, err
	}
	over := fits(b)
	for _, p := range DropOrder {
		if over == nil {
			return b, nil
		}
		if !dropPart(v, p) {
			continue
		}
		v.Dropped = append(v.Dropped, p.Name)
		v.Shortened = true
		if b, err = build(v); err != nil {
			return nil, err
		}
		over = fits(b)
	}
	if over != nil {
		return nil, Permanent(ReasonInvalidPayload, "%v: %v", ErrTooBig, over)
	}
	return b, nil
}

// CapRunes cuts s to at most n runes (n <= 0: no cap), ending it with Ellipsis when it
// cut. The cut never splits a combining sequence (a base and its marks, a zero-width joiner
// sequence, a variation selector) and drops the spaces before the ellipsis.
func CapRunes(s string, n int) (string, bool) {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s, false
	}
	keep := max(n-utf8.RuneCountInString(Ellipsis), 0)
	r := []rune(s)
	// Back off to the start of the cluster the cut falls in: past marks that belong to the
	// rune before them, and past a zero-width joiner together with what it joins.
	for keep > 0 && (joins(r[keep]) || r[keep-1] == '\u200d') {
		keep--
	}
	return strings.TrimRightFunc(string(r[:keep]), unicode.IsSpace) + Ellipsis, true
}

// joins reports whether r belongs to the rune before it: a combining mark, a zero-width
// joiner or non-joiner, a variation selector.
func joins(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc) || r == '\u200d' || r == '\u200c' ||
		(r >= 0xfe00 && r <= 0xfe0f) || (r >= 0xe0100 && r <= 0xe01ef)
}

// capList caps each item of l and the number of items, adding a last item that says how
// many more there were; cut reports whether anything was shortened.
func capList(l []string, c Cap) (out []string, cut bool) {
	for i, s := range l {
		if c.Items > 0 && i == c.Items {
			out = append(out, fmt.Sprintf("%s%d more", Ellipsis, len(l)-i))
			return out, true
		}
		s, c1 := CapRunes(s, c.Runes)
		out = append(out, s)
		cut = cut || c1
	}
	return out, cut
}

// SafeCut cuts markup text to at most n runes where the cut cannot break it: never inside
// an entity (&…;), never after a lone escaping backslash, and never where one of delims is
// left open (an odd count of it before the cut, not counting escaped ones; list longer
// delimiters first). It prefers a space in the second half. Template lines longer than a
// target's block need it; values never do (see Caps).
func SafeCut(s string, n int, delims ...string) (head, tail string) {
	r := []rune(s)
	if len(r) <= n {
		return s, ""
	}
	counts := make([]int, len(delims))
	best, bestSpace := 0, 0
	entity := -1 // index of an open '&', or -1
	for i := 0; i < len(r) && i <= n; {
		if i > 0 && entity < 0 && balanced(counts) {
			best = i
			if unicode.IsSpace(r[i]) {
				bestSpace = i
			}
		}
		c := r[i]
		switch {
		case c == '\\' && i+1 < len(r) && IsASCIIPunct(r[i+1]):
			i += 2 // an escape: never cut between the backslash and its character
			continue
		case c == '&' && i+1 < len(r) && (r[i+1] == '#' || unicode.IsLetter(r[i+1])):
			entity = i
		case entity >= 0 && (c == ';' || !(c == '#' || unicode.IsLetter(c) || unicode.IsDigit(c)) || i-entity > 32):
			entity = -1
		}
		step := 1
		for k, d := range delims {
			if strings.HasPrefix(string(r[i:min(i+utf8.RuneCountInString(d), len(r))]), d) {
				counts[k]++
				step = utf8.RuneCountInString(d)
				break
			}
		}
		i += step
	}
	if bestSpace > n/2 {
		best = bestSpace
	}
	if best == 0 {
		best = n
	}
	return string(r[:best]), string(r[best:])
}

func balanced(counts []int) bool {
	for _, c := range counts {
		if c%2 != 0 {
			return false
		}
	}
	return true
}

// IsASCIIPunct reports whether r is one of the ASCII punctuation characters, the ones
// CommonMark lets a backslash escape.
func IsASCIIPunct(r rune) bool {
	return r < utf8.RuneSelf && (unicode.IsPunct(r) || unicode.IsSymbol(r))
}

// Intraword reports whether the rune at r[i] stands between two letters or digits (as the
// underscores of DRIVER_IRQL_NOT_LESS_OR_EQUAL do): there it cannot open or close emphasis
// in CommonMark, nor format in Slack.
func Intraword(r []rune, i int) bool {
	alnum := func(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }
	return i > 0 && i+1 < len(r) && alnum(r[i-1]) && alnum(r[i+1])
}

// MapRunes rewrites s rune by rune: f returns what r[i] becomes, or "" to keep it. The
// escapers of the integrations are written with it.
func MapRunes(s, prefix string, f func(r []rune, i int) string) string {
	r := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + len(prefix))
	b.WriteString(prefix)
	for i, c := range r {
		if out := f(r, i); out != "" {
			b.WriteString(out)
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// Entity is the HTML entity of & < and >, or "" for any other rune.
func Entity(c rune) string {
	switch c {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return ""
}
