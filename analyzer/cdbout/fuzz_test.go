package cdbout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/drivers"
)

// FuzzParse checks the parser never panics and keeps its bounds on any input. The seed
// corpus (the project's fixtures plus damaged fragments) runs in every go test.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{"", "\x00", "**", "`", "> ", "# ", "&gt;", "BugCheck 27, {", "Arg1:", "STACK_TEXT:\n1 2 3",
		"start end module name\nb9afa000 b9b16cc0 X (", "Timestamp: (", "NAME (", "0: kd>", "\xff\xfe\x00", "*** ERROR:",
		"*** Fatal System Error: 0x0000003b\n(", "<p>x<br/>", "<span a>", "FAULTING\\_IP:\\", "// ", "/// ", " * ", ">> ",
		"\u2776 Image path: x", "Key : A.B Value: c", "Loaded symbol image file: .", "X (1e) <-- ",
		"On x your computer crashed\nBugcheck code: 0x", "Caused By Driver  : ", "Bug Check Code : 0x", "Stop code: (",
		"*** STOP: 0x1 (", "***  a - Address  base at ", "00 a+0x\n01 b!", "a!b\nc+1 <--", "Unable to load image \\,",
		"x.dmp a b C_D 0x0000000a 1 2 3 4 a.sys a.sys+", "[0x1] a!b+0x1( [", "- FAILURE_BUCKET_ID: `0x9F_3_a_IMAGE_`",
		"07 ffff968a`ef821e90 fffff800`7345f1d1 a!b", "KMODE_EXCEPTION_NOT_HANDLED (0x)"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a := ParseBytes(in)
		if a == nil {
			t.Fatal("nil analysis")
		}
		if len(a.Stack) > maxFrames || len(a.DebuggerErrors) > maxErrors || len(a.Modules) > maxModules {
			t.Fatalf("bounds exceeded: %d frames, %d errors, %d modules", len(a.Stack), len(a.DebuggerErrors), len(a.Modules))
		}
		if len(a.Diagnostics) != len(a.DebuggerErrors) {
			t.Fatalf("diagnostics %d != debugger errors %d", len(a.Diagnostics), len(a.DebuggerErrors))
		}
		if len(a.MentionedDrivers) > 2*maxNamed {
			t.Fatalf("%d mentioned drivers", len(a.MentionedDrivers))
		}
		// What the analyzer does next never panics, and a suspect always says it is one.
		drivers.Attribute(a)
		if (a.Suspect != "") != strings.HasPrefix(a.SuspectWhy, "suspect, not proven") {
			t.Fatalf("suspect %q with reason %q", a.Suspect, a.SuspectWhy)
		}
	})
}
