// Package verdict says what happened in one crash in the same words whichever engine read it
// (the debugger's output or the native dump reader): the kind of event, one headline, the
// code and its name, the culprit and why, when it happened and on what Windows, and the
// bucket the crash is grouped under.
//
// The bucket rule (the same for cdb and the native engine, so grouping, history and "new
// bucket" do not depend on which engine ran):
//
//	kernel bug check      <code>_<module>         0x7e_amdppm    (code without the 0x10000000 "_M" flag)
//	user-mode exception   <code>_<process>!<module>  0xc0000005_crashme!crashme
//	hang                  hang_<process>          hang_outlook
//	manual crash          manual_<code>           manual_0xe2
//	hardware error        hardware_<code>         hardware_0x124
//	live dump             live_dump
//	user dump, no crash   no_crash_<process>
//	unexpected reboot     reboot                  (no bug check: power loss, hard hang, held power button)
//	failed analysis       failed
//
// Modules and processes are lower-case image names without .sys/.dll/.exe, the kernel
// image (ntoskrnl.exe, ntkrnlmp.exe, ...) as "nt"; a part that is not known is "unknown",
// so no bucket is ever half-empty. cdb's own FAILURE_BUCKET_ID stays in the analysis.
//
// A crash known from the host's System event log alone (pipeline.Job.NoDump: a blue screen
// that left no dump, or whose dump was gone) gets the verdict of its bug check code like any
// other, marked NoDump: no module can be named (bucket <code>_unknown), the headline says
// when and why no dump was saved ("DPC_WATCHDOG_VIOLATION (0x133) at 03:12 UTC; no dump was
// saved: page file too small (volmgr 49)"), and Reason says the same. An unexpected reboot
// without a bug check is kind reboot. The log's facts ride on every verdict that has them
// (Event), a copied dump's too.
package verdict

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/dumpfile"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// maxReason bounds the failure reason copied into a verdict (the whole error stays in the
// result).
const maxReason = 300

// Of derives the verdict of a result. It never fails: what is unknown is left out, and a
// verdict always has a kind, a headline and a bucket.
func Of(r *pipeline.Result) *analysis.Verdict {
	a := r.Analysis
	if a == nil {
		a = &analysis.Analysis{}
	}
	var h pipeline.Header
	if r.Job.Header != nil {
		h = *r.Job.Header
	}
	v := &analysis.Verdict{CrashTime: crashTime(r, a), Event: r.Job.Event}
	v.OS = osOf(h, a, r.Job.Event)
	v.Uptime = uptimeOf(h, a)
	if r.Status == pipeline.StatusFailed {
		// A failed read says nothing of when the crash was: only the dump's own clock does.
		if h.SystemTime.IsZero() {
			v.CrashTime = time.Time{}
		}
		v.Kind = analysis.KindFailed
		v.Reason = firstLine(r.Error, maxReason)
		if v.Reason == "" {
			v.Reason = "no reason given"
		}
		v.Headline = "Analysis failed: " + v.Reason
		v.Bucket = "failed"
		return v
	}
	ev := r.Job.Event
	if r.Job.NoDump() && ev.Kind == analysis.EventUnexpectedReboot {
		reboot(v, ev)
		return v
	}
	if code, ok := bugcheckCode(a, h, ev); ok {
		kernel(v, r, a, h, code)
	} else {
		user(v, r, a)
	}
	if r.Job.NoDump() {
		noDump(v, ev)
	}
	return v
}

// noDump says why a crash known from the event log left no dump to read, in the reason and
// at the end of the headline, with the time it happened.
func noDump(v *analysis.Verdict, ev *analysis.CrashEvent) {
	v.NoDump = true
	why := "no dump was saved"
	switch {
	case ev.Kind == analysis.EventDumpMissing:
		why = "a dump was saved"
		if ev.DumpPath != "" {
			why += " to " + ev.DumpPath
		}
		why += " but was gone when the fetcher came (overwritten by a later crash, or deleted)"
	case ev.Reason != "":
		why += ": " + ev.Reason
	}
	if v.Reason == "" {
		v.Reason = why
	} else {
		v.Reason += "; " + why
	}
	v.Headline += at(ev.Time) + "; " + why
}

