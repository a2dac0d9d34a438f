package cdbout

import (
	"slices"
	"strings"
)

// flatMin is the line length from which a line is checked for lost line breaks.
const flatMin = 200

// flatMarkers start a line in debugger output. In text whose line breaks were lost they
// show where the breaks were.
var flatMarkers = []string{
	"Arguments:", "Arg1:", "Arg2:", "Arg3:", "Arg4:", "Debugging Details:", "Followup:",
	"ExceptionAddress:", "ExceptionCode:", "ExceptionFlags:", "NumberParameters:", "Parameter[",
	"Attempt to read", "Attempt to write", "Attempt to execute", "Resetting default scope",
	"CONTEXT:", "Subcode:", "BugCheck ", "Bugcheck code ", "Probably caused by",
	"Use !analyze -v", "Loaded symbol image file:", "Symbol file:", "Mapped memory image file:",
	"Image path:", "Image name:", "Timestamp:", "CheckSum:", "ImageSize:", "File version:",
	"Product version:", "File flags:", "File OS:", "File type:", "File date:", "Translations:",
	"Information from resource tables:", "CompanyName:", "ProductName:", "InternalName:",
	"OriginalFilename:", "ProductVersion:", "FileVersion:", "FileDescription:",
	"LegalCopyright:", "LegalTrademarks:", "Comments:", "start end module name",
	"start             end                 module name", "Microsoft (R) Windows Debugger",
	"Copyright (c) Microsoft", "Loading Dump File", "Symbol search path is:",
	"Executable search path is:", "Product:", "Built by:", "Edition build lab:",
	"Debug session time:", "System Uptime:", "Process Uptime:", "Kernel base =",
	"Key :", "Key  :", "Value:", "eax=", "rax=", "*** ERROR:", "*** WARNING:", "quit:",
	"Browse full module list", "Browse all global symbols",
}

// lineEndMarkers fill a whole line, so they end one, too.
var lineEndMarkers = []string{"start end module name", "module name", "Arguments:", "Debugging Details:",
	"Information from resource tables:", "Resetting default scope", "Browse full module list"}

// markerIndex lists, per first byte, the markers that start (or end) a line, so one pass
// over the text finds them all. No marker is a prefix of another or overlaps itself, so at
// most one start marker matches at a position, as with a search per marker.
type markerIndex [256][]string

var flatStart, flatEnd = indexMarkers(flatMarkers), indexMarkers(lineEndMarkers)

// markerFirst flags the bytes that begin a start (1) or an end (2) marker: most bytes of a
// line begin none and cost one table look-up.
var markerFirst = func() (t [256]uint8) {
	for _, m := range flatMarkers {
		t[m[0]] |= 1
	}
	for _, m := range lineEndMarkers {
		t[m[0]] |= 2
	}
	return t
}()

func indexMarkers(ms []string) *markerIndex {
	var x markerIndex
	for _, m := range ms {
		x[m[0]] = append(x[m[0]], m)
	}
	return &x
}

// splitFlattened appends s to out, cut before every line-start marker when s looks like
// several lines run together (at least three markers; two in a line shorter than flatMin,
// which only a re-wrapped text holds). cutsBuf is reused between calls. Time is linear in
// len(s): one pass per kind of marker.
func splitFlattened(s string, out []string, cutsBuf *[]int) []string {
	cuts := (*cutsBuf)[:0]
	defer func() { *cutsBuf = cuts[:0] }()
	for i := 0; i < len(s); i++ {
		c := s[i]
		f := markerFirst[c]
		if f == 0 {
			continue
		}
		if f&1 != 0 && i > 0 {
			for _, m := range flatStart[c] {
				if strings.HasPrefix(s[i:], m) && (s[i-1] == ' ' || gluedMarkers[m] && gluesOn(s[i-1])) {
					cuts = append(cuts, i)
					break
				}
			}
		}
		if f&2 == 0 {
			continue
		}
		for _, m := range flatEnd[c] {
			if strings.HasPrefix(s[i:], m) {
				if e := i + len(m); e < len(s) && s[e] == ' ' {
					cuts = append(cuts, e)
				}
			}
		}
	}
	cuts = keyCuts(s, cuts)
	// Asterisk banners and dash rules stand on lines of their own.
	for i := 0; i < len(s); {
		c := s[i]
		if c != '*' && c != '-' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == c {
			j++
		}
		if j-i >= 10 {
			cuts = append(cuts, i, j)
			if c == '*' {
				if e, ok := bannerEnd(s, j); ok {
					cuts = append(cuts, e)
				}
			}
		}
		i = j
	}
	if len(s) < flatMin {
		// A short line is cut when two line starts follow inside it, or one does and the
		// line itself starts as a debugger line.
		inside := 0
		for _, c := range cuts {
			if c > 0 && !weakInside(s[c:]) {
				inside++
			}
		}
		if inside < 2 && (inside == 0 || !startsLine(s)) {
			return append(out, s)
		}
	} else if len(cuts) < 3 {
		return append(out, s)
	}
	slices.Sort(cuts)
	prev := 0
	for _, c := range cuts {
		if c <= prev || c >= len(s) {
			continue
		}
		if part := strings.TrimSpace(s[prev:c]); part != "" {
			out = append(out, part)
		}
		prev = c
	}
	if part := strings.TrimSpace(s[prev:]); part != "" {
		out = append(out, part)
	}
	return out
}

