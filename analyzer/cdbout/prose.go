package cdbout

import (
	"strings"
	"sync"

	"github.com/bsodwatch/bsodwatch/dumpfile"
)

// A stop code in prose: people who post a crash without the debugger's output write the stop
// code as they read it, often not in the debugger's form: "video tdr failure atikmpag.sys",
// "Driver_IRQL_Not_Less_Or_Equal", "kmode-exception-not-handled". proseBugcheck reads such a
// name; for a text that holds no analysis, the one bug check it names gives the code (see
// finish), so that rules keyed on the code can match a pasted stop screen.

// proseMinWords is the fewest words a name needs to be read in any case: two-word names
// ("FILE_SYSTEM", "CACHE_MANAGER", "REGISTRY_ERROR") are ordinary phrases in lower case, and
// count only in the debugger's own upper-case form (speaksOfCrash).
const proseMinWords = 3

// proseName is a bug check name in words ("video", "tdr", "failure").
type proseName struct {
	words []string
	code  uint32
}

// proseNames indexes the bug check names of proseMinWords words or more by their first word,
// the longest first.
var proseNames = sync.OnceValue(func() map[string][]proseName {
	m := map[string][]proseName{}
	dumpfile.BugcheckNames(func(name string, code uint32) bool {
		w := strings.Split(strings.ToLower(name), "_")
		if len(w) >= proseMinWords {
			m[w[0]] = append(m[w[0]], proseName{words: w, code: code})
		}
		return true
	})
	for _, l := range m {
		for i := 1; i < len(l); i++ { // few per word: insertion sort, longest first
			for j := i; j > 0 && len(l[j].words) > len(l[j-1].words); j-- {
				l[j], l[j-1] = l[j-1], l[j]
			}
		}
	}
	return m
})

// maxProseLine bounds the lines read for a stop code in words: prose, not listings.
const maxProseLine = 512

// proseBugcheck calls found with the code of each bug check name line s spells in words, in any
// case, the words apart by spaces, '_' or '-' ("DPC watchdog violation"). At one place the
// longest name wins: "driver irql not less or equal" is 0xD1, not also 0xA.
func proseBugcheck(s string, found func(code uint32)) {
	if len(s) > maxProseLine {
		return
	}
	index := proseNames()
	var words [24]string
	n := 0
	flush := func() {
		for i := 0; i < n; {
			adv := 1
			var low [32]byte
			w := words[i]
			if len(w) > len(low) {
				i++
				continue
			}
			for k := 0; k < len(w); k++ {
				low[k] = w[k] | 0x20 // letters and digits only: lower case, digits unchanged
			}
			for _, pn := range index[string(low[:len(w)])] {
				if len(pn.words) <= n-i && equalWords(pn.words, words[i:i+len(pn.words)]) {
					found(pn.code)
					adv = len(pn.words)
					break
				}
			}
			i += adv
		}
		n = 0
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isLetter(c) || c >= '0' && c <= '9':
			j := i
			for j < len(s) && (isLetter(s[j]) || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			if n == len(words) {
				flush()
			}
			words[n] = s[i:j]
			n++
			i = j
		case c == ' ' || c == '_' || c == '-' || c == '\t':
			i++
		default: // other punctuation ends a name: "failure, atikmpag" is not one phrase
			flush()
			i++
		}
	}
	flush()
}

// equalWords compares the lower-case words of a name with words of a line, in any case.
func equalWords(name, line []string) bool {
	for k, w := range name {
		if !strings.EqualFold(w, line[k]) {
			return false
		}
	}
	return true
}
