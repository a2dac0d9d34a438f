package cdbout

import (
	"slices"
	"strconv"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/dumpfile"
)

// This file reads the shapes that blame a module without MODULE_NAME or IMAGE_NAME: the
// FAULTING_IP and FAULTING_MODULE of older analyses, reports of crash tools people paste
// instead of the debugger's own text (WhoCrashed, BlueScreenView), the text of the stop
// screen, and the one third-party image the debugger could not load. finish turns them
// into Analysis.BlamedModule and BlamedBy.

// maxUnloadable bounds the distinct image names kept from "Unable to load image" lines.
const maxUnloadable = 64

// bs returns the blame state, made on first use: most text holds none of these shapes.
func (p *parser) bs() *blameState {
	if p.bl == nil {
		p.bl = &blameState{}
	}
	return p.bl
}

// toolReport is the first crash of a crash tool's report (later crashes of the same
// report are ignored, so that code, arguments and module come from one crash).
type toolReport struct {
	seen        bool // a line of the report was read
	done        bool // the first crash ended; later ones are ignored
	module      string
	code        string
	args        []string
	name        string
	dumpFile    string
	path        string
	product     string
	company     string
	description string
	version     string
	build       int
	arch        string
}

// blameState collects the shapes of this file while the parser reads.
type blameState struct {
	wc         []toolReport  // WhoCrashed: each crash of the report, newest first as it lists them
	wcAdvice   string        // WhoCrashed's "look for an update for the following driver: X"
	bsv        toolReport    // BlueScreenView
	stop       toolReport    // the stop screen (Windows 8 and later, or the old "*** STOP:")
	wer        toolReport    // the problem signature of a BlueScreen report (Reliability Monitor)
	unloadable []string      // third-party images the debugger could not load, distinct
	ipLabel    string        // the first third-party "module!function+offset:" label (a register or trap listing's instruction)
	named      distinctNames // driver files the text names anywhere
	framed     distinctNames // modules of stack frames printed outside the analysis' stack
	crashWords bool          // the text speaks of a crash (a bug check name, "BSOD", "blue screen", ...)
	proseCodes []uint32      // the bug checks named in words before any analysis (proseBugcheck), distinct
	infoLines  int           // lines left of a stop screen's block below "give them this info:"
}

// maxProseCodes bounds proseCodes: a text that names more bug checks is a list of them, and
// names none in particular.
const maxProseCodes = 4

// noteProse records the bug checks line s names in words, while no analysis has begun.
func (p *parser) noteProse(s string) {
	if len(p.fields) > 0 || p.headerCode != "" || p.braceCode != "" || p.bl != nil && len(p.bl.proseCodes) > maxProseCodes {
		return
	}
	if t := firstToken(s); isBugcheckName(t) && strings.HasPrefix(strings.TrimLeft(s[len(t):], " "), "(") {
		return // "NAME (d1)", "NAME (acme.sys)": the debugger's header or a stop screen, read as such
	}
	proseBugcheck(s, func(code uint32) {
		bl := p.bs()
		bl.crashWords = true
		if !slices.Contains(bl.proseCodes, code) {
			bl.proseCodes = append(bl.proseCodes, code)
		}
	})
}

// toolLine reads a line of a WhoCrashed or BlueScreenView report or of a stop screen. It
// reports whether s was one.
func (p *parser) toolLine(s string) bool {
	if p.bl != nil && p.bl.infoLines > 0 && p.stopInfoLine(s) {
		return true
	}
	switch s[0] {
	case 'O', 'c', 'T', 'B', 'E', 'f', 'p', 'd', 'A', 'I':
		if p.whoCrashed(s) {
			return true
		}
	case '*':
		return p.oldStopScreen(s)
	case '=':
		if strings.HasPrefix(s, "=====") && strings.Trim(s, "=") == "" {
			// BlueScreenView puts a rule of '=' around each crash.
			if p.bl != nil && p.bl.bsv.seen {
				p.bl.bsv.done = true
			}
			return true
		}
		return false
	}
	if p.stopScreen(s) {
		return true
	}
	if (s[0] == 'P' || s[0] == 'C' || s[0] == 'O') && p.werLine(s) {
		return true
	}
	if p.blueScreenView(s) {
		return true
	}
	return isHexByte(s[0]) && p.blueScreenViewRow(s)
}

