package cdbout

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/bsodwatch/bsodwatch/analysis"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the parser's output")

// TestGolden parses the project's own fixtures (testdata/*.txt) and compares the JSON with
// testdata/*.golden.json; -update rewrites them.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(ParseBytes(in), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".txt") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s differs from golden (-want +got):\n%s", f, d)
			}
		})
	}
}

// TestFixtureFacts pins the facts each fixture exists for, independent of the golden files.
func TestFixtureFacts(t *testing.T) {
	tests := []struct {
		file  string
		check func(a *analysis.Analysis) string
	}{
		{"sample-symevent.txt", func(a *analysis.Analysis) string {
			m := a.Module("SYMEVENT")
			switch {
			case a.BugcheckCode != "0x27" || a.BugcheckName != "RDR_FILE_SYSTEM":
				return "bugcheck " + a.BugcheckCode + " " + a.BugcheckName
			case a.ThirdPartyModule != "SYMEVENT":
				return "third party " + a.ThirdPartyModule
			case m == nil || m.CompanyName != "Symantec Corporation" || m.TimestampHex != "42DDB287":
				return "lmvm module not read"
			case a.Session == nil || !a.Session.Quit || a.Session.BuiltBy == "":
				return "session not read"
			case a.OSBuild != 3790 || a.Arch != "x86":
				return "os build/arch"
			}
			return ""
		}},
		{"win11-arm64-d1.txt", func(a *analysis.Analysis) string {
			switch {
			case a.BugcheckCode != "0xd1" || len(a.Args) != 4 || a.Args[0] != "ffffb20c4a7f1010":
				return "bugcheck/args"
			case len(a.Stack) != 6 || a.Stack[2].Source != `D:\src\contoso\net\poll.c @ 212`:
				return "stack/source"
			case a.ThirdPartyModule != "contosonet" || a.Arch != "arm64":
				return "third party/arch"
			case a.KeyValues["Failure.Bucket"] != "AV_contosonet!CnPollQueue":
				return "key values"
			}
			return ""
		}},
		{"flattened-markdown-7e.txt", func(a *analysis.Analysis) string {
			switch {
			case a.BugcheckCode != "0x1000007e" || a.BugcheckName != "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M":
				return "bugcheck " + a.BugcheckCode
			case strings.Join(a.Args, " ") != "c0000005 a3f1c2d4 8d9efb84 8d9ef880":
				return "args " + strings.Join(a.Args, " ")
			case len(a.Stack) != 4 || a.ThirdPartyModule != "fabrikamfs":
				return "stack"
			case a.FailureBucketID != "0x7E_fabrikamfs+81d4" || a.ExceptionCode != "c0000005":
				return "bucket/exception"
			}
			return ""
		}},
		{"usermode-crlf-tabs.txt", func(a *analysis.Analysis) string {
			switch {
			case a.ExceptionCode != "c0000005" || a.ProcessName != "Northwind.Report.exe":
				return "exception/process"
			case a.ThirdPartyModule != "nwchart" || len(a.Stack) != 4:
				return "stack"
			case len(a.DebuggerErrors) != 2:
				return "symbol errors"
			}
			return ""
		}},
		{"quoted-escaped-kstack.txt", func(a *analysis.Analysis) string {
			switch {
			case a.BugcheckCode != "0xa" || a.BugcheckName != "IRQL_NOT_LESS_OR_EQUAL":
				return "bugcheck " + a.BugcheckCode + " " + a.BugcheckName
			case strings.Join(a.Args, " ") != "ffffc30b7d2e4008 0000000000000002 0000000000000000 fffff80431a2c6e1":
				return "args (values wrapped below ArgN:) " + strings.Join(a.Args, " ")
			case len(a.Stack) != 7 || a.Stack[3].Symbol != "TsQueuePop" || a.Stack[3].Source != `C:\build\tailspin\queue.c @ 88`:
				return "kf stack with inline frame not read"
			case a.ThirdPartyModule != "tailspin":
				return "third party " + a.ThirdPartyModule
			case len(a.DebuggerErrors) != 1 || !strings.HasPrefix(a.DebuggerErrors[0], "*** WARNING"):
				return "escaped *** WARNING not recognised"
			}
			return ""
		}},
		{"eventlog-bare-stack.txt", func(a *analysis.Analysis) string {
			switch {
			case a.BugcheckCode != "0x139" || len(a.Args) != 4 || a.Args[1] != "0xffffe58a3c6f7c10":
				return "event log bugcheck " + a.BugcheckCode + " " + strings.Join(a.Args, " ")
			case len(a.Stack) != 6 || a.ThirdPartyModule != "woodgrove":
				return "headerless STACK_TEXT frames not read"
			}
			return ""
		}},
		{"lmvm-brepro-empty-resources.txt", func(a *analysis.Analysis) string {
			f, h := a.Module("fabrikamflt"), a.Module("fabrikamhlp")
			switch {
			case f == nil || f.TimestampHex != "9C41E07B" || !f.TimestampIsHash || f.Checksum != "0005A3F1" || f.ImageSize != "0004E000":
				return "/Brepro module lost its record after 'Image was built with /Brepro flag.'"
			case h == nil || h.TimestampIsHash || h.TimestampHex != "67CFFF23" || h.CompanyName != "Fabrikam, Inc.":
				return "module after an empty resource table"
			}
			return ""
		}},
		{"comment-prefixed-kernel.txt", func(a *analysis.Analysis) string {
			switch {
			case a.BugcheckCode != "0x50" || a.BugcheckName != "PAGE_FAULT_IN_NONPAGED_AREA" || len(a.Args) != 4:
				return "// lines: bugcheck " + a.BugcheckCode
			case len(a.Stack) != 7 || a.ThirdPartyModule != "tailspinfs":
				return "// lines: stack"
			case a.FailureBucketID != "AV_R_INVALID_tailspinfs!unknown_function" || a.ProcessName != "System":
				return "# and * lines: fields"
			}
			return ""
		}},
		{"author-notes-d1.txt", func(a *analysis.Analysis) string {
			switch {
			case a.BugcheckCode != "0xd1" || a.BugcheckName != "DRIVER_IRQL_NOT_LESS_OR_EQUAL":
				return "name line with a note: " + a.BugcheckCode + " " + a.BugcheckName
			case strings.Join(a.Args, " ") != "ffffc10a3e2b7008 0000000000000002 0000000000000000 fffff8033c6d5b14":
				return "args with notes " + strings.Join(a.Args, " ")
			case a.KeyValues["AV.Type"] != "Read" || a.ProcessName != "System" || a.SymbolName != "woodgrovenet+5b14":
				return "one-line Key/Value or callout-numbered lines"
			}
			if m := a.Module("woodgrovenet"); m == nil || m.TimestampHex != "67A7DA79" || m.ImagePath != `\SystemRoot\System32\drivers\woodgrovenet.sys` {
				return "lmv details without their row"
			}
			return ""
		}},
		{"xp-unknown-collapsed.txt", func(a *analysis.Analysis) string {
			switch {
			case a.BugcheckCode != "0xc000021a" || a.BugcheckName != "WINLOGON_FATAL_ERROR":
				return "unknown code / name from the code reference: " + a.BugcheckCode + " " + a.BugcheckName
			case a.Args[1] != "c0000005" || a.BucketID != "0xc000021a_c0000005_nt!ExpSystemErrorHandler+5c6" || len(a.Stack) != 3:
				return "collapsed analysis"
			}
			return ""
		}},
		{"livekd-user-frames.txt", func(a *analysis.Analysis) string {
			switch {
			case a.BugcheckCode != "0x3b" || a.BugcheckName != "SYSTEM_SERVICE_EXCEPTION" || len(a.Args) != 4 || a.Args[1] != "0xFFFFF8034A71D2C4":
				return "Fatal System Error line " + a.BugcheckCode + " " + strings.Join(a.Args, ",")
			case len(a.Stack) != 15 || a.ThirdPartyModule != "NorthwindTray":
				return "kernel stack into user mode: third party " + a.ThirdPartyModule
			}
			return ""
		}},
		{"dotnet-clr-hresult.txt", func(a *analysis.Analysis) string {
			switch {
			case a.ExceptionCode != "e0434352" || a.Fields["EXCEPTION_CODE_STR"] != "80131622":
				return ".NET exception code " + a.ExceptionCode
			case a.ThirdPartyModule != "Contoso_Ledger_ni":
				return "NGEN framework frames counted as third party: " + a.ThirdPartyModule
			}
			return ""
		}},
		{"hang-cfffffff.txt", func(a *analysis.Analysis) string {
			switch {
			case a.ExceptionCode != "cfffffff" || a.ExceptionRecord == nil || a.ExceptionRecord.Code != "80000003":
				return "hang code " + a.ExceptionCode
			case a.ThirdPartyModule != "wingtipprint" || a.Fields["BLOCKING_THREAD"] != "0000000000001c88":
				return "hang stack: third party " + a.ThirdPartyModule
			}
			return ""
		}},
		{"html-paste.txt", func(a *analysis.Analysis) string {
			switch {
			case a.BugcheckCode != "0x1e" || len(a.Args) != 4 || a.Args[0] != "ffffffffc0000005":
				return "HTML bugcheck/args " + strings.Join(a.Args, ",")
			case a.ProcessName != "System" || a.SymbolName != "adatumvid+233d0" || a.FailureBucketID != "AV_adatumvid!unknown_function":
				return "HTML fields " + a.ProcessName + " " + a.SymbolName
			case a.Fields["EXCEPTION_CODE_STR"] != "c0000005 <Unable to get error code text>":
				return "the debugger's own angle brackets were removed"
			}
			return ""
		}},
		{"markdown-escaped.txt", func(a *analysis.Analysis) string {
			switch {
			case a.ProcessName != "Litware_Sync.exe" || a.ModuleName != "litware_core" || a.ExceptionCode != "c0000409":
				return "escaped keys and values " + a.ProcessName + " " + a.ModuleName
			case a.FailureBucketID != "STACK_BUFFER_OVERRUN_c0000409_litware_core.dll!Packet::Decode" || a.Fields["STACK_COMMAND"] != "** Pseudo Context ** ; kb":
				return "escaped bucket / stack command"
			case len(a.Stack) != 2 || a.Stack[0].Symbol != "__report_gsfailure":
				return "escaped frames"
			}
			return ""
		}},
		{"error-open.txt", func(a *analysis.Analysis) string {
			if a.Complete || len(a.Diagnostics) != 1 {
				return "want incomplete with one diagnostic"
			}
			d := a.Diagnostics[0]
			if d.Kind != "dump_open" || d.Code != "0n2" || d.Detail != `"The system cannot find the file specified."` {
				return "diagnostic " + d.Kind + " " + d.Code + " " + d.Detail
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(ParseBytes(in)); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// TestDamage feeds the same analysis through the damage people do to pasted text and
// checks the key facts survive each.
func TestDamage(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "sample-symevent.txt"))
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string]func(string) string{
		"crlf":     func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") },
		"lone cr":  func(s string) string { return strings.ReplaceAll(s, "\n", "\r") },
		"tabs":     func(s string) string { return strings.ReplaceAll(s, "    ", "\t") },
		"indented": func(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") },
		"collapsed": func(s string) string {
			return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
		},
		"flattened": func(s string) string { return strings.Join(strings.Fields(s), " ") },
		"quoted":    func(s string) string { return "> " + strings.ReplaceAll(s, "\n", "\n> ") },
		// Pasted outside a code block, a markdown editor escapes the debugger's stars.
		"md escaped": func(s string) string { return strings.ReplaceAll(s, "*", `\*`) },
		// Web pages re-flow text: every line becomes a paragraph.
		"reflowed": func(s string) string { return strings.ReplaceAll(s, "\n", "\n\n") },
		"fenced":   func(s string) string { return "Output:\n```text\n" + s + "\n```\n" },
		"html":     func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, ">", "&gt;"), "&gt; ", "&gt; ") },
		"bold keys": func(s string) string {
			return strings.ReplaceAll(strings.ReplaceAll(s, "MODULE_NAME:", "**MODULE_NAME:**"), "FAILURE_BUCKET_ID:", "**FAILURE_BUCKET_ID:**")
		},
		// Pasted into source code or a script as a comment.
		"line comments":  func(s string) string { return "// " + strings.ReplaceAll(s, "\n", "\n// ") },
		"doc comments":   func(s string) string { return "/// " + strings.ReplaceAll(s, "\n", "\n/// ") },
		"hash comments":  func(s string) string { return "# " + strings.ReplaceAll(s, "\n", "\n# ") },
		"block comments": func(s string) string { return "/*\n * " + strings.ReplaceAll(s, "\n", "\n * ") + "\n */" },
		"nested quote":   func(s string) string { return ">> " + strings.ReplaceAll(s, "\n", "\n>> ") },
		// A blog engine's HTML: paragraphs, line breaks, entities.
		"html paragraphs": func(s string) string {
			s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
			return "<p>" + strings.ReplaceAll(strings.ReplaceAll(s, "\n\n", "</p>\n<p>"), "\n", "<br/>\n") + "</p>"
		},
		// Pasted outside a code block, an editor escapes every markdown character.
		"md escaped all": func(s string) string {
			return strings.NewReplacer("_", `\_`, "*", `\*`, "#", `\#`, "[", `\[`, "]", `\]`).Replace(s)
		},
		"utf16": func(s string) string {
			var b bytes.Buffer
			b.Write([]byte{0xff, 0xfe})
			for _, r := range s {
				b.WriteByte(byte(r))
				b.WriteByte(byte(r >> 8))
			}
			return b.String()
		},
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			a := ParseBytes([]byte(f(string(base))))
			got := []string{a.BugcheckCode, a.BugcheckName, a.ModuleName, a.FailureBucketID, a.ThirdPartyModule, strings.Join(a.Args, ",")}
			want := []string{"0x27", "RDR_FILE_SYSTEM", "SYMEVENT", "0x27_SYMEVENT!SYMEvent_AllocVMData+5a7d", "SYMEVENT", "baad0073,f7a4e9c4,f7a4e6c0,b8e3a41d"}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			if m := a.Module("SYMEVENT"); m == nil || m.ImagePath != `\??\C:\Program Files\Symantec\SYMEVENT.SYS` {
				t.Errorf("lmvm module lost: %+v", m)
			}
		})
	}
}

