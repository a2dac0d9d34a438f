package chat

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// View is what a template renders. Every string that came from a dump, the debugger or a
// rule is already escaped for the target's markup when the view is built, so a template
// override cannot forget to escape; Links are checked (http and https only) and rendered
// by the integration's link syntax.
type View struct {
	Kind        string // verdict or update
	Failed      bool   // the analysis failed; Error says why
	New         bool   // bucket never seen before
	Regression  bool
	CrashLoop   bool
	Reprocessed bool
	Degraded    bool

	Host     string
	HostTags []string
	JobID    string
	Dump     string // where the copy is on the dump share
	Source   string // where the dump was on the host

	// The verdict (package verdict): what happened, in one line and in parts.
	Headline    string // "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (0x7e) in amdppm.sys"
	VerdictKind string // bugcheck, exception, hang, manual, live, hardware, no_crash, failed
	Crash       bool   // a crash that wants a known issue (bugcheck, exception, hang)
	Reason      string // why it failed, or what a manual crash, live dump or hardware error means
	CrashTime   string // "2021-02-21 01:38 UTC" by the dump's clock
	OS          string // "Windows 10 2004 (build 19041, x64)"
	Uptime      string
	EventLog    string // what the host's System log said: "dump saved, report 040612-50390-01, record 13423"

	BugcheckCode string // the verdict's code: bug check or exception
	BugcheckName string
	Process      string

	Module      string // culprit module, e.g. symevent.sys
	Culprit     string // culprit module without extension, upper case: SYMEVENT
	Image       string
	Symbol      string
	Vendor      string
	Product     string
	Description string // "Realtek PCIe GbE network driver", from the driver reference
	CulpritWhy  string
	Version     string
	Timestamp   string // the culprit's build date ("2019-12-06", or "reproducible build (no date)")
	ImagePath   string

	Known       bool
	Title       string // the known issue's title
	Severity    string
	Summary     string
	Remedy      []string
	Links       []string // rendered links
	OtherTitles []string // further matched rules
	Flags       []string // titles of flags raised beside the crash (a known-vulnerable driver loaded)

	Bucket          string
	Engine          string
	Confidence      string
	DegradedReasons []string
	Error           string
	RulesVersion    string

	// Group, on updates.
	Count     int
	HostCount int
	Hosts     []string
	Window    string // "hour", "30 minutes"
	Since     string

	ResultURL string // rendered link to the full result, or empty
}

// Markup says how an integration escapes text and writes links.
type Markup struct {
	// Escape makes an untrusted value inert in the target's markup.
	Escape func(string) string
	// Link renders a checked http(s) URL with an (escaped) label.
	Link func(u, label string) string
}

