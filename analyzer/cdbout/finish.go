package cdbout

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/dumpfile"
)

// finish chooses among the forms that carry the same fact and fills the analysis.
func (p *parser) finish() *analysis.Analysis {
	a := p.a
	f := p.fields

	// Bugcheck code: the "NAME (code)" header keeps the _M flag (1000008e) that
	// BUGCHECK_STR drops; then BUGCHECK_CODE, "BugCheck 44, {...}", "Bugcheck code 000000D1",
	// and last what a crash tool's report or the stop screen said.
	toolCode, toolArgs, toolName := "", []string(nil), ""
	if p.bl != nil {
		toolCode, toolArgs, toolName = p.toolCode()
	}
	// Newer debuggers also say it in KEY_VALUES_STRING ("Key : Bugcheck.Code.LegacyAPI").
	for _, c := range []string{p.headerCode, f["BUGCHECK_CODE"], p.braceCode, p.codeLine, p.unknownCode, p.fatalCode, toolCode,
		p.kv["Bugcheck.Code.LegacyAPI"], p.kv["Bugcheck.Code.TargetModel"]} {
		if c != "" {
			a.BugcheckCode = normCode(c)
			break
		}
	}
	for _, s := range []string{f["BUGCHECK_STR"], f["FAILURE_BUCKET_ID"], p.kv["Failure.Bucket"]} {
		if a.BugcheckCode != "" {
			break
		}
		if strings.HasPrefix(s, "0x") {
			// A partial paste without the header: BUGCHECK_STR "0x27" or "0xc2_b", or a failure
			// bucket "0x133_DPC_acme!Fn", names the code.
			a.BugcheckCode = normCode(strings.SplitN(s, "_", 2)[0])
		}
	}
	if p.headerCode != "" {
		a.BugcheckName = p.headerName
	} else if toolName != "" && (toolCode == "" || normCode(toolCode) == a.BugcheckCode) {
		a.BugcheckName = toolName
	} else if a.BugcheckCode != "" {
		// No name header was printed (a partial paste, "BugCheck 7E, {...}", a bugcheck code
		// the debugger did not know): the name comes from the bug check code reference.
		if c, err := strconv.ParseUint(strings.TrimPrefix(a.BugcheckCode, "0x"), 16, 32); err == nil {
			a.BugcheckName = dumpfile.BugcheckName(uint32(c))
		}
	}
	switch {
	case p.args != [4]string{}:
		a.Args = trimArgs(p.args[:])
	case p.pArgs != [4]string{}:
		a.Args = trimArgs(p.pArgs[:])
	case len(p.braceArgs) > 0:
		a.Args = p.braceArgs
		if len(a.Args) > 4 {
			a.Args = a.Args[:4]
		}
	case len(p.fatalArgs) > 0:
		a.Args = p.fatalArgs
	case len(toolArgs) > 0:
		a.Args = trimArgs(toolArgs)
	}

	a.BugcheckStr = f["BUGCHECK_STR"]
	a.ProcessName = f["PROCESS_NAME"]
	a.FailureBucketID = f["FAILURE_BUCKET_ID"]
	a.BucketID = f["BUCKET_ID"]
	a.DefaultBucketID = f["DEFAULT_BUCKET_ID"]
	a.PrimaryProblemClass = f["PRIMARY_PROBLEM_CLASS"]
	a.ModuleName = f["MODULE_NAME"]
	a.ImageName = f["IMAGE_NAME"]
	if a.ImageName == "" {
		a.ImageName = p.probableImage
	}
	a.ImageVersion = f["IMAGE_VERSION"]
	a.SymbolName = f["SYMBOL_NAME"]
	a.FollowupName = f["FOLLOWUP_NAME"]
	if a.FollowupName == "" {
		a.FollowupName = p.followupLine
	}

	// Exception code: the analyzer's verdict first; the record can differ (SEH overwrite).
	// A .NET exception is the exception: the analyzer reports the managed HRESULT instead
	// (EXCEPTION_CODE "(HRESULT) 0x80131509", EXCEPTION_CODE_STR 80131509), which stays in
	// Fields.
	switch {
	case isRuntimeException(p.exr.Code):
		a.ExceptionCode = ntstatus(p.exr.Code)
	case p.exr.Code == "" && isRuntimeException(p.excEvent):
		a.ExceptionCode = ntstatus(p.excEvent)
	case p.exr.Code == "" && isRuntimeException(p.kv["Failure.Exception.Code"]):
		a.ExceptionCode = ntstatus(p.kv["Failure.Exception.Code"])
	case f["EXCEPTION_CODE"] != "":
		a.ExceptionCode = ntstatus(f["EXCEPTION_CODE"])
	case f["EXCEPTION_CODE_STR"] != "":
		a.ExceptionCode = ntstatus(f["EXCEPTION_CODE_STR"])
	case p.exr.Code != "":
		a.ExceptionCode = ntstatus(p.exr.Code)
	case p.excEvent != "":
		a.ExceptionCode = ntstatus(p.excEvent)
	}
	if p.exr != (analysis.ExceptionRecord{}) {
		exr := p.exr
		a.ExceptionRecord = &exr
	}

	if len(f) > 0 {
		a.Fields = f
	}
	if len(p.kv) > 0 {
		a.KeyValues = p.kv
	}
	if !reflect.ValueOf(p.session).IsZero() { // any session line was read
		s := p.session
		a.Session = &s
	}
	if a.Arch == "" {
		a.Arch = normArch(f["OSPLATFORM_TYPE"])
	}
	if a.OSBuild == 0 {
		a.OSBuild = buildFrom(f["OS_VERSION"], f["BUILD_VERSION_STRING"], f["BUILDOSVER_STR"])
	}
	a.ThirdPartyModule = thirdParty(a)
	p.blame(a)
	a.Complete = a.BugcheckCode != "" || a.FailureBucketID != "" || a.BucketID != "" ||
		a.DefaultBucketID != "" || a.BugcheckStr != "" || a.SymbolName != "" || a.ModuleName != "" ||
		len(a.Stack) > 0 || f["EXCEPTION_CODE"] != "" || f["EXCEPTION_CODE_STR"] != "" || a.BlamedModule != ""
	if a.Complete && a.BlamedModule == "" && p.bl != nil && len(p.bl.unloadable) == 1 && !usableModule(a.ModuleName) && !usableModule(a.ImageName) {
		// Only for an analysis: a session that merely loaded the dump blames nothing.
		a.BlamedModule, a.BlamedBy = p.bl.unloadable[0], analysis.BlamedByUnloadableImage
	}
	if p.bl != nil && a.Complete {
		a.MentionedDrivers = p.bl.namedDrivers(a)
	}
	if !a.Complete && a.CulpritName() == "" {
		// No analysis: a stack pasted alone, or one module shown with lmvm.
		if m := p.bl.stackExcerpt(); m != "" {
			a.BlamedModule, a.BlamedBy = m, analysis.BlamedByStackExcerpt
		} else if m := examinedModule(a); m != "" && (p.bl != nil && p.bl.crashWords || isDriverFile(m)) {
			// A driver, or any module of a text that speaks of a crash: not a DLL looked at
			// for its version.
			a.BlamedModule, a.BlamedBy = m, analysis.BlamedByExamined
		}
	}
	if a.CulpritName() == "" && p.bl != nil && p.bl.crashWords {
		// Prose about a crash that names one driver and nothing else.
		if m, windows := p.bl.mentionedDriver(); m != "" {
			a.BlamedModule, a.BlamedBy = m, analysis.BlamedByMentioned
			if windows {
				a.BlamedBy = analysis.BlamedByMentionedWindows
			}
		}
	}
	if !a.Complete && a.BugcheckCode == "" && p.bl != nil && len(p.bl.proseCodes) == 1 {
		// Prose that names one bug check in words ("video tdr failure"): its code, for the
		// rules keyed on it; the text stays what it is, no analysis.
		c := p.bl.proseCodes[0]
		a.BugcheckCode, a.BugcheckName = "0x"+strconv.FormatUint(uint64(c), 16), dumpfile.BugcheckName(c)
	}
	return a
}