// TestBadInput checks that what is not an analysis gives Complete false and says why.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantDiag string
	}{
		{"empty", nil, ""},
		{"blank lines", []byte("\n\n  \r\n\t\n"), ""},
		{"binary", append([]byte("MDMP\x93\xa7\x00\x00"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 4096)...), "binary"},
		{"prose", []byte("Hello, my PC crashed yesterday. Any idea?\n"), ""},
		{"findplugins", []byte("0:003> !analyze -v\nERROR: FindPlugIns 8007007b\n*******\n* Exception Analysis *\n*******\n"), "FindPlugIns"},
		{"unterminated box", []byte("*******************************************************************************\n*                                                                             *\n*                        Bugcheck Analysis"), ""},
		{"long line", append(bytes.Repeat([]byte("A"), maxLine+10), "\nMODULE_NAME: foo\n"...), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ParseBytes(tt.in)
			if tt.name == "long line" {
				if a.ModuleName != "foo" {
					t.Errorf("the line after a cut one was lost: %+v", a)
				}
			} else if a.Complete {
				t.Errorf("Complete = true for %s", tt.name)
			}
			joined := strings.Join(a.DebuggerErrors, "\n")
			if tt.wantDiag != "" && !strings.Contains(joined, tt.wantDiag) {
				t.Errorf("debugger errors %q lack %q", joined, tt.wantDiag)
			}
		})
	}
}