// whoCrashed reads WhoCrashed's report of one crash:
//
//	On Tue 3/4/2025 9:12:01 PM your computer crashed or a problem was reported
//	crash dump file: C:\Windows\Minidump\030425-9843-01.dmp
//	This was probably caused by the following module: acmefltr.sys (acmefltr+0x1a2b)
//	Bugcheck code: 0xD1 (0x10, 0x2, 0x0, 0xFFFFF8012A3B1A2B)
//	Error: DRIVER_IRQL_NOT_LESS_OR_EQUAL
//	file path: C:\Windows\system32\drivers\acmefltr.sys
//	product: ACME Endpoint
//	company: ACME Corp.
//	description: ACME file filter
func (p *parser) whoCrashed(s string) bool {
	if p.bl == nil && !(strings.HasPrefix(s, "On ") || strings.HasPrefix(s, "This was probably") ||
		strings.HasPrefix(s, "Bugcheck code:") || strings.Contains(s, "look for an update")) {
		return false // no report has begun: only its first lines are looked for
	}
	bl := p.bs()
	if strings.HasPrefix(s, "On ") && strings.Contains(s, " your computer crashed") {
		if len(bl.wc) < maxToolCrashes {
			bl.wc = append(bl.wc, toolReport{seen: true}) // the next crash of the report
		} else {
			bl.wc[len(bl.wc)-1].done = true
		}
		return true
	}
	if v, ok := strings.CutPrefix(s, "This was probably caused by the following module:"); ok {
		if r := p.wcCrash(); !r.done {
			r.seen = true
			if r.module == "" {
				r.module = p.keep(fileToken(v))
			}
		}
		return true
	}
	if i := strings.Index(s, "look for an update for the following driver:"); i >= 0 {
		if p.bl.wcAdvice == "" {
			p.bl.wcAdvice = p.keep(fileToken(s[i+len("look for an update for the following driver:"):]))
		}
		return true
	}
	if v, ok := strings.CutPrefix(s, "Bugcheck code:"); ok {
		// The colon tells it from the debugger's "Bugcheck code 000000D1".
		if r := p.wcCrash(); !r.done {
			r.seen = true
			code, args := codeAndArgs(strings.TrimSpace(v))
			if r.code == "" && code != "" {
				r.code, r.args = p.keep(code), p.keepAll(args)
			}
		}
		return true
	}
	if len(bl.wc) == 0 {
		return false
	}
	r := &bl.wc[len(bl.wc)-1]
	if !r.seen || r.done {
		return false
	}
	label, val, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	val = strings.TrimSpace(val)
	dst := (*string)(nil)
	switch label {
	case "crash dump file":
		dst = &r.dumpFile
	case "Error":
		if isBugcheckName(val) {
			dst = &r.name
		}
	case "file path":
		dst = &r.path
	case "product":
		dst = &r.product
	case "company":
		dst = &r.company
	case "description":
		dst = &r.description
	case "Bug check description":
		return true
	}
	if dst == nil {
		return false
	}
	if *dst == "" {
		*dst = p.keep(val)
	}
	return true
}

// maxToolCrashes bounds the crashes of one WhoCrashed report that are kept.
const maxToolCrashes = 32

// wcCrash is the WhoCrashed crash being read (one is begun when a report is pasted
// without its "On ... your computer crashed" line).
func (p *parser) wcCrash() *toolReport {
	bl := p.bs()
	if len(bl.wc) == 0 {
		bl.wc = append(bl.wc, toolReport{seen: true})
	}
	return &bl.wc[len(bl.wc)-1]
}

// wcChosen is the crash of a WhoCrashed report the analysis describes: the first (newest)
// that names a third-party module, else the first. A report of several dumps often blames
// the kernel for some and the driver for others; the driver is the finding.
func (bl *blameState) wcChosen() *toolReport {
	for i := range bl.wc {
		if m := bl.wc[i].module; usableModule(m) && !analysis.IsMicrosoftModule(m) {
			return &bl.wc[i]
		}
	}
	for i := range bl.wc {
		if usableModule(bl.wc[i].module) {
			return &bl.wc[i]
		}
	}
	if len(bl.wc) > 0 {
		return &bl.wc[0]
	}
	return &noReport
}

// noReport stands for a report that was not pasted; it is only read.
var noReport toolReport

// werLine reads the problem signature Windows shows for a blue screen (Reliability
// Monitor, Problem Reports): "Problem Event Name: BlueScreen", "Code: 3b", "Parameter 1:
// c0000005", ..., "OS version: 10_0_22631". Its "Bucket ID:" is read as BUCKET_ID.
func (p *parser) werLine(s string) bool {
	label, val, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	label, val = strings.TrimSpace(label), strings.TrimSpace(val)
	if label == "Problem Event Name" {
		if strings.EqualFold(val, "BlueScreen") {
			p.bs().wer.seen = true
			return true
		}
		return false
	}
	if p.bl == nil || !p.bl.wer.seen || p.bl.wer.done || val == "" {
		return false
	}
	r := &p.bl.wer
	switch {
	case label == "Code":
		if isAddrValue(val) && r.code == "" {
			r.code = p.keep(val)
		}
	case len(label) == len("Parameter 1") && strings.HasPrefix(label, "Parameter ") && label[10] >= '1' && label[10] <= '4':
		i := int(label[10] - '1')
		for len(r.args) <= i {
			r.args = append(r.args, "")
		}
		if isAddrValue(val) && r.args[i] == "" {
			r.args[i] = p.keep(val)
		}
	case label == "OS version" || label == "OS Version":
		// "10_0_22631" or "10.0.22631.2.0.0.256.48".
		if f := strings.FieldsFunc(val, func(c rune) bool { return c == '_' || c == '.' }); len(f) >= 3 {
			if n, err := strconv.Atoi(f[2]); err == nil && n > 2000 && r.build == 0 {
				r.build = n
			}
		}
	default:
		return false
	}
	return true
}

