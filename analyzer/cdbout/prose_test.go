package cdbout

import (
	"testing"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// TestProseStopCode checks the stop code read from prose that holds no analysis: the one bug
// check named in words gives the code and name; what is no name, two names, or an analysis of
// its own gives none from the prose.
func TestProseStopCode(t *testing.T) {
	tests := []struct {
		name, in   string
		code, bc   string
		blamed, by string
	}{
		{"lower case, words apart, with a driver",
			"video tdr failure atikmpag.sys\n", "0x116", "VIDEO_TDR_FAILURE", "atikmpag.sys", analysis.BlamedByMentioned},
		{"the debugger's form without parentheses",
			"Since yesterday: VIDEO_TDR_FAILURE contosogpu.sys\n", "0x116", "VIDEO_TDR_FAILURE", "contosogpu.sys", analysis.BlamedByMentioned},
		{"mixed case with underscores",
			"BSOD Driver_IRQL_Not_Less_Or_Equal every boot\n", "0xd1", "DRIVER_IRQL_NOT_LESS_OR_EQUAL", "", ""},
		{"hyphens",
			"got kmode-exception-not-handled after the update\n", "0x1e", "KMODE_EXCEPTION_NOT_HANDLED", "", ""},
		{"the longest name at a place: 0xD1, not also 0xA",
			"driver irql not less or equal\nit said driver irql not less or equal again\n", "0xd1", "DRIVER_IRQL_NOT_LESS_OR_EQUAL", "", ""},
		{"the shorter name alone",
			"irql not less or equal on shutdown\n", "0xa", "IRQL_NOT_LESS_OR_EQUAL", "", ""},
		{"two bug checks named: none taken",
			"first page fault in nonpaged area, then system service exception\n", "", "", "", ""},
		{"punctuation ends a name",
			"video tdr. failure of the card\n", "", "", "", ""},
		{"a two-word name in lower case is an ordinary phrase",
			"I get file system errors and a memory management warning\n", "", "", "", ""},
		{"words inside other words are not the name",
			"preDPC watchdog violationary\n", "", "", "", ""},
		{"an analysis keeps its own code",
			"page fault in nonpaged area\nBUGCHECK_CODE: d1\nMODULE_NAME: contoso\n", "0xd1", "DRIVER_IRQL_NOT_LESS_OR_EQUAL", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ParseBytes([]byte(tt.in))
			if a.BugcheckCode != tt.code || a.BugcheckName != tt.bc {
				t.Errorf("code %q name %q, want %q %q", a.BugcheckCode, a.BugcheckName, tt.code, tt.bc)
			}
			if a.BlamedModule != tt.blamed || a.BlamedBy != tt.by {
				t.Errorf("blamed %q by %q, want %q by %q", a.BlamedModule, a.BlamedBy, tt.blamed, tt.by)
			}
		})
	}
}