// reboot is the verdict of a host that went down without a bug check.
func reboot(v *analysis.Verdict, ev *analysis.CrashEvent) {
	v.Kind = analysis.KindReboot
	v.Headline = "Unexpected reboot" + at(ev.Time) + " without a bug check"
	v.Reason = "the host went down without a clean shutdown and without a blue screen: power loss, a hard hang or a held power button"
	if !ev.PowerButton.IsZero() {
		v.Reason = "the power button was pressed" + at(ev.PowerButton) + " before the host went down: held to turn off a machine that did not respond, or pressed by hand"
	}
	v.Bucket = "reboot"
}

// at is " at 03:12 UTC", or "" for an unknown time.
func at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + t.UTC().Format("15:04") + " UTC"
}

// Ensure returns the result's verdict, deriving it for a result stored before verdicts.
func Ensure(r *pipeline.Result) *analysis.Verdict {
	if r.Verdict == nil {
		r.Verdict = Of(r)
	}
	return r.Verdict
}

// bugcheckCode is the kernel bug check code of the analysis, else of the dump's header, else
// of the host's event log.
func bugcheckCode(a *analysis.Analysis, h pipeline.Header, ev *analysis.CrashEvent) (uint32, bool) {
	codes := []string{a.BugcheckCode, h.BugcheckCode}
	if ev != nil {
		codes = append(codes, ev.BugcheckCode)
	}
	for _, s := range codes {
		if s == "" {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 32); err == nil {
			return uint32(n), true
		}
	}
	return 0, false
}

// Bug check codes that are outcomes rather than a driver's failure.
var (
	manualCodes = map[uint32]string{
		0xE2:       "the crash was forced from the keyboard (CrashOnCtrlScroll) or a debugger",
		0x1C8:      "the power button was held to capture a dump of a machine that did not respond",
		0xDEADDEAD: "the crash was forced on purpose (NotMyFault or a debugger)",
	}
	hardwareCodes = map[uint32]string{
		0x124: "the platform reported an uncorrectable hardware error (WHEA): check the WHEA events, CPU, memory and firmware",
		0x9C:  "the processor reported a machine check: check the CPU, memory and firmware",
		0x122: "the hardware error architecture failed internally (WHEA): check firmware and hardware",
		0x80:  "a non-maskable interrupt arrived (hardware fault, or an NMI sent by a hypervisor or management card)",
	}
)

func kernel(v *analysis.Verdict, r *pipeline.Result, a *analysis.Analysis, h pipeline.Header, code uint32) {
	base := code &^ 0x10000000
	v.Code = hexCode(base)
	v.Name = strings.TrimSuffix(a.BugcheckName, "_M")
	if v.Name == "" {
		v.Name = strings.TrimSuffix(dumpfile.BugcheckName(code), "_M")
	}
	v.Args = a.Args
	if len(v.Args) == 0 {
		v.Args = h.Args
	}
	if len(v.Args) == 0 && r.Job.Event != nil {
		v.Args = r.Job.Event.Args
	}
	v.Process = a.ProcessName
	label := v.Code
	if v.Name != "" {
		label = v.Name + " (" + v.Code + ")"
	}
	cause := r.ProbableCause
	switch {
	case h.Live || (cause != nil && cause.Outcome == string(dumpfile.OutcomeLive)) || base == 0 || base == 0x161:
		v.Kind = analysis.KindLive
		v.Reason = "taken from a running system: the machine did not crash"
		if base == 0 && !h.Live {
			v.Reason = "no bug check code: a dump taken by a debugger, not a crash"
		}
		v.Headline = "Live dump, " + v.Reason
		v.Bucket = "live_dump"
		return
	case manualCodes[base] != "":
		v.Kind = analysis.KindManual
		v.Reason = manualCodes[base]
		v.Headline = "Manually initiated crash: " + label
		v.Bucket = "manual_" + v.Code
		return
	case hardwareCodes[base] != "":
		v.Kind = analysis.KindHardware
		v.Reason = hardwareCodes[base]
		v.Headline = "Hardware error: " + label
		v.Bucket = "hardware_" + v.Code
		return
	}
	v.Kind = analysis.KindBugcheck
	v.Culprit = culprit(r, a)
	v.Headline = label
	if c := v.Culprit; c != nil {
		v.Headline += " in " + c.Module
		v.Bucket = v.Code + "_" + Key(c.Module)
	} else {
		if !r.Job.NoDump() { // without a dump nothing could name one; noDump says why
			v.Headline += ", no module named"
		}
		v.Bucket = v.Code + "_unknown"
	}
}