// blueScreenView reads BlueScreenView's text report ("Save Selected Items"): one
// "Label : value" line per column, a rule of '=' around each crash. The labels are read in
// English and German (bsvLabels), also when a paste made the report a list ("- Label: value").
func (p *parser) blueScreenView(s string) bool {
	s = strings.TrimPrefix(s, "- ")
	c := strings.IndexByte(s, ':')
	if c <= 0 {
		return false
	}
	label, ok := bsvLabels[strings.TrimRight(s[:c], " ")]
	if !ok {
		return false
	}
	val := strings.TrimSpace(s[c+1:])
	var r *toolReport
	switch label {
	case "Dump File", "Bug Check String", "Bug Check Code", "Caused By Driver", "Caused By Address":
		r = &p.bs().bsv
		if r.done && label == "Dump File" {
			return true
		}
		r.seen = true
	case "Crash Time", "Parameter 1", "Parameter 2", "Parameter 3", "Parameter 4", "File Description",
		"Product Name", "Company", "File Version", "Processor", "Crash Address", "Stack Address 1",
		"Stack Address 2", "Stack Address 3", "Computer Name", "Full Path", "Processors Count",
		"Major Version", "Minor Version", "Dump File Size", "Dump File Time":
		if p.bl == nil || !p.bl.bsv.seen {
			return false
		}
		r = &p.bl.bsv
	default:
		return false
	}
	if r.done || val == "" {
		return true
	}
	set := func(dst *string) {
		if *dst == "" {
			*dst = p.keep(val)
		}
	}
	switch label {
	case "Dump File":
		set(&r.dumpFile)
	case "Bug Check String":
		if isBugcheckName(val) {
			set(&r.name)
		}
	case "Bug Check Code":
		if isAddrValue(val) {
			set(&r.code)
		}
	case "Parameter 1", "Parameter 2", "Parameter 3", "Parameter 4":
		i := int(label[len(label)-1] - '1')
		for len(r.args) <= i {
			r.args = append(r.args, "")
		}
		if isAddrValue(val) && r.args[i] == "" {
			r.args[i] = p.keep(val)
		}
	case "Caused By Driver":
		if isFileName(val) {
			set(&r.module)
		}
	case "File Description":
		set(&r.description)
	case "Product Name":
		set(&r.product)
	case "Company":
		set(&r.company)
	case "File Version":
		set(&r.version)
	case "Full Path":
		if r.dumpFile == "" || strings.HasSuffix(val, r.dumpFile) {
			r.dumpFile = p.keep(val)
		}
	case "Processor":
		r.arch = normArch(val)
	case "Minor Version":
		if n, err := strconv.Atoi(val); err == nil && n > 2000 {
			r.build = n
		}
	}
	return true
}

// bsvLabels maps BlueScreenView's column names, in English and in its German translation,
// to the English ones.
var bsvLabels = func() map[string]string {
	m := map[string]string{}
	for _, l := range []string{"Dump File", "Crash Time", "Bug Check String", "Bug Check Code",
		"Parameter 1", "Parameter 2", "Parameter 3", "Parameter 4", "Caused By Driver",
		"Caused By Address", "File Description", "Product Name", "Company", "File Version",
		"Processor", "Crash Address", "Stack Address 1", "Stack Address 2", "Stack Address 3",
		"Computer Name", "Full Path", "Processors Count", "Major Version", "Minor Version",
		"Dump File Size", "Dump File Time"} {
		m[l] = l
	}
	for de, en := range map[string]string{"Dump-Datei": "Dump File", "Absturzzeit": "Crash Time",
		"Fehlerprüfstring": "Bug Check String", "Fehlerprüfcode": "Bug Check Code",
		"Verursachender Treiber": "Caused By Driver", "Verursachende Adresse": "Caused By Address",
		"Dateibeschreibung": "File Description", "Produktname": "Product Name", "Hersteller": "Company",
		"Dateiversion": "File Version", "Prozessor": "Processor", "Absturzadresse": "Crash Address",
		"Stapeladresse 1": "Stack Address 1", "Stapeladresse 2": "Stack Address 2",
		"Stapeladresse 3": "Stack Address 3", "Computername": "Computer Name", "Pfad": "Full Path",
		"CPUs": "Processors Count", "Hauptversion": "Major Version", "Nebenversion": "Minor Version",
		"Dump-Dateigröße": "Dump File Size", "Dump-Dateizeit": "Dump File Time"} {
		m[de] = en
	}
	return m
}()

// blueScreenViewRow reads one crash as BlueScreenView copies it to the clipboard: its
// columns in one line (tab-separated as copied; the tabs are spaces by now):
//
//	030425-9843-01.dmp 3/4/2025 9:12:01 PM DRIVER_IRQL_NOT_LESS_OR_EQUAL 0x000000d1
//	00000000`00000010 00000000`00000002 00000000`00000000 fffff801`2a3b1a2b acmefltr.sys
//	acmefltr.sys+1a2b ...
//
// The row is recognised by its shape: a .dmp file name, the crash time, a bug check name
// (which can be empty) and code, four parameters, then the driver and the driver again
// with an offset.
func (p *parser) blueScreenViewRow(s string) bool {
	sp := strings.IndexByte(s, ' ')
	if sp < 5 || !strings.EqualFold(s[sp-4:sp], ".dmp") {
		return false
	}
	toks := strings.Fields(s)
	for k := 2; k < len(toks) && k <= 6; k++ {
		t := toks[k]
		if len(t) != 10 || !strings.HasPrefix(t, "0x") || !isHex(t[2:]) {
			continue
		}
		if k+6 >= len(toks) {
			return false
		}
		for _, a := range toks[k+1 : k+5] {
			if !isAddrValue(a) {
				return false
			}
		}
		drv, at := toks[k+5], toks[k+6]
		if !isFileName(drv) || !strings.HasPrefix(strings.ToLower(at), strings.ToLower(drv)+"+") {
			return false
		}
		r := &p.bs().bsv
		if r.done || r.code != "" {
			return true
		}
		r.seen, r.done = true, true
		r.dumpFile, r.code = p.keep(toks[0]), p.keep(t)
		if isBugcheckName(toks[k-1]) { // the Bug Check String column can be empty
			r.name = p.keep(toks[k-1])
		}
		r.args = p.keepAll(toks[k+1 : k+5])
		r.module = p.keep(drv)
		return true
	}
	return false
}

