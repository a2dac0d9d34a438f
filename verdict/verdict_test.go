package verdict_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/analyzer/cdbout"
	"github.com/bsodwatch/bsodwatch/analyzer/native"
	"github.com/bsodwatch/bsodwatch/drivers"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// nativeResult is what the analyzer's native engine makes of a dump.
func nativeResult(t *testing.T, rel string) *pipeline.Result {
	t.Helper()
	f, size := sharedtest.Open(t, "dumps", rel)
	r := &pipeline.Result{Status: pipeline.StatusOK, Engine: "native", Job: pipeline.Job{Header: intake.Header(f, size)}}
	a, c, err := native.Analyze(f, size)
	if err != nil {
		r.Status, r.Error = pipeline.StatusFailed, "native engine: "+err.Error()
	}
	r.Analysis, r.ProbableCause = a, c
	return r
}

// expectedFile is the part of ../shared/dumps/expected/expected.json these tests read.
type expectedFile struct {
	Kind          string `json:"kind"`
	BugcheckCode  string `json:"bugcheck_code"`
	Faulting      string `json:"faulting_module"`
	SystemTimeISO string `json:"system_time_iso"`
	Exception     *struct {
		Code string `json:"code"`
	} `json:"exception"`
}

func expected(t *testing.T) map[string]expectedFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedtest.Dir(t, "dumps"), "expected", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]expectedFile `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Files
}

// Every real dump gets a headline a sysadmin can act on, said the way its kind needs.
func TestRealDumps(t *testing.T) {
	tests := []struct {
		file, kind, headline, bucket string
	}{
		{"kernel/triage-x64-win10-19041-bc1000007e.dmp", analysis.KindBugcheck,
			"SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (0x7e) in amdppm.sys", "0x7e_amdppm"},
		{"kernel/triage-arm64-win10-17134-bce2.dmp", analysis.KindManual,
			"Manually initiated crash: MANUALLY_INITIATED_CRASH (0xe2)", "manual_0xe2"},
		{"kernel/triage-arm64-win11-22000-bc1c8.dmp", analysis.KindManual,
			"Manually initiated crash: MANUALLY_INITIATED_POWER_BUTTON_HOLD (0x1c8)", "manual_0x1c8"},
		{"kernel/triage-arm32-win10-17134-livedump.dmp", analysis.KindLive,
			"Live dump, taken from a running system: the machine did not crash", "live_dump"},
		{"user/bp-null-read-av-x86-win7.dmp", analysis.KindException,
			"EXCEPTION_ACCESS_VIOLATION (0xc0000005) in crashme.exe at crashme.exe+0xa6cd", "0xc0000005_crashme!crashme"},
		{"user/rm-invalid-parameter-x64.dmp", analysis.KindException,
			"STATUS_INVALID_PARAMETER (0xc000000d) in CrashTest.exe at 0x0, outside every loaded module", "0xc000000d_crashtest!unknown"},
		{"user/rizin-calc-x64-win7.dmp", analysis.KindException,
			"EXCEPTION_BREAKPOINT (0x80000003) in ntdll.dll at ntdll.dll+0x4ae10 (process calc.exe)", "0x80000003_calc!ntdll"},
		{"user/bp-tiny-exe-cet-xsave-x86-noexc.dmp", analysis.KindNoCrash,
			"Dump of tiny.exe taken without a crash", "no_crash_tiny"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			v := verdict.Of(nativeResult(t, tt.file))
			if v.Kind != tt.kind || v.Headline != tt.headline || v.Bucket != tt.bucket {
				t.Errorf("kind %q headline %q bucket %q\nwant %q %q %q", v.Kind, v.Headline, v.Bucket, tt.kind, tt.headline, tt.bucket)
			}
		})
	}
}

// Every dump of ../shared/dumps, checked against expected.json: kernel dumps name their
// bug check, user dumps their exception and faulting module, the crash time is the dump's
// own clock, the OS build is named, and no bucket is half-empty.
func TestEveryDumpAgainstExpected(t *testing.T) {
	checked := 0
	for name, want := range expected(t) {
		dir, _, _ := strings.Cut(name, "/")
		if dir != "kernel" && dir != "user" {
			continue
		}
		checked++
		r := nativeResult(t, name)
		v := verdict.Of(r)
		if v.Headline == "" || strings.Contains(v.Headline, "  ") || v.Kind == "" {
			t.Errorf("%s: headline %q kind %q", name, v.Headline, v.Kind)
		}
		for _, part := range strings.FieldsFunc(v.Bucket, func(r rune) bool { return r == '_' || r == '!' }) {
			if part == "" {
				t.Errorf("%s: bucket %q has an empty part", name, v.Bucket)
			}
		}
		if strings.HasPrefix(v.Bucket, "_") || strings.HasSuffix(v.Bucket, "_") || strings.Contains(v.Bucket, "__") {
			t.Errorf("%s: bucket %q is half-empty", name, v.Bucket)
		}
		if h := r.Job.Header; !v.CrashTime.Equal(h.SystemTime) || v.CrashTime.IsZero() {
			t.Errorf("%s: crash time %v, want the dump's %v", name, v.CrashTime, h.SystemTime)
		}
		if v.OS == nil || v.OS.Build == 0 || v.OS.Product == "" {
			t.Errorf("%s: OS %+v", name, v.OS)
		}
		switch {
		case want.Kind == "kernel":
			if !strings.Contains(v.Headline, v.Code) && v.Kind != analysis.KindLive {
				t.Errorf("%s: kernel headline %q lacks the code %s", name, v.Headline, v.Code)
			}
		case want.Exception != nil:
			if v.Kind != analysis.KindException || v.Code != want.Exception.Code || !strings.Contains(v.Headline, v.Name) {
				t.Errorf("%s: %s %s %q, want exception %s", name, v.Kind, v.Code, v.Headline, want.Exception.Code)
			}
			if want.Faulting != "" {
				mod, off, _ := strings.Cut(want.Faulting, "+")
				if v.Culprit == nil || v.Culprit.Module != mod || v.Culprit.Offset != off {
					t.Errorf("%s: culprit %+v, want %s", name, v.Culprit, want.Faulting)
				}
			}
		default:
			if v.Kind != analysis.KindNoCrash {
				t.Errorf("%s: kind %s, want no_crash (no exception)", name, v.Kind)
			}
		}
	}
	if checked < 15 {
		t.Fatalf("checked %d dumps, expected.json lists more", checked)
	}
}

// A failed analysis says why, and never claims a bucket of its own.
func TestFailed(t *testing.T) {
	r := &pipeline.Result{Status: pipeline.StatusFailed, Error: "dump web01/x.dmp is missing from the share\nmore"}
	v := verdict.Of(r)
	if v.Kind != analysis.KindFailed || v.Headline != "Analysis failed: dump web01/x.dmp is missing from the share" || v.Bucket != "failed" {
		t.Errorf("%+v", v)
	}
}

// The native engine and the debugger name the same crash with the same bucket and
// headline, so grouping and history do not depend on which engine ran. The transcript is
// written here in the shape cdb prints for this dump's crash.
func TestEnginesAgree(t *testing.T) {
	const transcript = `Microsoft (R) Windows Debugger Version 10.0.26100.1 AMD64