// Exception codes the dump reader's table does not name, as the debugger names them.
var exceptionNames = map[uint32]string{
	0xE0434F4D: "CLR exception (.NET 1.x)",
	0xCFFFFFFF: "hang (synthetic code of a hang analysis)",
	0x4000001F: "STATUS_WX86_BREAKPOINT",
}

func user(v *analysis.Verdict, r *pipeline.Result, a *analysis.Analysis) {
	code, hasCode := parseHex32(a.ExceptionCode)
	v.Process = a.ProcessName
	proc := v.Process
	if proc == "" {
		proc = "the process"
	}
	if hasCode {
		v.Code = hexCode(code)
		v.Name = exceptionNames[code]
		if v.Name == "" {
			v.Name = dumpfile.ExceptionName(code)
		}
	}
	if isHang(a, code) {
		v.Kind = analysis.KindHang
		v.Headline = proc + " stopped responding (hang analysis)"
		v.Bucket = "hang_" + Key(v.Process)
		v.Culprit = culprit(r, a)
		return
	}
	if !hasCode {
		cause := r.ProbableCause
		if cause != nil && cause.Outcome == string(dumpfile.OutcomeNoCrash) || a.Complete || v.Process != "" {
			v.Kind = analysis.KindNoCrash
			v.Reason = "the dump holds no exception: it was taken without a crash"
			v.Headline = "Dump of " + proc + " taken without a crash"
			v.Bucket = "no_crash_" + Key(v.Process)
			return
		}
		v.Kind = analysis.KindNoCrash
		v.Reason = "the analysis names neither a bug check nor an exception"
		v.Headline = "No crash found in the dump"
		v.Bucket = "no_crash_unknown"
		return
	}
	v.Kind = analysis.KindException
	v.Culprit = culprit(r, a)
	label := v.Code
	if v.Name != "" {
		label = v.Name + " (" + v.Code + ")"
	}
	v.Headline = label
	mod := "unknown"
	if c := v.Culprit; c != nil {
		mod = Key(c.Module)
		v.Headline += " in " + c.Module
		switch {
		case c.Offset != "":
			v.Headline += " at " + c.Module + "+" + c.Offset
		case c.Symbol != "":
			v.Headline += " at " + c.Symbol
		}
		if v.Process != "" && Key(v.Process) != mod {
			v.Headline += " (process " + v.Process + ")"
		}
	} else {
		v.Headline += " in " + proc
		if r.ProbableCause != nil && r.ProbableCause.Reason != "" {
			if _, where, ok := strings.Cut(r.ProbableCause.Reason, " at "); ok {
				v.Headline += " at " + where
			}
		}
	}
	v.Bucket = v.Code + "_" + Key(v.Process) + "!" + mod
}

func isHang(a *analysis.Analysis, code uint32) bool {
	if code == 0xCFFFFFFF {
		return true
	}
	for _, s := range []string{a.PrimaryProblemClass, a.BugcheckStr, a.FailureBucketID} {
		if u := strings.ToUpper(s); strings.Contains(u, "APPLICATION_HANG") || strings.HasPrefix(u, "HANG") {
			return true
		}
	}
	return false
}