// stopCodeLabels and whatFailedLabels are the stop screen's labels in the languages seen in
// pasted screens: English, and German ("Stoppcode", Windows 11's "Stillstandcode",
// "Fehlerursache").
var (
	stopCodeLabels   = []string{"stop code", "stoppcode", "stillstandcode"}
	whatFailedLabels = []string{"what failed", "fehlerursache"}
)

// cutLabelsFold is cutLabelFold for the first of labels that s begins with.
func cutLabelsFold(s string, labels []string) (string, bool) {
	for _, l := range labels {
		if v, ok := cutLabelFold(s, l); ok {
			return v, true
		}
	}
	return "", false
}

// maxInfoLines bounds the block read below "give them this info:": a name, a driver and four
// parameters.
const maxInfoLines = 6

// stopInfoLine reads a line of the stop screen's block below "If you call a support person,
// give them this info:" when it is typed without labels, each value on a line of its own:
// the bug check name, the driver, and up to four parameters. Anything else ends the block.
func (p *parser) stopInfoLine(s string) bool {
	bl := p.bl
	bl.infoLines--
	t := strings.TrimSpace(s)
	r := &bl.stop
	if c, ok := dumpfile.BugcheckCode(t); ok && r.name == "" {
		r.name, r.seen = p.keep(t), true
		if r.code == "" {
			r.code = p.keep(strconv.FormatUint(uint64(c), 16))
		}
		return true
	}
	if isDriverFile(t) && r.name != "" && r.module == "" {
		r.module = p.keep(t)
		return true
	}
	if isAddrValue(t) && strings.HasPrefix(t, "0x") && r.name != "" && len(r.args) < 4 {
		r.args = append(r.args, p.keep(t))
		return true
	}
	bl.infoLines = 0
	return false
}

// stopScreen reads the stop screen of Windows 8 and later as people type it out:
// "Stop code: DRIVER_IRQL_NOT_LESS_OR_EQUAL" and "What failed: acmefltr.sys" (also in German),
// or the bare values below "give them this info:" (stopInfoLine).
func (p *parser) stopScreen(s string) bool {
	if strings.HasSuffix(strings.TrimRight(s, ": "), "give them this info") {
		p.bs().infoLines = maxInfoLines
		return true
	}
	if v, ok := cutLabelsFold(s, stopCodeLabels); ok {
		name, code := v, ""
		if i := strings.IndexAny(v, " ("); i > 0 {
			name = v[:i]
			if c, _ := codeAndArgs(strings.Trim(strings.TrimSpace(v[i:]), "()")); c != "" {
				code = c
			}
		}
		r := &p.bs().stop
		switch {
		case isBugcheckName(name):
			if r.name == "" {
				r.name, r.code = p.keep(name), p.keep(code)
			}
		case isAddrValue(name):
			if r.code == "" {
				r.code = p.keep(name)
			}
		default:
			return false
		}
		r.seen = true
		return true
	}
	if (strings.Contains(s, ".sys)") || strings.Contains(s, ".SYS)")) && p.stopScreenParen(s) {
		return true
	}
	if v, ok := cutLabelsFold(s, whatFailedLabels); ok {
		if f := fileToken(v); isFileName(f) {
			r := &p.bs().stop
			if r.module != "" {
				return true
			}
			r.module = p.keep(f)
			r.seen = true
			return true
		}
	}
	return false
}

// oldStopScreen reads the stop screen of Windows NT to 7:
// "*** STOP: 0x000000D1 (0x00000010,0x00000002,0x00000000,0xF86B5A89)" and
// "***  acmefltr.sys - Address F86B5A89 base at F86A0000, DateStamp 3d6dd67c".
func (p *parser) oldStopScreen(s string) bool {
	rest, ok := strings.CutPrefix(s, "***")
	if !ok {
		return false
	}
	rest = strings.TrimSpace(rest)
	if v, ok := strings.CutPrefix(rest, "STOP:"); ok {
		code, args := codeAndArgs(strings.TrimSpace(v))
		if code == "" {
			return false
		}
		r := &p.bs().stop
		if r.code == "" {
			r.code, r.args = p.keep(code), p.keepAll(args)
		}
		r.seen = true
		return true
	}
	if i := strings.Index(rest, " - Address "); i > 0 && strings.Contains(rest[i:], " base at ") {
		if f := rest[:i]; isFileName(f) && p.bs().stop.module == "" {
			p.bl.stop.module = p.keep(f)
			p.bl.stop.seen = true
		}
		return true
	}
	return false
}