// NewView builds the view of m, escaping every value with mk.
func NewView(m *Message, mk Markup) *View {
	r := m.Result
	if r == nil {
		r = &pipeline.Result{}
	}
	e := func(s string) string { return mk.Escape(Clean(s)) }
	es := func(ss []string) []string {
		out := make([]string, 0, len(ss))
		for _, s := range ss {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, e(s))
			}
		}
		return out
	}
	v := &View{
		Kind:            m.Kind,
		Failed:          r.Status == pipeline.StatusFailed,
		New:             m.New || (r.Marks.NewBucket && m.Kind != KindUpdate),
		Regression:      r.Marks.Regression,
		CrashLoop:       r.Marks.CrashLoop,
		Reprocessed:     r.Reprocessed,
		Degraded:        r.Degraded,
		Host:            e(r.Job.Host),
		HostTags:        es(r.Job.HostTags),
		JobID:           e(r.Job.ID),
		Dump:            e(r.Job.SharePath),
		Source:          e(r.Job.SourcePath),
		Bucket:          e(r.Bucket()),
		Engine:          e(r.Engine),
		Confidence:      e(r.Confidence),
		DegradedReasons: es(r.DegradedReasons),
		Error:           e(r.Error),
		RulesVersion:    e(r.RulesVersion),
	}
	if v.Kind == "" {
		v.Kind = KindVerdict
	}
	vd := r.Verdict
	if vd == nil {
		vd = &analysis.Verdict{}
	}
	v.Headline = e(vd.Headline)
	v.VerdictKind = vd.Kind
	v.Crash = vd.Kind == analysis.KindBugcheck || vd.Kind == analysis.KindException || vd.Kind == analysis.KindHang || vd.Kind == ""
	v.Reason = e(vd.Reason)
	if !vd.CrashTime.IsZero() {
		v.CrashTime = vd.CrashTime.UTC().Format("2006-01-02 15:04 UTC")
	}
	if o := vd.OS; o != nil {
		var parts []string
		if o.Build > 0 {
			parts = append(parts, fmt.Sprintf("build %d", o.Build))
		}
		if o.Arch != "" {
			parts = append(parts, o.Arch)
		}
		v.OS = e(strings.TrimSpace(o.Product + " (" + strings.Join(parts, ", ") + ")"))
		if o.Product == "" {
			v.OS = e(strings.Join(parts, ", "))
		}
	}
	v.Uptime = e(vd.Uptime)
	v.EventLog = e(eventLine(vd.Event))
	v.BugcheckCode, v.BugcheckName, v.Process = e(vd.Code), e(vd.Name), e(vd.Process)
	if a := r.Analysis; a != nil {
		v.Image = e(a.ImageName)
		v.Symbol = e(a.SymbolName)
		if v.Process == "" {
			v.Process = e(a.ProcessName)
		}
	}
	if c := vd.Culprit; c != nil {
		mod := c.Module
		v.Module = e(mod)
		v.Culprit = e(strings.ToUpper(strings.TrimSuffix(mod, path.Ext(mod))))
		v.Vendor, v.Product, v.Description = e(c.Vendor), e(c.Product), e(c.Description)
		v.CulpritWhy, v.Version = e(c.Why), e(c.Version)
		if b := c.Built; strings.HasPrefix(b, "reproducible") {
			v.Timestamp = e(b)
		} else if b != "" {
			v.Timestamp = e("built " + b)
		}
		if c.Symbol != "" {
			v.Symbol = e(c.Symbol)
		}
		if md := moduleInfo(r, mod); md != nil {
			if v.Vendor == "" {
				v.Vendor = e(md.CompanyName)
			}
			v.ImagePath = e(md.ImagePath)
			if v.Image == "" {
				v.Image = e(md.ImageName)
			}
		}
	}
	if v.Failed {
		v.New = false // a failed analysis names no bucket to call new
	}

	known, flags := analysis.Explaining(r.Matches)
	for _, f := range flags {
		v.Flags = append(v.Flags, e(f.Title))
	}
	if len(known) > 0 {
		mt := known[0]
		v.Known = true
		v.Title = e(mt.Title)
		v.Severity = e(mt.Severity)
		v.Summary = e(mt.Summary)
		v.Remedy = es(mt.Remedy)
		for _, l := range mt.Links {
			if u, ok := SafeURL(l); ok {
				v.Links = append(v.Links, mk.Link(u, e(linkLabel(u))))
			}
		}
		for _, o := range known[1:] {
			v.OtherTitles = append(v.OtherTitles, e(o.Title))
		}
	}
	if g := m.Group; g != nil {
		v.Count = g.Count
		v.HostCount = len(g.Hosts)
		v.Hosts = es(g.Hosts)
		v.Window = e(g.Window)
		if !g.Since.IsZero() {
			v.Since = g.Since.UTC().Format(time.RFC3339)
		}
	}
	if u, ok := SafeURL(m.ResultURL); ok {
		v.ResultURL = mk.Link(u, "full result")
	}
	return v
}

