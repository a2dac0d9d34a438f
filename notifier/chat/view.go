package chat

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// View is what a template renders. Every string that came from a dump, the debugger or a
// rule is already capped (Caps) and escaped for the target's markup when the view is
// built, so a template override can neither forget to escape nor show a 40,000-character
// module name; Links are checked (http and https only) and rendered by the integration's
// link syntax.
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
	When        string // how CrashTime reads: "Crashed", or "Taken" for a dump of no crash
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
	Suspect     bool // the culprit is a suspect among the loaded drivers: CulpritWhy says why
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
	Evidence    []string // why the known issue matched: the facts that met its conditions
	Modules     []string // other third-party modules loaded (not Microsoft's, not the culprit)

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

	// Shortened is set when a value was capped or a part dropped; Dropped names the parts
	// dropped (DropOrder) to fit the target's limit.
	Shortened bool
	Dropped   []string
}

// Markup says how an integration escapes text and writes links.
type Markup struct {
	// Escape makes an untrusted value inert in the target's markup.
	Escape func(string) string
	// Link renders a checked http(s) URL with an (escaped) label.
	Link func(u, label string) string
}

// NewView builds the view of m, capping every value (Caps) and escaping it with mk.
func NewView(m *Message, mk Markup) *View {
	r := m.Result
	if r == nil {
		r = &pipeline.Result{}
	}
	v := &View{Kind: m.Kind}
	// e cleans, caps and escapes one value of field; es does a list.
	e := func(field, s string) string {
		s, cut := CapRunes(Clean(s), Caps[field].Runes)
		v.Shortened = v.Shortened || cut
		return mk.Escape(s)
	}
	es := func(field string, ss []string) []string {
		var clean []string
		for _, s := range ss {
			if s = Clean(s); s != "" {
				clean = append(clean, s)
			}
		}
		clean, cut := capList(clean, Caps[field])
		v.Shortened = v.Shortened || cut
		for i, s := range clean {
			clean[i] = mk.Escape(s)
		}
		return clean
	}
	v.Failed = r.Status == pipeline.StatusFailed
	v.New = m.New || (r.Marks.NewBucket && m.Kind != KindUpdate)
	v.Regression, v.CrashLoop = r.Marks.Regression, r.Marks.CrashLoop
	v.Reprocessed, v.Degraded = r.Reprocessed, r.Degraded
	v.Host = e("Host", r.Job.Host)
	v.HostTags = es("HostTags", r.Job.HostTags)
	v.JobID = e("JobID", r.Job.ID)
	v.Dump = e("Dump", r.Job.SharePath)
	v.Source = e("Source", r.Job.SourcePath)
	v.Bucket = e("Bucket", r.Bucket())
	v.Engine = e("Engine", r.Engine)
	v.Confidence = e("Confidence", r.Confidence)
	v.DegradedReasons = es("DegradedReasons", r.DegradedReasons)
	v.Error = e("Error", r.Error)
	v.RulesVersion = e("RulesVersion", r.RulesVersion)
	if v.Kind == "" {
		v.Kind = KindVerdict
	}
	vd := r.Verdict
	if vd == nil {
		vd = &analysis.Verdict{}
	}
	v.Headline = e("Headline", vd.Headline)
	v.VerdictKind = vd.Kind
	v.Crash = vd.Kind == analysis.KindBugcheck || vd.Kind == analysis.KindException || vd.Kind == analysis.KindHang || vd.Kind == ""
	if vd.Kind == analysis.KindFailed || !strings.Contains(vd.Headline, vd.Reason) {
		v.Reason = e("Reason", vd.Reason) // else the headline says it already
	}
	if !vd.CrashTime.IsZero() {
		v.CrashTime = vd.CrashTime.UTC().Format("2006-01-02 15:04 UTC")
	}
	v.When = "Crashed"
	if vd.Kind == analysis.KindLive || vd.Kind == analysis.KindNoCrash {
		v.When = "Taken"
	}
	if o := vd.OS; o != nil {
		var parts []string
		if o.Build > 0 {
			parts = append(parts, fmt.Sprintf("build %d", o.Build))
		}
		if o.Arch != "" {
			parts = append(parts, o.Arch)
		}
		v.OS = e("OS", strings.TrimSpace(o.Product+" ("+strings.Join(parts, ", ")+")"))
		if o.Product == "" {
			v.OS = e("OS", strings.Join(parts, ", "))
		}
	}
	v.Uptime = e("Uptime", vd.Uptime)
	v.EventLog = e("EventLog", eventLine(vd.Event))
	v.BugcheckCode, v.BugcheckName, v.Process = e("BugcheckCode", vd.Code), e("BugcheckName", vd.Name), e("Process", vd.Process)
	if a := r.Analysis; a != nil {
		v.Image = e("Image", a.ImageName)
		v.Symbol = e("Symbol", a.SymbolName)
		if v.Process == "" {
			v.Process = e("Process", a.ProcessName)
		}
	}
	var mod string
	if c := vd.Culprit; c != nil {
		mod = c.Module
		v.Module = e("Module", mod)
		v.Culprit = e("Culprit", strings.ToUpper(strings.TrimSuffix(mod, path.Ext(mod))))
		v.Vendor, v.Product, v.Description = e("Vendor", c.Vendor), e("Product", c.Product), e("Description", c.Description)
		v.CulpritWhy, v.Version, v.Suspect = e("CulpritWhy", c.Why), e("Version", c.Version), c.Suspect
		if b := c.Built; strings.HasPrefix(b, "reproducible") {
			v.Timestamp = e("Timestamp", b)
		} else if b != "" {
			v.Timestamp = e("Timestamp", "built "+b)
		}
		if c.Symbol != "" {
			v.Symbol = e("Symbol", c.Symbol)
		}
		if md := moduleInfo(r, mod); md != nil {
			if v.Vendor == "" {
				v.Vendor = e("Vendor", md.CompanyName)
			}
			v.ImagePath = e("ImagePath", md.ImagePath)
			if v.Image == "" {
				v.Image = e("Image", md.ImageName)
			}
		}
	}
	v.Modules = es("Modules", otherModules(r, mod))
	if v.Failed {
		v.New = false // a failed analysis names no bucket to call new
	}

	known, flags := analysis.Explaining(r.Matches)
	var ft []string
	for _, f := range flags {
		ft = append(ft, f.Title)
	}
	v.Flags = es("Flags", ft)
	if len(known) > 0 {
		mt := known[0]
		v.Known = true
		v.Title = e("Title", mt.Title)
		v.Severity = e("Severity", mt.Severity)
		v.Summary = e("Summary", mt.Summary)
		v.Remedy = es("Remedy", mt.Remedy)
		v.Evidence = es("Evidence", mt.Why)
		for _, l := range mt.Links {
			if u, ok := SafeURL(l); ok {
				v.Links = append(v.Links, mk.Link(u, mk.Escape(linkLabel(u)))) // a checked URL: no Clean, which would break the label
			}
		}
		if c := Caps["Links"]; len(v.Links) > c.Items {
			v.Links, v.Shortened = v.Links[:c.Items], true
		}
		var other []string
		for _, o := range known[1:] {
			other = append(other, o.Title)
		}
		v.OtherTitles = es("OtherTitles", other)
	}
	if g := m.Group; g != nil {
		v.Count = g.Count
		v.HostCount = len(g.Hosts)
		v.Hosts = es("Hosts", g.Hosts)
		v.Window = e("Window", g.Window)
		if !g.Since.IsZero() {
			v.Since = g.Since.UTC().Format(time.RFC3339)
		}
	}
	if u, ok := SafeURL(m.ResultURL); ok {
		v.ResultURL = mk.Link(u, "full result")
	}
	return v
}