// ipLabelLine reads the label the debugger prints above the instruction of a register,
// context or trap listing ("acmefltr!Fn+0x13:"), and keeps the first whose module is not
// Windows' own. It reports whether s was one.
func (p *parser) ipLabelLine(s string) bool {
	if len(s) < 4 || s[len(s)-1] != ':' || strings.IndexByte(s, ' ') >= 0 {
		return false
	}
	site, _, ok := callSite(s[:len(s)-1])
	if !ok {
		return false
	}
	if m := ipModule(site); usableModule(m) && !analysis.IsMicrosoftModule(m) && (p.bl == nil || p.bl.ipLabel == "") {
		p.bs().ipLabel = p.keep(m)
	}
	return true
}

// stopScreenParen reads the stop screen of Windows 8 and 8.1 as people copy it into a
// sentence: a bug check name with the driver in parentheses ("... for this error:
// SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (acmefltr.sys)"). The name must be one the bug check
// reference knows.
func (p *parser) stopScreenParen(s string) bool {
	for i := strings.IndexByte(s, '('); i > 0; {
		end := strings.IndexByte(s[i:], ')')
		if end < 0 {
			return false
		}
		inner := s[i+1 : i+end]
		if f := strings.ToLower(inner); isFileName(inner) && (strings.HasSuffix(f, ".sys") || strings.HasSuffix(f, ".dll") || strings.HasSuffix(f, ".exe")) {
			before := strings.TrimRight(s[:i], " .")
			name := before[strings.LastIndexAny(before, " '\"`")+1:]
			if c, ok := dumpfile.BugcheckCode(name); ok {
				r := &p.bs().stop
				if r.module == "" {
					r.seen = true
					r.module, r.name = p.keep(inner), p.keep(name)
					if r.code == "" {
						r.code = p.keep(strconv.FormatUint(uint64(c), 16))
					}
				}
				return true
			}
		}
		next := strings.IndexByte(s[i+end:], '(')
		if next < 0 {
			return false
		}
		i += end + next
	}
	return false
}

// bucketModule is the module a failure bucket names: the image after "_IMAGE_"
// ("0x9F_3_acme_IMAGE_pci.sys"), else the module of its class part (analysis.BucketModules).
func bucketModule(b string) string {
	m, img := analysis.BucketModules(b)
	if strings.Contains(b, "_IMAGE_") {
		return fileToken(img)
	}
	return m
}

// maxMentioned bounds the distinct driver files noted from prose; a text that names more
// (an lm listing, say) is no prose about one driver.
const maxMentioned = 8

// noteMentions records, from any line, the driver files it names ("... citing acme.sys
// as the cause") and whether it speaks of a crash: for text that holds no analysis at all
// the one driver it names is blamed (see finish and mentionedDriver), and an analysis
// reports the drivers it names beside its modules (namedDrivers).
func (p *parser) noteMentions(s string) {
	if !p.crashWordsSeen() && speaksOfCrash(s) {
		p.bs().crashWords = true
	}
	lower := -1
	for i := strings.IndexByte(s, '.'); i >= 0 && i+4 <= len(s); {
		if (s[i+1] == 's' || s[i+1] == 'S') && strings.EqualFold(s[i:i+4], ".sys") &&
			!(i+4 < len(s) && (isLetter(s[i+4]) || s[i+4] >= '0' && s[i+4] <= '9')) { // not ".system"
			start := i
			for start > 0 {
				c := s[start-1]
				if isLetter(c) || isDigit(c) || c == '_' || c == '-' ||
					// a version inside the name: "portmaster_kext_v1.0.15.sys"
					c == '.' && start >= 2 && isDigit(s[start-2]) && start < i && isDigit(s[start]) {
					start--
					continue
				}
				break
			}
			if start > lower && start < i {
				p.noteMention(s[start : i+4])
			}
			lower = i
		}
		next := strings.IndexByte(s[i+1:], '.')
		if next < 0 {
			break
		}
		i += next + 1
	}
}

func (p *parser) crashWordsSeen() bool { return p.bl != nil && p.bl.crashWords }

// maxNamed bounds the driver files and frame modules kept for Analysis.MentionedDrivers.
const maxNamed = 512

// noteMention records one driver file the text names.
func (p *parser) noteMention(f string) {
	p.bs().named.add(f, p.keep)
}

// noteFrame records the module of a stack frame printed outside the analysis' own stack
// (a `!thread`, `kv` or `dps` listing below it): "ffffd001`2f4e6c30 fffff801`5a003c11
// aswSP+0x12c4" names aswSP. The first token after the addresses that reads as
// module!symbol or module+0x offset is the frame.
func (p *parser) noteFrame(s string) {
	for t := range strings.FieldsSeq(s) {
		if t == ":" || isAddr(t) {
			continue
		}
		f := splitSymbol(t)
		if f.Module != "" && (f.Symbol != "" || strings.HasPrefix(f.Offset, "0x")) && isModuleName(f.Module) {
			p.bs().framed.add(f.Module, p.keep)
		}
		return
	}
}