// culprit names the module to blame: the native engine's probable cause, else the
// debugger's (innermost third-party frame, else MODULE_NAME, else IMAGE_NAME, else the
// module another shape of the text blames: FAULTING_IP, a crash tool's report, ...).
func culprit(r *pipeline.Result, a *analysis.Analysis) *analysis.VerdictCulprit {
	var c analysis.VerdictCulprit
	if pc := r.ProbableCause; pc != nil && pc.Outcome != "" && pc.Outcome != string(dumpfile.OutcomeModule) {
		return nil
	}
	switch pc := r.ProbableCause; {
	case pc != nil && pc.Module != "" && pc.Module != "hardware" && a.Suspect == "": // a suspect outranks a Windows module
		c.Module, c.Offset, c.Why = pc.Module, pc.Offset, pc.Reason
	default:
		name := a.CulpritName()
		if name == "" {
			return nil
		}
		c.Module = imageName(a, name)
		c.Symbol = a.SymbolName
		switch {
		case a.Suspect != "" && strings.EqualFold(name, a.Suspect):
			c.Why, c.Suspect = a.SuspectWhy, true
		case a.ThirdPartyModule != "" && strings.EqualFold(name, a.ThirdPartyModule):
			c.Why = "the innermost stack frame outside Windows' own modules"
		case a.CulpritIsBlamed():
			c.Why = analysis.BlamedByText(a.BlamedBy)
		case a.CulpritIsTopFrame():
			c.Why = analysis.WhyTopFrame
		default:
			c.Why = "named by the debugger's analysis (MODULE_NAME)"
		}
	}
	if a.Culprit != nil && Key(a.Culprit.Module) == Key(c.Module) {
		c.Culprit = *a.Culprit
	}
	c.Culprit.Module = c.Module
	if m := a.Module(c.Module); m != nil {
		c.Version = m.FileVersion
		if c.Version == "" {
			c.Version = m.ProductVersion
		}
		c.Built = Built(m, r)
	}
	if c.Version == "" && a.ImageVersion != "" && Key(a.ImageName) == Key(c.Module) {
		c.Version = a.ImageVersion
	}
	return &c
}

// imageName turns a debugger module name ("amdppm", "nt") into the image file name the
// analysis knows for it ("amdppm.sys", "ntkrnlmp.exe"), else leaves it.
func imageName(a *analysis.Analysis, name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	if a.ImageName != "" && Key(a.ImageName) == Key(name) {
		return a.ImageName
	}
	if m := a.Module(name); m != nil && m.ImageName != "" {
		return m.ImageName
	}
	return name
}

// Built is a module's link date for people: "2019-12-06", or what its timestamp is when it
// is no date: the content hash of a reproducible build (since Windows 10 most of Windows'
// own modules), said as such.
func Built(m *analysis.Module, r *pipeline.Result) string {
	if m.TimestampIsHash {
		return "reproducible build (no date)"
	}
	hex := m.TimestampHex
	if hex == "" {
		hex = m.Timestamp
	}
	n, ok := parseHex32(hex)
	if !ok || n == 0 {
		return ""
	}
	// Windows 10 and later build their own modules reproducibly (/Brepro): the field is a
	// hash even when it happens to read as a plausible date.
	if b := osBuild(r); b >= 10240 && analysis.IsMicrosoftModule(firstNonEmpty(m.ImageName, m.Name)) {
		return "reproducible build (no date)"
	}
	t := time.Unix(int64(n), 0).UTC()
	limit := time.Now()
	if ct := crashTime(r, r.Analysis); !ct.IsZero() {
		limit = ct
	}
	if t.Year() < 1990 || t.After(limit.Add(24*time.Hour)) {
		return fmt.Sprintf("reproducible build (0x%08x is a hash, not a date)", n)
	}
	return t.Format("2006-01-02")
}

// Key is a module or process name as buckets use it: lower-case, without .sys/.dll/.exe,
// the kernel image as "nt", "unknown" when empty.
func Key(name string) string {
	s := strings.ToLower(strings.TrimSpace(name))
	if i := strings.LastIndexAny(s, `\/`); i >= 0 {
		s = s[i+1:]
	}
	if dumpfile.IsKernelImage(s) {
		return "nt"
	}
	for _, ext := range []string{".sys", ".dll", ".exe"} {
		s = strings.TrimSuffix(s, ext)
	}
	if s == "" {
		return "unknown"
	}
	return s
}

