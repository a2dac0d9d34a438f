package dumpfile

import "testing"

// TestBugcheckCode checks that names go back to their codes, and that every known name does.
func TestBugcheckCode(t *testing.T) {
	for _, tt := range []struct {
		name string
		code uint32
		ok   bool
	}{
		{"DRIVER_IRQL_NOT_LESS_OR_EQUAL", 0xD1, true},
		{"WINLOGON_FATAL_ERROR", 0xC000021A, true},
		{"driver_irql_not_less_or_equal", 0, false},
		{"NOT_A_BUGCHECK", 0, false},
	} {
		code, ok := BugcheckCode(tt.name)
		if code != tt.code || ok != tt.ok {
			t.Errorf("BugcheckCode(%q) = %#x, %v; want %#x, %v", tt.name, code, ok, tt.code, tt.ok)
		}
	}
	for c, n := range bugcheckNames {
		if got, ok := BugcheckCode(n); !ok || BugcheckName(got) != n {
			t.Errorf("BugcheckCode(%q) = %#x, %v; the name of %#x does not come back", n, got, ok, c)
		}
	}
}