// TestCodes covers the ways a bugcheck code is printed.
func TestCodes(t *testing.T) {
	tests := []struct{ in, code, args string }{
		{"BugCheck 1000007E, {c0000005, 8a1b2c3d, 9a8b7c6d, 9a8b7a00}\n", "0x1000007e", "c0000005 8a1b2c3d 9a8b7c6d 9a8b7a00"},
		{"Bugcheck code 000000D1\nArguments 00000000`00000008 00000000`00000002 00000000`00000000 fffff803`1a2b3c4d\n", "0xd1", "00000000`00000008 00000000`00000002 00000000`00000000 fffff803`1a2b3c4d"},
		{"BUGCHECK_CODE:  133\nBUGCHECK_P1: 1\nBUGCHECK_P2: 1e00\n", "0x133", "1 1e00"},
		{"Unknown bugcheck code (0)\nArg1: 0000000000000000\nDPC_WATCHDOG_VIOLATION (133)\nArg1: 0000000000000001\n", "0x133", "0000000000000001"},
		{"BUGCHECK_STR:  0xc2_b\n", "0xc2", ""},
	}
	for _, tt := range tests {
		a := ParseBytes([]byte(tt.in))
		if a.BugcheckCode != tt.code || strings.Join(a.Args, " ") != tt.args {
			t.Errorf("%q: got code %q args %q, want %q %q", tt.in, a.BugcheckCode, strings.Join(a.Args, " "), tt.code, tt.args)
		}
	}
}