// bannerEnd finds where the flattened box "* * * Bugcheck Analysis * * *" that follows a
// star run at j ends, so the box title becomes a line of its own.
func bannerEnd(s string, j int) (int, bool) {
	window := s[j:min(len(s), j+200)] // bounded: a search to the end per run would be quadratic
	for _, t := range []string{"Bugcheck Analysis", "Exception Analysis"} {
		k := strings.Index(window, t)
		if k < 0 {
			continue
		}
		e := j + k + len(t)
		for e < len(s) && (s[e] == ' ' || s[e] == '*') {
			if e+1 < len(s) && s[e] == '*' && s[e+1] == '*' && strings.HasPrefix(s[e:], "**********") {
				return e, true
			}
			e++
		}
		return e, true
	}
	return 0, false
}

// keyCuts appends where upper-case analysis keys ("BUGCHECK_STR:", "FAILURE_BUCKET_ID:")
// start in s: after a space, or glued to the lower-case end of the value before them
// ("usbspIMAGE_NAME:", a paste that lost the break and the space).
func keyCuts(s string, cuts []int) []int {
	for off := 0; ; {
		k := strings.IndexByte(s[off:], ':')
		if k < 0 {
			return cuts
		}
		i := off + k
		off = i + 1
		j := i
		for j > 0 && isKeyChar(s[j-1]) {
			j--
		}
		if k := gluedKey(s[j:i]); k > 0 && (j == 0 || s[j-1] != ' ' || !gluedKeys[s[j:i]]) {
			// a known key glued to the value before it: "0x116PROCESS_NAME:",
			// "GRAPHICS_DRIVER_TDR_FAULTBUGCHECK_STR:"
			cuts = append(cuts, j+k)
			continue
		}
		if i-j >= 4 && s[j] >= 'A' && s[j] <= 'Z' && strings.IndexByte(s[j:i], '_') >= 0 &&
			(j == 0 || s[j-1] == ' ' || (i-j >= 8 && (s[j-1] >= 'a' && s[j-1] <= 'z' || s[j-1] == '.' || s[j-1] == ')'))) {
			cuts = append(cuts, j)
		}
	}
}

// gluedMarkers are line starts that text with lost breaks also glues onto the value before
// them ("...0000000000000000Debugging Details:", "...referencedArg2:").
var gluedMarkers = map[string]bool{"Debugging Details:": true, "Arguments:": true, "Arg1:": true,
	"Arg2:": true, "Arg3:": true, "Arg4:": true, "Followup:": true, "Probably caused by": true}

// gluesOn reports a byte a glued line start may follow: the end of a value.
func gluesOn(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '.' || c == ')'
}

// gluedKeys are the analysis keys that text with lost line breaks glues onto the value
// before them; they end with a key the parser reads, so a longer run of capitals ending in
// one is a value and that key.
var gluedKeys = map[string]bool{"BUCKET_ID": true, "BUGCHECK_STR": true, "DEFAULT_BUCKET_ID": true,
	"EXCEPTION_CODE": true, "EXCEPTION_CODE_STR": true, "FAILURE_BUCKET_ID": true, "FOLLOWUP_NAME": true,
	"IMAGE_NAME": true, "IMAGE_VERSION": true, "MODULE_NAME": true, "PRIMARY_PROBLEM_CLASS": true,
	"PROCESS_NAME": true, "SYMBOL_NAME": true, "STACK_TEXT": true, "FAULTING_IP": true,
	"CURRENT_IRQL": true, "LAST_CONTROL_TRANSFER": true, "STACK_COMMAND": true, "FAILURE_ID_HASH": true,
	"BUGCHECK_CODE": true, "IMAGE_TIMESTAMP": true}

// gluedKey returns where, inside run (key characters before a colon), a known key starts
// that something other than a key's own prefix precedes, or 0. The longest such key wins,
// so "DEFAULT_BUCKET_ID" is not cut before "BUCKET_ID".
func gluedKey(run string) int {
	best := 0
	for k := 1; k < len(run); k++ {
		c := run[k-1]
		if !gluedKeys[run[k:]] {
			continue
		}
		if c == '_' {
			continue // a longer key ends here ("DEFAULT_BUCKET_ID")
		}
		if best == 0 {
			best = k
		}
		break
	}
	return best
}

// shortFlatMin is the length from which a line under flatMin is also checked: flattened
// text wrapped again at a fixed width ("DEFAULT_BUCKET_ID:  DRIVER_FAULT PROCESS_NAME:  System
// LAST_CONTROL_TRANSFER: ..."), where two line starts on one line are enough to tell.
const shortFlatMin = 48

// weakMarkers start lines but also occur inside values ("STACK_COMMAND: ... ** Value: e1181f0
// ** ; kb"): in a short line they alone do not show a lost break.
var weakMarkers = []string{"Value:", "Key :", "Key  :", "Timestamp:", "Comments:", "Product:", "Subcode:"}

func weakInside(s string) bool {
	for _, m := range weakMarkers {
		if strings.HasPrefix(s, m) {
			return true
		}
	}
	return false
}

// startsLine reports s beginning with a line-start marker or an upper-case analysis key.
func startsLine(s string) bool {
	for _, m := range flatStart[s[0]] {
		if strings.HasPrefix(s, m) {
			return true
		}
	}
	var buf [1]int
	c := keyCuts(s[:min(len(s), 64)], buf[:0])
	return len(c) > 0 && c[0] == 0
}

// maybeRewrapped is the cheap test a line under flatMin passes before splitFlattened looks
// at it: long enough, and two colons that are not a stack line's " : " separators.
func maybeRewrapped(s string) bool {
	return len(s) >= shortFlatMin && strings.Count(s, ":")-2*strings.Count(s, " : ") >= 2
}

func isKeyChar(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
}