Loading Dump File [C:\dumps\022121-7000-01.dmp]
Mini Kernel Dump File: Only registers and stack trace are available
Windows 10 Kernel Version 19041 MP (16 procs) Free x64
Product: WinNt, suite: TerminalServer SingleUserTS
Debug session time: Sun Feb 21 01:38:22.987 2021 (UTC + 0:00)
System Uptime: 0 days 0:00:03.747
0: kd> !analyze -v
*******************************************************************************
*                        Bugcheck Analysis                                    *
*******************************************************************************

SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M (1000007e)
Arguments:
Arg1: ffffffffc0000005, The exception code that was not handled
Arg2: fffff8048b58334c, The address that the exception occurred at
Arg3: ffff850429891ee8, Exception Record Address
Arg4: ffff850429891720, Context Record Address

BUGCHECK_CODE:  1000007e
PROCESS_NAME:  System
SYMBOL_NAME:  amdppm!WriteIoMemRawEx+112
MODULE_NAME: amdppm
IMAGE_NAME:  amdppm.sys
FAILURE_BUCKET_ID:  AV_amdppm!WriteIoMemRawEx
FAILURE_ID_HASH:  {00000000-0000-0000-0000-000000000000}
Followup:     MachineOwner
---------
0: kd> q
quit:
`
	a := cdbout.ParseBytes([]byte(transcript))
	cdb := &pipeline.Result{Status: pipeline.StatusOK, Engine: "cdb", Analysis: a}
	nat := nativeResult(t, "kernel/triage-x64-win10-19041-bc1000007e.dmp")
	vc, vn := verdict.Of(cdb), verdict.Of(nat)
	if vc.Bucket != vn.Bucket || vc.Headline != vn.Headline || vc.Kind != vn.Kind {
		t.Errorf("engines disagree:\n cdb    %q %q\n native %q %q", vc.Bucket, vc.Headline, vn.Bucket, vn.Headline)
	}
	if a.FailureBucketID != "AV_amdppm!WriteIoMemRawEx" {
		t.Errorf("the debugger's own bucket should stay in the analysis: %q", a.FailureBucketID)
	}
	// Without the header, the debugger's session gives the crash time, OS and uptime.
	want := time.Date(2021, 2, 21, 1, 38, 22, 987e6, time.UTC)
	if !vc.CrashTime.Equal(want) || vc.OS == nil || vc.OS.Product != "Windows 10 2004" || vc.Uptime != "4s" {
		t.Errorf("cdb verdict facts: time %v OS %+v uptime %q", vc.CrashTime, vc.OS, vc.Uptime)
	}
	if vc.Culprit == nil || vc.Culprit.Symbol != "amdppm!WriteIoMemRawEx+112" {
		t.Errorf("cdb culprit %+v", vc.Culprit)
	}
}

func TestBuilt(t *testing.T) {
	crash := &pipeline.Result{Job: pipeline.Job{Header: &pipeline.Header{SystemTime: time.Date(2021, 2, 21, 0, 0, 0, 0, time.UTC)}}}
	for _, tt := range []struct {
		m    analysis.Module
		want string
	}{
		{analysis.Module{Timestamp: "0x5ba523af"}, "2018-09-21"},
		{analysis.Module{Timestamp: "Wed Jul 20 03:08:55 2005 (42DDB287)", TimestampHex: "42DDB287"}, "2005-07-20"},
		{analysis.Module{Timestamp: "0xc9c03000"}, "reproducible build (0xc9c03000 is a hash, not a date)"},
		{analysis.Module{Timestamp: "CD2FAD7E (This is a reproducible build file hash, not a timestamp)", TimestampIsHash: true}, "reproducible build (no date)"},
		{analysis.Module{}, ""},
	} {
		if got := verdict.Built(&tt.m, crash); got != tt.want {
			t.Errorf("Built(%+v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{"amdppm.sys": "amdppm", "AMDPPM": "amdppm", "ntkrnlmp.exe": "nt", "nt": "nt",
		`C:\Windows\System32\drivers\rt640x64.sys`: "rt640x64", "": "unknown", "CrashTest.exe": "crashtest"} {
		if got := verdict.Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

// A crash known from the host's event log alone gets the verdict of its bug check code,
// marked NoDump, with when and why no dump was saved in the headline and the reason; an
// unexpected reboot without a bug check is a reboot; a copied dump keeps its own verdict and
// carries the log's facts.
func TestEventLogVerdicts(t *testing.T) {
	crashed := time.Date(2024, 5, 1, 3, 12, 7, 0, time.UTC)
	ev := func(kind, code, reason string) *analysis.CrashEvent {
		e := &analysis.CrashEvent{Kind: kind, Record: 205, Time: crashed, BugcheckCode: code, Reason: reason, OSVersion: "10.0.19045.4291"}
		if code != "" {
			e.Args = []string{"0x1", "0x1e00", "0xfffff8057a4fb320", "0x0"}
		}
		if kind == analysis.EventDumpMissing || kind == analysis.EventDump {
			e.DumpSaved, e.DumpPath, e.ReportID = true, `C:\Windows\MEMORY.DMP`, "cdc03408-1c74-42d1-ad9c-caae62d7edc3"
		}
		return e
	}
	// as the analyzer makes it
	result := func(e *analysis.CrashEvent) *pipeline.Result {
		r := analyzer.EventAnalysis(e)
		r.Status, r.Job = pipeline.StatusOK, pipeline.Job{Host: "WEB01", Event: e}
		return r
	}
	power := ev(analysis.EventUnexpectedReboot, "", "")
	power.PowerButton = crashed.Add(-4 * time.Second)
	for _, tt := range []struct {
		name                           string
		r                              *pipeline.Result
		kind, headline, reason, bucket string
		noDump                         bool
	}{
		{"no dump, the log says why", result(ev(analysis.EventNoDump, "0x133", "page file too small (volmgr 49)")), analysis.KindBugcheck,
			"DPC_WATCHDOG_VIOLATION (0x133) at 03:12 UTC; no dump was saved: page file too small (volmgr 49)",
			"no dump was saved: page file too small (volmgr 49)", "0x133_unknown", true},
		{"no dump, the log does not say why", result(ev(analysis.EventNoDump, "0x9f", "")), analysis.KindBugcheck,
			"DRIVER_POWER_STATE_FAILURE (0x9f) at 03:12 UTC; no dump was saved", "no dump was saved", "0x9f_unknown", true},
		{"a manual crash without a dump", result(ev(analysis.EventNoDump, "0xe2", "")), analysis.KindManual,
			"Manually initiated crash: MANUALLY_INITIATED_CRASH (0xe2) at 03:12 UTC; no dump was saved",
			"the crash was forced from the keyboard (CrashOnCtrlScroll) or a debugger; no dump was saved", "manual_0xe2", true},
		{"a hardware error without a dump", result(ev(analysis.EventNoDump, "0x124", "dump file creation failed during the dump (volmgr 161)")), analysis.KindHardware,
			"Hardware error: WHEA_UNCORRECTABLE_ERROR (0x124) at 03:12 UTC; no dump was saved: dump file creation failed during the dump (volmgr 161)",
			"the platform reported an uncorrectable hardware error (WHEA): check the WHEA events, CPU, memory and firmware; no dump was saved: dump file creation failed during the dump (volmgr 161)",
			"hardware_0x124", true},
		{"the dump is gone", result(ev(analysis.EventDumpMissing, "0x7e", "")), analysis.KindBugcheck,
			`SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (0x7e) at 03:12 UTC; a dump was saved to C:\Windows\MEMORY.DMP but was gone when the fetcher came (overwritten by a later crash, or deleted)`,
			`a dump was saved to C:\Windows\MEMORY.DMP but was gone when the fetcher came (overwritten by a later crash, or deleted)`, "0x7e_unknown", true},
		{"no analysis stored: the event alone", &pipeline.Result{Status: pipeline.StatusOK, Job: pipeline.Job{Event: ev(analysis.EventNoDump, "0x133", "")}}, analysis.KindBugcheck,
			"DPC_WATCHDOG_VIOLATION (0x133) at 03:12 UTC; no dump was saved", "no dump was saved", "0x133_unknown", true},
		{"power loss", result(ev(analysis.EventUnexpectedReboot, "", "")), analysis.KindReboot,
			"Unexpected reboot at 03:12 UTC without a bug check",
			"the host went down without a clean shutdown and without a blue screen: power loss, a hard hang or a held power button", "reboot", false},
		{"the power button", result(power), analysis.KindReboot, "Unexpected reboot at 03:12 UTC without a bug check",
			"the power button was pressed at 03:12 UTC before the host went down: held to turn off a machine that did not respond, or pressed by hand", "reboot", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := verdict.Of(tt.r)
			if v.Kind != tt.kind || v.Headline != tt.headline || v.Reason != tt.reason || v.Bucket != tt.bucket || v.NoDump != tt.noDump {
				t.Errorf("got  %s %q\n     reason %q bucket %s no_dump %v\nwant %s %q\n     reason %q bucket %s no_dump %v",
					v.Kind, v.Headline, v.Reason, v.Bucket, v.NoDump, tt.kind, tt.headline, tt.reason, tt.bucket, tt.noDump)
			}
			if !v.CrashTime.Equal(crashed) || v.Event != tt.r.Job.Event || v.Culprit != nil {
				t.Errorf("crash time %v event %v culprit %+v", v.CrashTime, v.Event, v.Culprit)
			}
			if v.OS == nil || v.OS.Build != 19045 || v.OS.Product != "Windows 10 22H2" {
				t.Errorf("OS %+v", v.OS)
			}
			if v.Kind != analysis.KindReboot && len(v.Args) != 4 {
				t.Errorf("args %v", v.Args)
			}
		})
	}
	// A copied dump keeps its verdict, its own clock, and carries what the log said.
	r := nativeResult(t, "kernel/triage-x64-win10-19041-bc1000007e.dmp")
	plain := *verdict.Of(r)
	r.Job.SharePath, r.Job.Event = "web01/20210221T013822Z-022121-7000-01.dmp", ev(analysis.EventDump, "0x1000007e", "")
	v := verdict.Of(r)
	if v.Headline != plain.Headline || v.Bucket != plain.Bucket || !v.CrashTime.Equal(plain.CrashTime) || v.NoDump || v.Event == nil || !v.Event.DumpSaved {
		t.Errorf("a copied dump's verdict with event facts: %+v\nwithout: %+v", v, plain)
	}
}

// A culprit blamed by a crash tool's report (no MODULE_NAME) says how it was found.
func TestBlamedCulprit(t *testing.T) {
	a := &analysis.Analysis{BugcheckCode: "0xd1", BlamedModule: "contosoflt.sys", BlamedBy: analysis.BlamedByWhoCrashed, Complete: true}
	v := verdict.Of(&pipeline.Result{Status: pipeline.StatusOK, Engine: "cdb", Analysis: a})
	if v.Culprit == nil || v.Culprit.Module != "contosoflt.sys" || v.Culprit.Why != "named by WhoCrashed's report" {
		t.Fatalf("culprit %+v", v.Culprit)
	}
}

// User-mode analyses from cdb: a hang is a hang (not an exception, not "no crash") bucketed
// by its process; a .NET exception keeps its code and the managed module.
func TestUserModeTranscripts(t *testing.T) {
	for _, tc := range []struct {
		fixture, kind, headline, bucket, culprit string
	}{
		{"hang-cfffffff.txt", analysis.KindHang, "WingtipPos.exe stopped responding (hang analysis)", "hang_wingtippos", ""},
		{"dotnet-clr-hresult.txt", analysis.KindException, "CLR exception (0xe0434352) in Contoso_Ledger", "0xe0434352_contoso.ledger!contoso_ledger", "Contoso_Ledger"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "analyzer", "cdbout", "testdata", tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			a := cdbout.ParseBytes(b)
			v := verdict.Of(&pipeline.Result{Status: pipeline.StatusOK, Engine: "cdb", Analysis: a})
			if v.Kind != tc.kind || !strings.HasPrefix(v.Headline, tc.headline) || v.Bucket != tc.bucket {
				t.Errorf("kind %q headline %q bucket %q; want %q, %q…, %q", v.Kind, v.Headline, v.Bucket, tc.kind, tc.headline, tc.bucket)
			}
			if tc.culprit != "" && (v.Culprit == nil || v.Culprit.Module != tc.culprit) {
				t.Errorf("culprit %+v, want %s", v.Culprit, tc.culprit)
			}
		})
	}
}

// A crash in Windows' own code with one vendor's filter loaded: both engines make the
// suspect the culprit, say it is a suspect, and bucket by it.
func TestSuspectCulprit(t *testing.T) {
	mods := []analysis.Module{{Name: "nt", ImageName: "ntoskrnl.exe"}, {Name: "NETIO", ImageName: "NETIO.SYS"},
		{Name: "rt640x64", ImageName: "rt640x64.sys"}, {Name: "klwfp", ImageName: "klwfp.sys"}}
	for _, tc := range []struct {
		engine string
		pc     *pipeline.Cause
	}{
		{"cdb", nil},
		{"native", &pipeline.Cause{Outcome: "module", Module: "NETIO.SYS", Reason: "the faulting address is in NETIO.SYS"}},
	} {
		a := &analysis.Analysis{BugcheckCode: "0xd1", ModuleName: "NETIO", ImageName: "NETIO.SYS", Modules: mods, Complete: true}
		drivers.Attribute(a)
		v := verdict.Of(&pipeline.Result{Status: pipeline.StatusOK, Engine: tc.engine, Analysis: a, ProbableCause: tc.pc})
		if v.Culprit == nil || v.Culprit.Module != "klwfp.sys" || v.Culprit.Vendor != "Kaspersky" ||
			!strings.HasPrefix(v.Culprit.Why, "suspect, not proven: the only firewall driver loaded (Kaspersky)") {
			t.Fatalf("%s: culprit %+v", tc.engine, v.Culprit)
		}
		if v.Bucket != "0xd1_klwfp" {
			t.Errorf("%s: bucket %q", tc.engine, v.Bucket)
		}
	}
}

// A pasted stack without MODULE_NAME: the innermost frame below the kernel is the culprit,
// and the verdict says how it was chosen.
func TestTopFrameCulprit(t *testing.T) {
	a := &analysis.Analysis{BugcheckCode: "0x50", Stack: []analysis.Frame{{Module: "nt"}, {Module: "PROCMON24", Offset: "0x1285"}}, Complete: true}
	drivers.Attribute(a)
	v := verdict.Of(&pipeline.Result{Status: pipeline.StatusOK, Engine: "cdb", Analysis: a})
	if v.Culprit == nil || !strings.EqualFold(v.Culprit.Module, "procmon24.sys") || !strings.HasPrefix(v.Culprit.Why, "the innermost stack frame below the kernel") {
		t.Fatalf("culprit %+v", v.Culprit)
	}
}