// TestHugeInput checks that a large input of the nastiest shape (one huge line of
// markers) is parsed without blowing up; the time itself is measured by the benchmarks.
func TestHugeInput(t *testing.T) {
	big := bytes.Repeat([]byte("Arg1: 1 BUGCHECK_STR: x ***************** STACK_TEXT: 8d9efc4c 8287a1e2 nt!Foo+0x1 "), 40000)
	a := ParseBytes(big)
	if len(a.Stack) > maxFrames {
		t.Errorf("stack not bounded: %d frames", len(a.Stack))
	}
}

// TestNoAliasing checks that the result owns its strings: the parser reads lines in place
// (ParseBytes) or from reused buffers (Parse), and must copy what it keeps. Overwriting the
// input after ParseBytes, or reading it one byte at a time, must not change the result.
func TestNoAliasing(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata")
	}
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, damage := range map[string]func(string) string{
			"as is":     func(s string) string { return s },
			"flattened": func(s string) string { return strings.ReplaceAll(s, "\n", " ") },
			"tabs, crlf": func(s string) string {
				return strings.ReplaceAll(strings.ReplaceAll(s, "  ", "\t"), "\n", "\r\n")
			},
		} {
			text := []byte(damage(string(in)))
			want, _ := json.Marshal(ParseBytes(text))
			cp := append([]byte(nil), text...)
			a := ParseBytes(cp)
			for i := range cp {
				cp[i] = 'Z'
			}
			if got, _ := json.Marshal(a); string(got) != string(want) {
				t.Errorf("%s (%s): the result changed when the input was overwritten", f, name)
			}
			r, err := Parse(iotest.OneByteReader(bytes.NewReader(text)))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(r); string(got) != string(want) {
				t.Errorf("%s (%s): Parse of a reader differs from ParseBytes", f, name)
			}
		}
	}
}