// isModuleName reports a debugger module name: letters, digits, '_' and '-', and no more
// than 64 of them.
func isModuleName(m string) bool {
	if len(m) > 64 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; !(isLetter(c) || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return m != ""
}

// distinctNames is a list of names without repeats (in any case), up to maxNamed.
type distinctNames struct {
	list []string
	seen map[string]bool // lower-case names, made once the list is too long for a walk
}

// add appends v, kept through keep, unless the list holds it already or is full.
func (d *distinctNames) add(v string, keep func(string) string) {
	if len(d.list) >= maxNamed {
		return
	}
	if d.seen == nil {
		for _, o := range d.list {
			if strings.EqualFold(o, v) {
				return
			}
		}
		d.list = append(d.list, keep(v))
		if len(d.list) == 16 { // most texts name a handful; an lm listing names hundreds
			d.seen = make(map[string]bool, 64)
			for _, o := range d.list {
				d.seen[strings.ToLower(o)] = true
			}
		}
		return
	}
	var buf [128]byte
	k := buf[:0]
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		k = append(k, c)
	}
	if !d.seen[string(k)] { // no allocation for the lookup
		d.seen[string(k)] = true
		d.list = append(d.list, keep(v))
	}
}

// namedDrivers are the third-party driver files of bl.named that a holds nowhere else (its
// module list, stack, MODULE_NAME, IMAGE_NAME or blamed module), in the order the text
// names them.
func (bl *blameState) namedDrivers(a *analysis.Analysis) []string {
	var out []string
	add := func(f string, file bool) {
		if file && !isFileName(f) || analysis.IsMicrosoftModule(f) || analysis.IsPlaceholderModule(f) || bl.held(a, f) {
			return
		}
		for _, o := range out {
			if analysis.SameModule(o, f) {
				return
			}
		}
		out = append(out, f)
	}
	for _, f := range bl.named.list {
		f = stripLostPath(f)
		if i := strings.LastIndex(f, "_IMAGE_"); i >= 0 { // a failure bucket's "..._IMAGE_acme.sys"
			f = f[i+len("_IMAGE_"):]
		}
		add(f, true)
	}
	if a.BugcheckCode != "" {
		// Frames of a kernel crash's other stacks are drivers; a user-mode process's are DLLs.
		for _, f := range bl.framed.list {
			add(f, false)
		}
	}
	return out
}

// held reports whether a names module f already: in its module list, its stack, MODULE_NAME,
// IMAGE_NAME, the third-party frame or the blamed module.
func (bl *blameState) held(a *analysis.Analysis, f string) bool {
	if a.Module(f) != nil {
		return true
	}
	for _, m := range [...]string{a.BlamedModule, a.ModuleName, a.ImageName, a.ThirdPartyModule} {
		if analysis.SameModule(m, f) {
			return true
		}
	}
	for _, fr := range a.Stack {
		if analysis.SameModule(fr.Module, f) {
			return true
		}
	}
	return false
}

// mentionedDriver is the one third-party driver file the text names; else, when it names no
// third-party driver, the one driver of Windows' own it names (windows is true), not counting
// the kernel images; else "".
func (bl *blameState) mentionedDriver() (f string, windows bool) {
	if len(bl.named.list) > maxMentioned {
		return "", false
	}
	third, own, owns := "", "", 0
	for _, f := range bl.named.list {
		f = stripLostPath(f)
		switch {
		case !isFileName(f):
		case !analysis.IsMicrosoftModule(f):
			if third != "" && !strings.EqualFold(third, f) {
				return "", false
			}
			third = f
		case !analysis.IsKernelModule(f) && !strings.EqualFold(own, f):
			own, owns = f, owns+1
		}
	}
	if third != "" {
		return third, false
	}
	if owns == 1 {
		return own, true
	}
	return "", false
}

// minExcerptFrames is the fewest frames a pasted stack needs to blame its module.
const minExcerptFrames = 2

// stackExcerpt is, for a text with no analysis, the module of the innermost frame not of
// Windows' own in the stack it pastes (frames listed innermost first, as every debugger
// prints them), or "".
func (bl *blameState) stackExcerpt() string {
	if bl == nil || len(bl.framed.list) < minExcerptFrames {
		return ""
	}
	for _, m := range bl.framed.list {
		if usableModule(m) && !analysis.IsMicrosoftModule(m) {
			return m
		}
	}
	return ""
}

// maxExamined bounds the modules of a text whose one third-party module counts as examined:
// a person shows the suspect with lmvm, not a whole list.
const maxExamined = 3

// examinedModule is, for a text with no analysis that shows a few modules (lmvm), the one not
// of Windows' own, or "".
func examinedModule(a *analysis.Analysis) string {
	if len(a.Modules) == 0 || len(a.Modules) > maxExamined {
		return ""
	}
	one := ""
	for i := range a.Modules {
		m := &a.Modules[i]
		if a.IsMicrosoft(m.Name) {
			continue
		}
		if one != "" {
			return ""
		}
		one = m.ImageName
		if one == "" {
			one = m.Name
		}
	}
	return one
}

// stripLostPath takes the file name out of a path whose backslashes a paste lost
// ("C:WINDOWSsystem32driversnetio.sys").
func stripLostPath(f string) string {
	l := strings.ToLower(f)
	for _, dir := range [...]string{"system32drivers", "drivers", "system32"} {
		if i := strings.LastIndex(l, dir); i >= 0 && i+len(dir) < len(l)-4 && (strings.Contains(l[:i], "windows") || dir == "system32drivers") {
			return f[i+len(dir):]
		}
	}
	return f
}