// crashTime is when the crash happened by the dump's own clock: the header's system time,
// else the debugger's session time (which for a dump is the dump's), else when the host's
// event log says it went down, else the file's modification time.
func crashTime(r *pipeline.Result, a *analysis.Analysis) time.Time {
	if h := r.Job.Header; h != nil && !h.SystemTime.IsZero() {
		return h.SystemTime.UTC()
	}
	if a != nil && a.Session != nil {
		if t, ok := sessionTime(a.Session.DebugSessionTime); ok {
			return t
		}
	}
	if ev := r.Job.Event; ev != nil && !ev.Time.IsZero() {
		return ev.Time.UTC()
	}
	if !r.Job.ModTime.IsZero() {
		return r.Job.ModTime.UTC()
	}
	return time.Time{}
}

// sessionTime reads cdb's "Debug session time: Sun Feb 21 01:38:22.987 2021 (UTC + 0:00)".
func sessionTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	main, zone, _ := strings.Cut(s, "(")
	t, err := time.Parse("Mon Jan _2 15:04:05.000 2006", strings.TrimSpace(main))
	if err != nil {
		if t, err = time.Parse("Mon Jan _2 15:04:05 2006", strings.TrimSpace(main)); err != nil {
			return time.Time{}, false
		}
	}
	// "(UTC + 2:00)": the time printed is local; subtract the offset.
	zone = strings.TrimSuffix(strings.TrimSpace(zone), ")")
	if z := strings.TrimSpace(strings.TrimPrefix(zone, "UTC")); z != "" {
		sign := 1
		switch z[0] {
		case '-':
			sign = -1
			z = strings.TrimSpace(z[1:])
		case '+':
			z = strings.TrimSpace(z[1:])
		}
		hh, mm, _ := strings.Cut(z, ":")
		h, err1 := strconv.Atoi(hh)
		m, err2 := strconv.Atoi(mm)
		if err1 == nil && err2 == nil {
			t = t.Add(-time.Duration(sign) * (time.Duration(h)*time.Hour + time.Duration(m)*time.Minute))
		}
	}
	return t.UTC(), true
}

func uptimeOf(h pipeline.Header, a *analysis.Analysis) string {
	if h.UptimeSeconds > 0 {
		return FormatDuration(time.Duration(h.UptimeSeconds) * time.Second)
	}
	if a.Session != nil && a.Session.SystemUptime != "" {
		if d, ok := parseUptime(a.Session.SystemUptime); ok {
			return FormatDuration(d)
		}
	}
	return ""
}

// parseUptime reads cdb's "System Uptime: 0 days 0:00:03.747".
func parseUptime(s string) (time.Duration, bool) {
	var days, hh, mm int
	var ss float64
	if _, err := fmt.Sscanf(strings.TrimSpace(s), "%d days %d:%d:%f", &days, &hh, &mm, &ss); err != nil {
		return 0, false
	}
	return time.Duration(days)*24*time.Hour + time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute +
		time.Duration(ss*float64(time.Second)), true
}

// FormatDuration writes an uptime for people: "3d 4h 12m", "5m 3s", "4s".
func FormatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	s := (d - m*time.Minute) / time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

func parseHex32(s string) (uint32, bool) {
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x")
	s = strings.ReplaceAll(s, "`", "")
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil || n > 0xFFFFFFFF && n>>32 != 0xFFFFFFFF {
		return 0, false
	}
	return uint32(n), true
}

func hexCode(c uint32) string { return fmt.Sprintf("0x%x", c) }

func firstLine(s string, max int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}

// osBuild is the Windows build of the result's dump, or 0.
func osBuild(r *pipeline.Result) int {
	if h := r.Job.Header; h != nil && h.Build > 0 {
		return h.Build
	}
	if r.Analysis != nil {
		return r.Analysis.OSBuild
	}
	return 0
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