// TestValueSizes keeps values of every size class the parser stores them in (small ones in
// its arena, large ones on their own, over maxValueLen cut) intact.
func TestValueSizes(t *testing.T) {
	for _, n := range []int{1, 511, 513, 1000, 1024, 1025, 20000, maxValueLen + 10} {
		var in strings.Builder
		vals := map[string]string{}
		for i, k := range []string{"FAILURE_BUCKET_ID", "MODULE_NAME", "IMAGE_NAME"} {
			v := strings.Repeat(string(rune('a'+i)), n)
			vals[k] = v[:min(n, maxValueLen)]
			in.WriteString(k + ": " + v + "\n")
		}
		a := ParseBytes([]byte(in.String()))
		for k, want := range vals {
			if got := a.Fields[k]; got != want {
				t.Errorf("size %d: %s has %d bytes, want %d", n, k, len(got), len(want))
			}
		}
	}
}

// TestStackSources checks where frames come from when STACK_TEXT is missing or late: a k
// command's table is used only until the analysis gives its own stack.
func TestStackSources(t *testing.T) {
	const kTable = "0: kd> k\n # Child-SP          RetAddr               Call Site\n" +
		"00 fffff285`d20a76d0 fffff803`ba5abeb4     nt!KeBugCheck2+0x1dc\n" +
		"01 fffff285`d20a7cb0 fffff803`ba20e538     litware!LwTick+0x58\n\n"
	const stackText = "STACK_TEXT:  \n" +
		"fffff285`d20a76d0 fffff803`ba5abeb4 : 00000000`00000000 00000000`00000000 00000000`00000000 00000000`00000000 : nt!KeBugCheckEx\n" +
		"fffff285`d20a7cb0 fffff803`ba20e538 : 00000000`00000000 00000000`00000000 00000000`00000000 00000000`00000000 : adatum+0x1f00\n\n"
	tests := []struct {
		name, in string
		want     string // third party module
		frames   int
	}{
		{"k only", kTable, "litware", 2},
		{"k then STACK_TEXT", kTable + stackText, "adatum", 2},
		{"STACK_TEXT then k", stackText + kTable, "adatum", 2},
		{"x86 frames without header", "a3f1c2d4 8d9efb84 00000000 00000001 8d9ef880 fabrikam!FbRead+0x1c\n", "fabrikam", 1},
		{"lm lines are not frames", "fffff806`23400000 fffff806`23412000   SYMEVENT   (deferred)\n", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ParseBytes([]byte(tt.in))
			if a.ThirdPartyModule != tt.want || len(a.Stack) != tt.frames {
				t.Errorf("third party %q with %d frames, want %q with %d", a.ThirdPartyModule, len(a.Stack), tt.want, tt.frames)
			}
		})
	}
}