// isRuntimeException reports the exception codes the .NET runtime raises for a managed
// exception: e0434352 (CLR 4 and later) and e0434f4d (CLR 1.x/2.0, "COM+").
func isRuntimeException(code string) bool {
	switch ntstatus(code) {
	case "e0434352", "e0434f4d":
		return true
	}
	return false
}

func trimArgs(args []string) []string {
	n := len(args)
	for n > 0 && args[n-1] == "" {
		n--
	}
	return append([]string(nil), args[:n]...)
}

// normCode gives a bugcheck code as lower-case hex with 0x and no padding ("0x1000008e").
func normCode(c string) string {
	c = strings.ToLower(strings.TrimSpace(firstToken(c)))
	c = strings.TrimPrefix(c, "0x")
	c = strings.ReplaceAll(c, "`", "")
	if !isHex(c) {
		return ""
	}
	c = strings.TrimLeft(c, "0")
	if c == "" {
		c = "0"
	}
	return "0x" + c
}

// ntstatus takes the first hex code out of "(NTSTATUS) 0xc0000005 - The instruction ...",
// "c0000005 (Access violation)" or "517a7ed", as eight lower-case hex digits.
func ntstatus(v string) string {
	for _, t := range strings.Fields(v) {
		t = strings.TrimRight(strings.ToLower(t), ",.:;")
		t = strings.TrimPrefix(t, "0x")
		if isHex(t) && len(t) <= 16 {
			if len(t) < 8 {
				t = strings.Repeat("0", 8-len(t)) + t
			}
			return t
		}
	}
	return ""
}

// buildFrom takes the build number from "10.0.22621.1" or "19041.1.amd64fre...".
func buildFrom(vals ...string) int {
	for _, v := range vals {
		parts := strings.Split(v, ".")
		if len(parts) >= 3 && parts[0] == "10" {
			if n, err := strconv.Atoi(parts[2]); err == nil {
				return n
			}
		}
		if len(parts) >= 2 {
			if n, err := strconv.Atoi(parts[0]); err == nil && n > 2000 {
				return n
			}
		}
	}
	return 0
}