// otherModules lists the third-party modules of r's analysis other than the culprit mod,
// by image name, in the order the debugger listed them.
func otherModules(r *pipeline.Result, mod string) []string {
	if r.Analysis == nil {
		return nil
	}
	base := strings.ToLower(strings.TrimSuffix(mod, path.Ext(mod)))
	var out []string
	for _, md := range r.Analysis.Modules {
		name := firstNonEmpty(md.ImageName, md.Name)
		low := strings.ToLower(strings.TrimSuffix(name, path.Ext(name)))
		microsoft := analysis.IsMicrosoftModule(md.Name)
		if c := md.CompanyName; c != "" {
			microsoft = strings.Contains(strings.ToLower(c), "microsoft")
		}
		if name == "" || low == base || strings.ToLower(md.Name) == base || microsoft || analysis.IsPlaceholderModule(md.Name) {
			continue
		}
		out = append(out, name)
	}
	return out

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
	l, _ = CapRunes(l, 80)
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
// included, which could start a heading or quote in Markdown) become spaces, bidi
// overrides go, and whatever a chat client would turn into a link is broken with a
// zero-width space (U+200B): "://", "www.", a scheme such as "mailto:x" or "javascript:x",
// and a bare "domain.tld/" (Mattermost links "evil.com/x" by itself). Escaping for the
// markup comes after.
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
	s = breakLinks(s)
	return strings.TrimSpace(s)
}

// ZWSP is the zero-width space that breaks link and mention patterns without showing.
const ZWSP = "\u200b"

// breakLinks puts a zero-width space after the colon of "scheme:x" (a letter, then
// letters, digits, + . or -, then ':' and a letter, digit, '%' or '/') and before the
// slash of "domain.tld/" (a '.', two or more letters, '/').
func breakLinks(s string) string {
	if !strings.ContainsAny(s, ":/") {
		return s
	}
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		switch {
		case c == '/' && tldBefore(r, i):
			b.WriteString(ZWSP)
		}
		b.WriteRune(c)
		if c == ':' && i+1 < len(r) && schemeBefore(r, i) {
			if n := r[i+1]; n == '%' || n == '/' || unicode.IsLetter(n) || unicode.IsDigit(n) {
				b.WriteString(ZWSP)
			}
		}
	}
	return b.String()
}

func isSchemeRune(c rune) bool {
	return c < utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c) || c == '+' || c == '.' || c == '-')
}

// schemeBefore reports whether the run before r[i] (a ':') is a URL scheme: ASCII letters,
// digits, + . -, starting with a letter.
func schemeBefore(r []rune, i int) bool {
	j := i
	for j > 0 && isSchemeRune(r[j-1]) {
		j--
	}
	return j < i && r[j] < utf8.RuneSelf && unicode.IsLetter(r[j])
}

// tldBefore reports whether r[i] (a '/') follows ".xx" (a dot and two or more letters)
// that follows a letter, digit or '-': a bare domain.
func tldBefore(r []rune, i int) bool {
	j := i
	for j > 0 && unicode.IsLetter(r[j-1]) {
		j--
	}
	return i-j >= 2 && j >= 2 && r[j-1] == '.' && (unicode.IsLetter(r[j-2]) || unicode.IsDigit(r[j-2]) || r[j-2] == '-')
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

// TruncatedNote is the line added to a message that was shortened (a value capped or a
// part dropped): it says where the whole verdict is.
func TruncatedNote(v *View) string {
	if v.ResultURL != "" {
		return "Message truncated; see the " + v.ResultURL + "."
	}
	return "Message truncated; the full result is job " + v.JobID + " in the results stream."
}