func TestUnescapeMarkdown(t *testing.T) {
	tests := map[string]string{
		`\*\*\* ERROR: Symbol file could not be found`: "*** ERROR: Symbol file could not be found",
		"fffff801\\`63fb4192 0fb709":                   "fffff801`63fb4192 0fb709",
		`C:\__w\1\s\dxaml\xcpwindow.cpp`:               `C:\__w\1\s\dxaml\xcpwindow.cpp`,
		`srv*c:\symbols*https://msdl.microsoft.com`:    `srv*c:\symbols*https://msdl.microsoft.com`,
	}
	for in, want := range tests {
		if got := unescapeMarkdown(in); got != want {
			t.Errorf("unescapeMarkdown(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCutFrame: a stack pasted up to the first letter of its last frame's symbol names no
// module for that frame, and no one-letter culprit.
func TestCutFrame(t *testing.T) {
	in := "KMODE_EXCEPTION_NOT_HANDLED (1e)\nSTACK_TEXT:  \n" +
		"fffff803`3dd5e3c8 fffff803`3c857c4e : 00000000`0000001e ffffffff`c0000005 fffff801`47b036dd 00000000`00000000 : nt!KeBugCheckEx\n" +
		"fffff803`3dd5f570 fffff801`4720c8c1 : ffffcf81`f12e0df0 00000000`00000001 fffff801`472257b0 00000000`00000000 : fwpkclnt!FwppInjectComplete+0x79\n" +
		"fffff803`3dd5f5b0 fffff801`4720c402 : 00000000`00000000 ffffcf81`f12e0df0 fffff803`3dd5f750 fffff801`48176600 : N"
	a := ParseBytes([]byte(in))
	if len(a.Stack) != 3 {
		t.Fatalf("stack %+v, want 3 frames", a.Stack)
	}
	if last := a.Stack[2]; last.Module != "" || last.Symbol != "N" {
		t.Errorf("cut frame = %+v, want no module and symbol N", last)
	}
	if a.ThirdPartyModule != "" {
		t.Errorf("third-party module %q from a cut frame", a.ThirdPartyModule)
	}
}
