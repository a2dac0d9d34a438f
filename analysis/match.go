package analysis

import "time"

// Match is one known-issue rule that matched an analysis, with what to tell people and why it
// matched. The rule engine (package rules) produces it; its JSON form is part of every verdict
// and is read by the notifier, the history commands and the web console.
type Match struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Severity    string   `json:"severity"`
	Summary     string   `json:"summary,omitempty"`
	Explanation string   `json:"explanation,omitempty"`
	Remedy      []string `json:"remedy,omitempty"`
	Links       []string `json:"links,omitempty"`
	// Confidence says how sure the rule's facts are (sources read, what is unconfirmed).
	Confidence string   `json:"confidence,omitempty"`
	Owner      string   `json:"owner,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	// Why lists the facts that met the rule's conditions, one line each.
	Why []string `json:"why"`
}

// Severities a known issue can have, most severe first.
var Severities = []string{"critical", "high", "medium", "low", "info"}

// Culprit is the module blamed for a crash and what is known about who makes it: from the
// module's own version resource (lmvm CompanyName, ProductName) or from the shipped driver
// reference. Its JSON form is a contract (DESIGN.md: `culprit`).
type Culprit struct {
	// Module is the image file name as the dump names it ("rt640x64.sys", "crashme.exe").
	Module string `json:"module"`
	// Vendor and Product say who makes it ("Realtek", "PCIe GbE family controller driver").
	Vendor  string `json:"vendor,omitempty"`
	Product string `json:"product,omitempty"`
	// Kind is what sort of driver it is: antivirus-filter, network, display, storage,
	// virtualization, backup, anti-cheat, ... (see the driver reference's list).
	Kind string `json:"kind,omitempty"`
	// Description is one line for people ("Realtek PCIe GbE network driver").
	Description string `json:"description,omitempty"`
	// Source says where vendor and product came from: "module" (the module's version
	// resource), "reference" (the shipped driver table), "microsoft" (a Windows module).
	Source string `json:"source,omitempty"`
}

// Kinds of verdict: what happened, in words every reader of a verdict shares.
const (
	KindBugcheck  = "bugcheck"  // a kernel bug check (blue screen)
	KindException = "exception" // a user-mode process crashed with an exception
	KindHang      = "hang"      // a user-mode hang analysis (no exception)
	KindManual    = "manual"    // someone crashed the machine on purpose (keyboard, power button, NMI)
	KindLive      = "live"      // a live dump or debugger break: the machine did not crash
	KindHardware  = "hardware"  // the platform reported a hardware error (WHEA, machine check)
	KindNoCrash   = "no_crash"  // a user-mode dump taken without a crash
	KindFailed    = "failed"    // the analysis failed; Reason says why
	KindReboot    = "reboot"    // the host went down without a bug check (power loss, hard hang, held power button): from its System event log
)

// Verdict says what happened in one crash whichever engine read it (package verdict derives
// it): the kind, one headline a person can act on, the code and its name, the culprit, when
// it happened and on what, and the bucket the crash is grouped under. Its JSON is part of
// every stored verdict (`verdict`).
type Verdict struct {
	Kind string `json:"kind"`
	// Headline is one line without the host: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (0x7e) in
	// amdppm.sys", "EXCEPTION_ACCESS_VIOLATION (0xc0000005) in crashme.exe at crashme.exe+0xa6cd".
	Headline string `json:"headline"`
	// Code is the bug check code (without the 0x10000000 "_M" flag) or the exception code,
	// lower-case hex; Name its symbolic name.
	Code string   `json:"code,omitempty"`
	Name string   `json:"name,omitempty"`
	Args []string `json:"args,omitempty"`
	// Process is the process that crashed (user mode, or the kernel's PROCESS_NAME).
	Process string `json:"process,omitempty"`
	// Culprit is the module blamed and why, with what is known about it.
	Culprit *VerdictCulprit `json:"culprit,omitempty"`
	// Reason is why a failed analysis failed, or what a manual crash, live dump or hardware
	// error means.
	Reason string `json:"reason,omitempty"`
	// CrashTime is the crash by the dump's own clock (UTC); absent when unknown.
	CrashTime time.Time `json:"crash_time,omitzero"`
	// OS is what the machine ran.
	OS *OS `json:"os,omitempty"`
	// Uptime is how long the machine (or process) had been up, e.g. "3d 4h 12m", when known.
	Uptime string `json:"uptime,omitempty"`
	// Bucket groups crashes that are the same (see package verdict for the rule); it is the
	// same whichever engine read the dump. cdb's FAILURE_BUCKET_ID stays in the analysis.
	Bucket string `json:"bucket"`
	// NoDump is set when no dump was read: the crash is known from the host's System event
	// log alone (Event), a blue screen that left no dump or whose dump was gone when the
	// fetcher came. Reason then says why ("no dump was saved: page file too small (volmgr
	// 49)"), the code and arguments are the log's, and nothing names a culprit.
	NoDump bool `json:"no_dump,omitempty"`
	// Event is what the host's System event log said of the crash, when the fetcher read
	// it: on a copied dump, when the host went down, the report id and "dump saved".
	Event *CrashEvent `json:"event,omitempty"`
}

// VerdictCulprit is the blamed module with its place and its make.
type VerdictCulprit struct {
	Culprit
	// Offset is where in the module ("0x334c"), Symbol the function when known.
	Offset string `json:"offset,omitempty"`
	Symbol string `json:"symbol,omitempty"`
	// Why says how the culprit was found ("bug check parameter 2 points into it").
	Why string `json:"why,omitempty"`
	// Suspect is true when the culprit is the analysis' Suspect: a loaded third-party driver
	// named because the analysis blames only Windows' own code, not a module it blames.
	Suspect bool `json:"suspect,omitempty"`
	// Version is the module's file version; Built its link date ("2019-12-06"), or
	// "reproducible build (no date)" when the timestamp is a content hash.
	Version string `json:"version,omitempty"`
	Built   string `json:"built,omitempty"`
}

// OS is the Windows a dump came from.
type OS struct {
	Build int `json:"build,omitempty"`
	// Product is "Windows 10 2004", "Windows Server 2022", ... when the build tells.
	Product string `json:"product,omitempty"`
	Arch    string `json:"arch,omitempty"`
}

// IsFlag reports whether a match is a flag raised beside the crash (a known-vulnerable
// driver loaded, say: tag "security" or "flag") rather than a known issue that explains it.
func (m Match) IsFlag() bool {
	for _, t := range m.Tags {
		if t == "security" || t == "flag" {
			return true
		}
	}
	return false
}

// Explaining returns the matches that explain the crash (known issues), in order, and the
// flags raised beside it.
func Explaining(ms []Match) (issues, flags []Match) {
	for _, m := range ms {
		if m.IsFlag() {
			flags = append(flags, m)
		} else {
			issues = append(issues, m)
		}
	}
	return issues, flags
}