// speaksOfCrash reports a line that speaks of a blue screen: the words people use for it,
// or a bug check name the reference knows.
func speaksOfCrash(s string) bool {
	for _, w := range [...]string{"BSOD", "BSoD", "blue screen", "Blue Screen", "Blue screen", "bluescreen", "Bluescreen", "bugcheck", "BugCheck", "Bugcheck", "bug check", "Stop code", "STOP CODE", "stop code", "crash", "Crash"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	if strings.IndexByte(s, '_') < 0 {
		return false
	}
	for i := 0; i < len(s); {
		for i < len(s) && !isNameByte(s[i]) {
			i++
		}
		j := i
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		if t := s[i:j]; strings.IndexByte(t, '_') > 0 {
			if _, ok := dumpfile.BugcheckCode(t); ok {
				return true
			}
		}
		i = j
	}
	return false
}

// isNameByte reports a byte of a bug check name: upper-case letters, digits and '_'.
func isNameByte(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' }

// noteImage records an image the debugger could not load or find symbols for
// ("Unable to load image \SystemRoot\system32\DRIVERS\acmefltr.sys, Win32 error 0n2"),
// when it is not Windows' own.
func (p *parser) noteImage(s string) {
	var v string
	switch {
	case strings.HasPrefix(s, "Unable to load image "):
		v = s[len("Unable to load image "):]
		if i := strings.IndexByte(v, ','); i >= 0 {
			v = v[:i]
		}
	case strings.Contains(s, "symbols could not be loaded for "):
		v = s[strings.Index(s, "symbols could not be loaded for ")+len("symbols could not be loaded for "):]
	case strings.Contains(s, "Unable to verify timestamp for "):
		v = s[strings.Index(s, "Unable to verify timestamp for ")+len("Unable to verify timestamp for "):]
	default:
		return
	}
	v = strings.TrimSpace(v)
	if i := strings.LastIndexAny(v, `\/`); i >= 0 {
		v = v[i+1:]
	}
	if !isFileName(v) || analysis.IsMicrosoftModule(v) || analysis.IsPlaceholderModule(v) ||
		len(p.bs().unloadable) >= maxUnloadable {
		return
	}
	for _, u := range p.bl.unloadable {
		if strings.EqualFold(fileBase(u), fileBase(v)) {
			return
		}
	}
	p.bl.unloadable = append(p.bl.unloadable, p.keep(v))
}

// blame picks the blamed module of an analysis that names none itself (no usable
// MODULE_NAME or IMAGE_NAME), in order: a crash tool's verdict, the stop screen, the
// analysis' FAULTING_IP, the third-party instruction of its exception record or of a
// register listing, its failure bucket, its FAULTING_MODULE (finish adds the one
// third-party image the debugger could not load). It also adds the tool's facts the analysis lacks (code, arguments, name, and
// the module's version resource as a module entry).
func (p *parser) blame(a *analysis.Analysis) {
	if usableModule(a.ModuleName) || usableModule(a.ImageName) {
		return
	}
	if bl := p.bl; bl != nil {
		for _, c := range [...]struct {
			r  *toolReport
			by string
		}{{bl.wcChosen(), analysis.BlamedByWhoCrashed}, {&bl.bsv, analysis.BlamedByBlueScreenView}, {&bl.stop, analysis.BlamedByStopScreen}, {&bl.wer, ""}} {
			r := c.r
			if !r.seen {
				continue
			}
			if a.DumpFile == "" {
				a.DumpFile = r.dumpFile
			}
			if a.OSBuild == 0 {
				a.OSBuild = r.build
			}
			if a.Arch == "" {
				a.Arch = r.arch
			}
			mod := r.module
			if c.by == analysis.BlamedByWhoCrashed && !usableModule(mod) {
				mod = bl.wcAdvice
			}
			if a.BlamedModule == "" && c.by != "" && usableModule(mod) {
				a.BlamedModule, a.BlamedBy = mod, c.by
				p.toolModule(a, r, mod)
			}
		}
		if a.BlamedModule == "" && usableModule(bl.wcAdvice) {
			a.BlamedModule, a.BlamedBy = bl.wcAdvice, analysis.BlamedByWhoCrashed
		}
		if a.BlamedModule != "" {
			return
		}
	}
	if m := ipModule(p.fields["FAULTING_IP"]); usableModule(m) {
		a.BlamedModule, a.BlamedBy = m, analysis.BlamedByFaultingIP
		return
	}
	if i := strings.IndexByte(p.exr.Address, '('); i >= 0 {
		// "fffff806`72b9c713 (acme!cpu_number+0x13)": the exception record's instruction.
		if m := ipModule(strings.Trim(p.exr.Address[i:], "()")); usableModule(m) && !analysis.IsMicrosoftModule(m) {
			a.BlamedModule, a.BlamedBy = m, analysis.BlamedByExceptionAddress
			return
		}
	}
	if p.bl != nil && p.bl.ipLabel != "" {
		a.BlamedModule, a.BlamedBy = p.bl.ipLabel, analysis.BlamedByExceptionAddress
		return
	}
	for _, b := range [...]string{a.FailureBucketID, a.BucketID, p.kv["Failure.Bucket"]} {
		if m := bucketModule(b); usableModule(m) {
			a.BlamedModule, a.BlamedBy = m, analysis.BlamedByBucket
			return
		}
	}
	if f := strings.Fields(p.fields["FAULTING_MODULE"]); len(f) > 0 && usableModule(f[len(f)-1]) {
		a.BlamedModule, a.BlamedBy = f[len(f)-1], analysis.BlamedByFaultingModule
	}
	// The one image the debugger could not load comes last, in finish: only an analysis
	// may blame it.
}

// toolModule adds the blamed module's version-resource facts a crash tool printed as a
// module entry, unless a listing already holds the module.
func (p *parser) toolModule(a *analysis.Analysis, r *toolReport, file string) {
	if r.path == "" && r.company == "" && r.product == "" && r.description == "" && r.version == "" {
		return
	}
	if a.Module(file) != nil || len(a.Modules) >= maxModules {
		return
	}
	a.Modules = append(a.Modules, analysis.Module{
		Name: fileBase(file), ImageName: file, ImagePath: r.path, FileVersion: r.version,
		CompanyName: r.company, ProductName: r.product, FileDescription: r.description,
	})
}

// toolCode is the bug check code, arguments and name a crash tool or stop screen gave,
// for an analysis that printed none.
func (p *parser) toolCode() (code string, args []string, name string) {
	for _, r := range [...]*toolReport{p.bl.wcChosen(), &p.bl.bsv, &p.bl.stop, &p.bl.wer} {
		if code == "" && r.code != "" {
			code, args = r.code, r.args
		}
		if name == "" && r.name != "" {
			name = r.name
		}
	}
	if code == "" && name != "" {
		if c, ok := dumpfile.BugcheckCode(name); ok {
			code = strconv.FormatUint(uint64(c), 16)
		}
	}
	return code, args, name
}

// ipModule is the module of a FAULTING_IP value ("acmefltr+1a2b", "nt!memcpy+33",
// "acmefltr.sys+1a2b"), or "".
func ipModule(v string) string {
	t := firstToken(strings.TrimSpace(v))
	if i := strings.IndexByte(t, '!'); i >= 0 {
		return t[:i]
	}
	if i := strings.LastIndexByte(t, '+'); i > 0 {
		return t[:i]
	}
	return ""
}

// usableModule reports a module name that can be blamed: a plain name, not a stand-in.
func usableModule(m string) bool {
	return m != "" && isFileName(m) && !analysis.IsPlaceholderModule(m) && !strings.EqualFold(m, "unknown")
}

// isFileName reports a module or image file name: letters, digits, '_', '-', '.' and
// '$', at most 64 bytes, beginning with a letter, digit or '_', and not a hex number.
func isFileName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLetter(c) || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '$') {
			return false
		}
	}
	if c := s[0]; !(isLetter(c) || c >= '0' && c <= '9' || c == '_') {
		return false
	}
	return !isHex(strings.TrimPrefix(s, "0x"))
}

