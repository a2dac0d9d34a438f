package cdbout

import (
	"sort"
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

// splitFlattened appends s to out, cut before every line-start marker when s looks like
// several lines run together (at least three markers).
func splitFlattened(s string, out []string) []string {
	cuts := make([]int, 0, 32)
	for _, m := range flatMarkers {
		for off := 0; ; {
			i := strings.Index(s[off:], m)
			if i < 0 {
				break
			}
			i += off
			if i > 0 && s[i-1] == ' ' {
				cuts = append(cuts, i)
			}
			off = i + len(m)
		}
	}
	// Markers that fill a whole line end one, too.
	for _, m := range []string{"start end module name", "module name", "Arguments:", "Debugging Details:",
		"Information from resource tables:", "Resetting default scope", "Browse full module list"} {
		for off := 0; ; {
			i := strings.Index(s[off:], m)
			if i < 0 {
				break
			}
			i += off + len(m)
			if i < len(s) && s[i] == ' ' {
				cuts = append(cuts, i)
			}
			off = i
		}
	}
	// Upper-case analysis keys ("BUGCHECK_STR:", "FAILURE_BUCKET_ID:").
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		j := i
		for j > 0 && isKeyChar(s[j-1]) {
			j--
		}
		if i-j >= 4 && s[j] >= 'A' && s[j] <= 'Z' && strings.IndexByte(s[j:i], '_') >= 0 && (j == 0 || s[j-1] == ' ') {
			cuts = append(cuts, j)
		}
	}
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
				cuts = append(cuts, bannerEnd(s, j)...)
			}
		}
		i = j
	}
	if len(cuts) < 3 {
		return append(out, s)
	}
	sort.Ints(cuts)
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
func bannerEnd(s string, j int) []int {
	window := s[j:min(len(s), j+200)] // bounded: a search to the end per run would be quadratic
	for _, t := range []string{"Bugcheck Analysis", "Exception Analysis"} {
		k := strings.Index(window, t)
		if k < 0 {
			continue
		}
		e := j + k + len(t)
		for e < len(s) && (s[e] == ' ' || s[e] == '*') {
			if e+1 < len(s) && s[e] == '*' && s[e+1] == '*' && strings.HasPrefix(s[e:], "**********") {
				return []int{e}
			}
			e++
		}
		return []int{e}
	}
	return nil
}

func isKeyChar(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
}