// eventLine says in one line what the host's System log said of the crash.
func eventLine(ev *analysis.CrashEvent) string {
	if ev == nil {
		return ""
	}
	var parts []string
	switch ev.Kind {
	case analysis.EventDump:
		parts = append(parts, "dump saved")
	case analysis.EventDumpMissing:
		parts = append(parts, "dump saved, then gone")
	case analysis.EventNoDump:
		parts = append(parts, "no dump saved")
	case analysis.EventUnexpectedReboot:
		parts = append(parts, "unexpected reboot")
	}
	if ev.ReportID != "" {
		parts = append(parts, "report "+ev.ReportID)
	}
	if !ev.PowerButton.IsZero() {
		parts = append(parts, "power button pressed at "+ev.PowerButton.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	return strings.Join(append(parts, fmt.Sprintf("record %d", ev.Record)), ", ")
}

// linkLabel is how a link reads: without its scheme, shortened.
func linkLabel(u string) string {
	l := strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	l, _ = TruncateRunes(l, 80, "…")
	return l
}

// moduleInfo finds the lmvm data of mod ("symevent" or "symevent.sys").
func moduleInfo(r *pipeline.Result, mod string) *struct {
	CompanyName, FileVersion, ProductVersion, Timestamp, ImagePath, ImageName string
} {
	if r.Analysis == nil || mod == "" {
		return nil
	}
	base := strings.TrimSuffix(strings.ToLower(mod), path.Ext(mod))
	for _, md := range r.Analysis.Modules {
		n := strings.ToLower(md.Name)
		in := strings.ToLower(md.ImageName)
		if n == base || n == strings.ToLower(mod) || in == strings.ToLower(mod) ||
			strings.TrimSuffix(in, path.Ext(in)) == base {
			return &struct {
				CompanyName, FileVersion, ProductVersion, Timestamp, ImagePath, ImageName string
			}{md.CompanyName, md.FileVersion, md.ProductVersion, md.Timestamp, md.ImagePath, md.ImageName}
		}
	}
	return nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// Clean makes an untrusted value one line of printable text: control characters (newlines
// included, which could start a heading or quote in Markdown) become spaces, and bare URL
// schemes and "www." are broken with a zero-width space so chat clients do not linkify
// them. Escaping for the markup comes after.
func Clean(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return ' '
		case r == 0x202e || r == 0x202d || r == 0x2066 || r == 0x2067 || r == 0x2068:
			return -1 // bidi overrides that can disguise text
		}
		return r
	}, s)
	s = strings.ReplaceAll(s, "://", ":\u200b//")
	s = replaceFold(s, "www.", "www\u200b.")
	return strings.TrimSpace(s)
}

func replaceFold(s, old, repl string) string {
	low := strings.ToLower(s)
	if !strings.Contains(low, old) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(low, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(s[i:i+len(old)-1] + "\u200b" + s[i+len(old)-1:i+len(old)])
		s, low = s[i+len(old):], low[i+len(old):]
	}
}

// SafeURL returns u normalised when it is an absolute http or https URL without
// characters that could break out of a link in any chat markup.
func SafeURL(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	s := u.String()
	if strings.ContainsAny(s, " \t\r\n\"'") {
		return "", false
	}
	r := strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C", "(", "%28", ")", "%29", "[", "%5B", "]", "%5D", "`", "%60", "*", "%2A", "_", "%5F")
	// Keep the scheme and host readable; only escape the rest.
	prefix := u.Scheme + "://" + u.Host
	return prefix + r.Replace(strings.TrimPrefix(s, prefix)), true
}

// HumanWindow says a window the way a person would: "hour", "2 hours", "30 minutes".
func HumanWindow(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return d.String()
}

// SortedIDs returns ids sorted and without repeats, for comparing verdicts.
func SortedIDs(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// TruncatedNote is the line added to a message that had to be cut: it says where the
// whole verdict is.
func TruncatedNote(v *View) string {
	if v.ResultURL != "" {
		return "Message truncated; see the " + v.ResultURL + "."
	}
	return "Message truncated; the full result is job " + v.JobID + " in the results stream."
}

// SplitLines cuts text into chunks of at most n runes, breaking between lines where it
// can, so each fits a block of a size-limited chat payload.
func SplitLines(text string, n int) []string {
	var out []string
	var cur strings.Builder
	curN := 0
	flush := func() {
		if curN > 0 {
			out = append(out, strings.TrimRight(cur.String(), "\n"))
			cur.Reset()
			curN = 0
		}
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		r := []rune(line)
		if curN+len(r) > n {
			flush()
		}
		for len(r) > n { // one line longer than a block: hard cut
			out = append(out, string(r[:n]))
			r = r[n:]
		}
		cur.WriteString(string(r))
		curN += len(r)
	}
	flush()
	return out
}