// fileToken is the first token of v (a file name followed by " (...)"), trimmed.
func fileToken(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " ("); i >= 0 {
		v = v[:i]
	}
	return strings.TrimRight(v, ".,;")
}

// isDriverFile reports a kernel driver's file name ("acme.sys", "ACME.SYS").
func isDriverFile(f string) bool {
	return isFileName(f) && len(f) > 4 && strings.EqualFold(f[len(f)-4:], ".sys")
}

// fileBase is a file name without its extension ("acmefltr.sys" is "acmefltr").
func fileBase(f string) string {
	if i := strings.LastIndexByte(f, '.'); i > 0 {
		return f[:i]
	}
	return f
}

// isBugcheckName reports a symbolic bug check name: upper-case letters, digits and '_',
// with at least one '_' ("DRIVER_IRQL_NOT_LESS_OR_EQUAL").
func isBugcheckName(s string) bool {
	if len(s) < 4 || len(s) > 80 || strings.IndexByte(s, '_') < 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isKeyChar(s[i]) {
			return false
		}
	}
	return s[0] >= 'A' && s[0] <= 'Z'
}

// codeAndArgs reads "0xD1 (0x10, 0x2, 0x0, 0xFFFFF8012A3B1A2B)": a code and the arguments
// in parentheses, separated by commas.
func codeAndArgs(v string) (string, []string) {
	code := firstToken(v)
	if !isAddrValue(code) {
		return "", nil
	}
	rest := strings.TrimSpace(v[len(code):])
	if end := strings.IndexByte(rest, ')'); end > 0 {
		if args, ok := parenArgs(rest[:end+1]); ok {
			return code, args
		}
	}
	return code, nil
}

// cutLabelFold matches "Label<spaces>:<value>" ignoring the case of the label.
func cutLabelFold(s, label string) (string, bool) {
	if len(s) <= len(label) || !strings.EqualFold(s[:len(label)], label) {
		return "", false
	}
	r := strings.TrimLeft(s[len(label):], " ")
	if r == "" || r[0] != ':' {
		return "", false
	}
	v := strings.TrimSpace(r[1:])
	return v, v != ""
}

func (p *parser) keepAll(vals []string) []string {
	if len(vals) == 0 {
		return nil
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = p.keep(v)
	}
	return out
}
