package cdbout

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// Bounds that keep memory flat whatever the input holds.
const (
	maxFrames   = 1024
	maxFields   = 4096
	maxModules  = 8192
	maxErrors   = 200
	maxValueLen = 64 << 10
	maxCommands = 1000

	maxArena      = 1 << 20 // bytes of kept values in the parser's arena
	maxArenaValue = 1 << 10 // larger values are allocated on their own
)

type state int

const (
	stNone state = iota
	stStack
	stKeyValues
	stLM
)

// parser is the line-by-line state machine. Fields that several forms of output can give
// (the bugcheck code, the arguments, the exception code) are collected per form and chosen
// in finish by precedence.
type parser struct {
	a  *analysis.Analysis
	st state

	fields  map[string]string
	kv      map[string]string
	kvKey   []byte // the pending "Key :" of KEY_VALUES_STRING (a copy: the line is gone)
	session analysis.Session
	exr     analysis.ExceptionRecord

	headerCode, headerName string
	braceCode, codeLine    string
	unknownCode            string
	fatalCode              string   // "*** Fatal System Error: 0x000000c4" of a live kernel debugger
	fatalArgs              []string // its "(0x..,0x..,0x..,0x..)" line
	pendingFatal           bool     // the arguments line is still to come
	args, pArgs            [4]string
	braceArgs              []string

	excEvent      string
	followupLine  string
	probableImage string

	lastKey      string    // a KEY: with an empty value, waiting for a wrapped value
	resume       state     // the block a blank line just ended, which the next line may continue
	resumeModule int       // curModule of that lm block
	pendingArg   int       // N when "ArgN:" had no value: web pages put it lines below, or 0
	kStack       bool      // the frames so far come from a k command, not from STACK_TEXT
	stackText    bool      // a STACK_TEXT was seen: k command stacks are then ignored
	afterBanner  bool      // the previous line was an analysis banner
	curModule    int       // index of the lm module that detail lines describe, or -1
	bareRow      moduleRow // a "start end name" line with no symbol state (kept copies)…
	bareRowLine  int       // …and its line number: it is a module row if details follow
	lastCommand  string
	pendingDiag  int // index of a diagnostic awaiting its detail line, or -1
	seenErr      map[string]bool

	bl            *blameState      // shapes that blame a module without MODULE_NAME (blame.go)
	reduced       bool             // the stack is a reduced one (call sites only): other lines end it
	pendingFrames []analysis.Frame // call-site lines outside a stack, until two in a row start one
	pendingLine   int              // lineNo of the last pending call-site line
	lineNo        int              // lines read, blank ones included

	arena     *strings.Builder // kept values (see keep2)
	arenaUsed int              // bytes of all arenas
	ascii     bool             // the current line is plain ASCII
}

func newParser() *parser {
	// Sized for a typical analysis (20-80 fields): growing a map rehashes it each time.
	return &parser{a: &analysis.Analysis{}, fields: make(map[string]string, 28), curModule: -1, pendingDiag: -1}
}

// line handles one clean logical line.
func (p *parser) line(s string) {
	p.lineNo++
	if s != "" && (strings.IndexByte(s, '.') >= 0) {
		p.noteMentions(s)
	} else if s != "" && !p.crashWordsSeen() && speaksOfCrash(s) {
		p.bs().crashWords = true
	}
	if s != "" {
		p.noteProse(s)
	}
	if s == "" {
		switch p.st {
		case stStack:
			if len(p.a.Stack) > 0 {
				p.st, p.resume = stNone, stStack
			}
		case stLM:
			p.st, p.resume, p.resumeModule = stNone, stLM, p.curModule
			p.curModule = -1
		}
		p.lastKey = ""
		return
	}
	if r := p.resume; r != stNone {
		// A blank line ends a stack or lm block, unless the text was re-flowed with a blank
		// line after every line: a line that can only belong to the block continues it.
		p.resume = stNone
		switch {
		case r == stStack && looksFrame(s):
			p.st = stStack
		case r == stLM && lmResumable(s):
			p.st, p.curModule = stLM, p.resumeModule
		}
	}
	if p.st == stNone && isHexByte(s[0]) && (strings.IndexByte(s, '!') >= 0 || strings.Contains(s, "+0x")) && looksFrame(s) {
		p.noteFrame(s) // a stack the analysis does not own: !thread, kv, dps
	}
	if p.pendingArg > 0 {
		// "Arg1:" then, blank lines below, the value and then ", memory referenced".
		i := p.pendingArg - 1
		p.pendingArg = 0
		if t := strings.TrimRight(firstToken(s), ","); isAddrValue(t) {
			p.args[i] = p.keep(t)
			return
		}
	}
	if p.pendingFatal {
		p.pendingFatal = false
		if args, ok := parenArgs(s); ok {
			p.fatalArgs = args
			return
		}
	}
	if p.pendingDiag >= 0 {
		i := p.pendingDiag
		p.pendingDiag = -1
		if s[0] == '"' {
			p.a.Diagnostics[i].Detail = p.keep(s)
			return
		}
	}
	if cmd, rest, ok := prompt(s); ok {
		p.command(cmd)
		if rest == "" {
			return
		}
		s = rest
	}
	if isBanner(s) {
		p.st, p.lastKey = stNone, ""
		if strings.Contains(s, "Analysis") {
			p.afterBanner = true
		}
		return
	}
	wasBanner := p.afterBanner
	if s[0] != '*' {
		p.afterBanner = false
	}
	if isRule(s) {
		if p.st == stStack && len(p.a.Stack) > 0 {
			p.st = stNone
		}
		p.lastKey = ""
		return
	}
	key, val, isKey := upperKey(s)
	if isKey && (key == "ERROR" || key == "WARNING") {
		isKey = false
	}
	switch p.st {
	case stStack:
		switch {
		case isKey:
			p.st = stNone
		case p.reduced && !p.continuesReduced(s):
			p.st = stNone // a reduced stack ends at the first line that is no frame
		default:
			p.frames(s)
			return
		}
	case stKeyValues:
		if p.keyValue(s) {
			return
		}
		if isKey {
			p.st = stNone
		}
	case stLM:
		if !isKey && p.lmLine(s) {
			return
		}
		p.st, p.curModule = stNone, -1
	}
	if isKey {
		p.field(key, val)
		return
	}
	if p.other(s, wasBanner) {
		p.lastKey = ""
		return
	}
	if p.lastKey != "" {
		// A value wrapped onto the next line (mail archives wrap at ~70 columns).
		p.setField(p.lastKey, s)
		p.lastKey = ""
	}
}

// isBanner reports a line of the asterisk box around "Bugcheck Analysis".
func isBanner(s string) bool {
	if s[0] != '*' {
		return false
	}
	letters := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '*' && c != ' ' {
			letters++
		}
	}
	if letters == 0 {
		return len(s) >= 3
	}
	return strings.Contains(s, "Bugcheck Analysis") || strings.Contains(s, "Exception Analysis")
}

// isRule reports a dashed separator line ("------------------", "---------").
func isRule(s string) bool {
	if len(s) < 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			return false
		}
	}
	return true
}

// upperKey splits an analysis line "KEY_NAME:  value". Keys are upper-case words with
// digits and underscores (a hex suffix after a digit is allowed: TAG_NOT_DEFINED_202b).
func upperKey(s string) (key, val string, ok bool) {
	if s[0] < 'A' || s[0] > 'Z' {
		return "", "", false
	}
	i := 0
	for i < len(s) && isKeyChar(s[i]) {
		i++
	}
	if i > 0 && i < len(s) && s[i-1] >= '0' && s[i-1] <= '9' {
		for i < len(s) && ((s[i] >= 'a' && s[i] <= 'f') || (s[i] >= '0' && s[i] <= '9')) {
			i++
		}
	}
	k := i
	if k >= 4 && strings.IndexByte(s[:k], '_') > 0 {
		// A summary tool aligns the colons: "IMAGE_NAME          : acme.sys".
		for k < len(s) && s[k] == ' ' {
			k++
		}
	}
	if i < 2 || k >= len(s) || s[k] != ':' {
		return "", "", false
	}
	return s[:i], strings.TrimSpace(s[k+1:]), true
}

// prompt recognises a debugger prompt ("0: kd> ", "kd> ", "0:000> ", "0:000:x86> ").
func prompt(s string) (cmd, rest string, ok bool) {
	if c := s[0]; (c < '0' || c > '9') && c != 'k' && c != 'l' { // "N:", "kd", "lkd"
		return "", "", false
	}
	i := strings.Index(s[:min(len(s), 20)], "> ")
	if i < 0 {
		if strings.HasSuffix(s, ">") {
			i = len(s) - 1
		} else {
			return "", "", false
		}
	}
	if i == 0 || i > 16 {
		return "", "", false
	}
	pre := s[:i]
	switch {
	case pre == "kd" || pre == "lkd":
	case strings.HasSuffix(pre, ": kd") || strings.HasSuffix(pre, ": lkd"):
		if !allDigits(pre[:strings.IndexByte(pre, ':')]) {
			return "", "", false
		}
	default:
		parts := strings.Split(pre, ":")
		if len(parts) < 2 || len(parts) > 3 || !allDigits(parts[0]) || !allDigits(parts[1]) {
			return "", "", false
		}
	}
	if i+1 >= len(s) {
		return "", "", true
	}
	rest = strings.TrimSpace(s[i+1:])
	if strings.HasPrefix(rest, "cdb: ") {
		return "", rest, true
	}
	return rest, "", true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (p *parser) command(cmd string) {
	p.st, p.curModule, p.lastKey = stNone, -1, ""
	p.lastCommand = p.keep(cmd)
	if cmd != "" && len(p.session.Commands) < maxCommands {
		p.session.Commands = append(p.session.Commands, p.lastCommand)
	}
}

// keep copies a value the parser stores: the lines it reads alias reused buffers (see
// lineReader.clean), and a copy also pins no more than the value.
func (p *parser) keep(v string) string { return p.keep2(v, "") }

// keepPair keeps two values in one piece of memory (a key and its value).
func (p *parser) keepPair(a, b string) (string, string) {
	ab := p.keep2(a, b)
	return ab[:len(a)], ab[len(a):]
}

// keep2 copies a+b into the parser's arena: values are small and many (fields, frames,
// modules), and one allocation per value was the parser's main cost. The arena is bounded
// (maxArena; values overwritten in a long log stay in it), beyond that values are
// allocated one by one, and a large value always is.
func (p *parser) keep2(a, b string) string {
	n := len(a) + len(b)
	if n == 0 {
		return ""
	}
	if n > maxArenaValue || p.arenaUsed+n > maxArena {
		switch { // a+b would return a lone operand as it is, aliasing the line
		case b == "":
			return strings.Clone(a)
		case a == "":
			return strings.Clone(b)
		}
		return a + b
	}
	ar := p.arena
	if ar == nil || ar.Cap()-ar.Len() < n {
		// A Builder hands out its bytes as strings that stay valid while it grows within
		// its capacity, and its memory is not zeroed first.
		size := 512
		if ar != nil {
			size = min(2*ar.Cap(), 16<<10)
		}
		ar = &strings.Builder{}
		ar.Grow(max(n, size))
		p.arena = ar
	}
	start := ar.Len()
	ar.WriteString(a)
	ar.WriteString(b)
	p.arenaUsed += n
	return ar.String()[start:]
}

// clip keeps at most maxValueLen bytes of v.
func (p *parser) clip(v string) string {
	if len(v) > maxValueLen {
		v = v[:maxValueLen]
	}
	return p.keep(v)
}

func (p *parser) setField(key, val string) {
	if val == "" {
		return
	}
	if len(val) > maxValueLen {
		val = val[:maxValueLen]
	}
	old, ok := p.fields[key]
	if ok && old == val {
		return // repeated analyses (a long log) set the same values again
	}
	if !ok && len(p.fields) >= maxFields {
		return
	}
	k, v := p.keepPair(key, val)
	p.fields[k] = v
}

// field handles an upper-case analysis key.
func (p *parser) field(key, val string) {
	p.lastKey = ""
	switch key {
	case "STACK_TEXT":
		p.st, p.reduced = stStack, false
		if p.kStack {
			p.a.Stack, p.kStack = p.a.Stack[:0], false
		}
		p.stackText = true
		if val != "" {
			p.frames(val)
		}
		return
	case "KEY_VALUES_STRING":
		p.st = stKeyValues
	case "BUGCHECK_P1", "BUGCHECK_P2", "BUGCHECK_P3", "BUGCHECK_P4":
		p.pArgs[key[len(key)-1]-'1'] = p.keep(firstToken(val))
	}
	if val == "" {
		switch key {
		case "STACK_TEXT", "KEY_VALUES_STRING", "CONTEXT", "TRAP_FRAME", "EXCEPTION_RECORD", "FAULTING_SOURCE_CODE", "PROBLEM_CLASSES":
		default:
			p.lastKey = p.keep(key)
		}
		return
	}
	p.setField(key, val)
}

// keyValue reads the KEY_VALUES_STRING block ("Key  : AV.Fault" / "Value: Write"), also a
// pair an author put on one line ("Key : AV.Type  Value: Execute").
func (p *parser) keyValue(s string) bool {
	if k, ok := cutLabel(s, "Key"); ok {
		if i := strings.Index(k, " Value:"); i > 0 {
			p.kvKey = append(p.kvKey[:0], strings.TrimSpace(k[:i])...)
			return p.keyValue(strings.TrimSpace(k[i+1:]))
		}
		p.kvKey = append(p.kvKey[:0], k...)
		return true
	}
	if v, ok := cutLabel(s, "Value"); ok {
		if len(p.kvKey) > 0 {
			if p.kv == nil {
				p.kv = make(map[string]string, 56) // the block has ~60 pairs
			}
			if len(p.kv) < maxFields {
				if len(v) > maxValueLen {
					v = v[:maxValueLen]
				}
				if old, ok := p.kv[string(p.kvKey)]; !ok || old != v {
					k, v := p.keepPair(unsafe.String(&p.kvKey[0], len(p.kvKey)), v)
					p.kv[k] = v
				}
			}
			p.kvKey = p.kvKey[:0]
		}
		return true
	}
	return false
}

// isKVName reports a KEY_VALUES_STRING key: dotted words ("Failure.Bucket", "AV.Type").
func isKVName(k string) bool {
	if strings.IndexByte(k, '.') <= 0 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(isLetter(c) || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// cutLabel matches "Label<spaces>:<value>".
func cutLabel(s, label string) (string, bool) {
	if !strings.HasPrefix(s, label) {
		return "", false
	}
	r := strings.TrimLeft(s[len(label):], " ")
	if r == "" || r[0] != ':' {
		return "", false
	}
	return strings.TrimSpace(r[1:]), true
}

func firstToken(s string) string {
	if i := strings.IndexAny(s, " ,"); i >= 0 {
		return s[:i]
	}
	return s
}

// other recognises the lines that are not upper-case keys; it reports whether it used s.
func (p *parser) other(s string, afterBanner bool) bool {
	if p.toolLine(s) {
		return true
	}
	if p.lastKey == "" && p.ipLabelLine(s) {
		return true
	}
	switch s[0] {
	case 'A':
		if len(s) >= 5 && strings.HasPrefix(s, "Arg") && s[3] >= '1' && s[3] <= '4' && s[4] == ':' {
			v := strings.TrimRight(firstToken(strings.TrimSpace(s[5:])), ",")
			p.args[s[3]-'1'] = p.keep(v)
			if v == "" {
				p.pendingArg = int(s[3]-'1') + 1
			}
			return true
		}
		if strings.HasPrefix(s, "Arguments ") && p.codeLine != "" {
			p.braceArgs = strings.Fields(p.keep(s[len("Arguments "):]))
			return true
		}
		if strings.HasPrefix(s, "Arguments:") {
			return true
		}
	case 'B':
		if strings.HasPrefix(s, "BugCheck ") {
			if i := strings.Index(s, ", {"); i > 0 {
				p.braceCode = p.keep(strings.TrimSpace(s[len("BugCheck "):i]))
				inner := s[i+3:]
				if j := strings.IndexByte(inner, '}'); j >= 0 {
					inner = inner[:j]
				}
				p.braceArgs = nil
				for _, t := range strings.Split(inner, ",") {
					p.braceArgs = append(p.braceArgs, p.keep(strings.TrimSpace(t)))
				}
				return true
			}
		}
		if v, ok := strings.CutPrefix(s, "Bugcheck code "); ok {
			p.codeLine = p.keep(firstToken(strings.TrimSpace(v)))
			return true
		}
		if v, ok := strings.CutPrefix(s, "Built by:"); ok {
			p.session.BuiltBy = p.keep(strings.TrimSpace(v))
			return true
		}
		if strings.HasPrefix(s, "Browse ") {
			return true
		}
		if v, ok := cutLabel(s, "Bucket ID"); ok {
			// The problem signature of a BlueScreen report (Reliability Monitor, WER).
			if p.fields["BUCKET_ID"] == "" {
				p.setField("BUCKET_ID", v)
			}
			return true
		}
	case 'E':
		if v, ok := cutLabel(s, "ExceptionAddress"); ok {
			p.exr.Address = p.keep(v)
			return true
		}
		if v, ok := cutLabel(s, "ExceptionCode"); ok {
			p.exr.Code = p.keep(firstToken(v))
			return true
		}
		if v, ok := cutLabel(s, "ExceptionFlags"); ok {
			p.exr.Flags = p.keep(v)
			return true
		}
		if v, ok := strings.CutPrefix(s, "Edition build lab:"); ok {
			p.session.EditionBuildLab = p.keep(strings.TrimSpace(v))
			return true
		}
	case 'S':
		if v, ok := cutLabel(s, "Subcode"); ok {
			p.exr.Subcode = p.keep(v)
			return true
		}
		if v, ok := strings.CutPrefix(s, "Symbol search path is:"); ok {
			p.a.SymbolPath = p.keep(strings.TrimSpace(v))
			return true
		}
		if v, ok := strings.CutPrefix(s, "System Uptime:"); ok {
			p.session.SystemUptime = p.keep(strings.TrimSpace(v))
			return true
		}
	case 'K':
		if k, ok := cutLabel(s, "Key"); ok && (strings.Contains(k, " Value:") || isKVName(k)) {
			// A Key/Value pair quoted without its KEY_VALUES_STRING line.
			p.st = stKeyValues
			return p.keyValue(s)
		}
	case 'F':
		if v, ok := cutLabel(s, "Followup"); ok {
			p.followupLine = p.keep(v)
			return true
		}
	case 'P':
		if v, ok := strings.CutPrefix(s, "Probably caused by"); ok {
			v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			if i := strings.Index(v, " ("); i >= 0 {
				v = v[:i]
			}
			p.probableImage = p.keep(strings.TrimSpace(v))
			return true
		}
		if v, ok := strings.CutPrefix(s, "Product:"); ok {
			p.session.Product = p.keep(strings.TrimSpace(v))
			return true
		}
		if v, ok := strings.CutPrefix(s, "Process Uptime:"); ok {
			p.session.ProcessUptime = p.keep(strings.TrimSpace(v))
			return true
		}
	case 'M':
		if v, ok := strings.CutPrefix(s, "Microsoft (R) Windows Debugger"); ok {
			if i := strings.Index(v, "Version"); i >= 0 {
				p.a.DebuggerVersion = p.keep(strings.TrimSpace(v[i+len("Version"):]))
				return true
			}
		}
	case 'L':
		if v, ok := strings.CutPrefix(s, "Loading Dump File"); ok {
			v = strings.TrimSpace(v)
			v = strings.TrimPrefix(v, "[")
			if i := strings.LastIndexByte(v, ']'); i >= 0 {
				v = v[:i]
			}
			p.a.DumpFile = p.keep(v)
			return true
		}
	case 'C':
		if v, ok := strings.CutPrefix(s, "Comment:"); ok {
			v = strings.TrimSpace(v)
			if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
				v = v[1 : len(v)-1]
			}
			p.session.DumpComments = append(p.session.DumpComments, p.clip(v))
			return true
		}
	case 'D':
		if v, ok := strings.CutPrefix(s, "Debug session time:"); ok {
			p.session.DebugSessionTime = p.keep(strings.TrimSpace(v))
			return true
		}
	case 'W':
		if p.osLine(s) {
			return true
		}
	case 'U':
		if v, ok := strings.CutPrefix(s, "Unknown bugcheck code ("); ok {
			if i := strings.IndexByte(v, ')'); i > 0 && isHex(v[:i]) {
				p.unknownCode = p.keep(v[:i])
				return true
			}
		}
	case 'c':
		if v, ok := strings.CutPrefix(s, "cdb: Reading initial command '"); ok {
			p.session.InitialCommand = p.keep(strings.TrimSuffix(v, "'"))
			return true
		}
	case 'q':
		if strings.HasPrefix(s, "quit:") {
			p.session.Quit = true
			return true
		}
	case '(':
		// Event line: "(1974.354): Stack buffer overflow - code c0000409 (first/second chance ...".
		if i := strings.Index(s, " - code "); i > 0 && strings.Contains(s[:i], "): ") {
			p.excEvent = p.keep(firstToken(strings.TrimSpace(s[i+len(" - code "):])))
			return true
		}
	case 's':
		if isLMHeader(s) {
			p.st, p.curModule = stLM, -1
			return true
		}
	}
	if p.fatalError(s) {
		return true
	}
	if p.diagnostic(s) {
		return true
	}
	if p.stackStart(s) {
		return true
	}
	if s[0] == 'T' && p.eventLogBugcheck(s) {
		return true
	}
	if p.bugcheckHeader(s, afterBanner) {
		return true
	}
	if p.buildLab(s) {
		return true
	}
	if isDumpType(s) {
		p.session.DumpType = p.keep(s)
		return true
	}
	if isHexByte(s[0]) && p.lmRowStart(s) {
		return true
	}
	if (s[0] == 'L' || s[0] == 'I') && p.st == stNone && p.lmLine(s) {
		p.st = stLM // the details of a module whose row was not pasted
		return true
	}
	return false
}

// bugcheckHeader reads "DRIVER_IRQL_NOT_LESS_OR_EQUAL (d1)". Right after the banner the
// description may follow on the same line (text whose line breaks were lost).
func (p *parser) bugcheckHeader(s string, afterBanner bool) bool {
	sp := strings.IndexByte(s, ' ')
	if sp < 3 || sp+3 > len(s) || s[sp+1] != '(' {
		return false
	}
	name := s[:sp]
	rest := s[sp+2:]
	end := strings.IndexByte(rest, ')')
	if end <= 0 || end > 18 {
		return false
	}
	code := rest[:end]
	if len(code) > 2 && code[0] == '0' && (code[1] == 'x' || code[1] == 'X') {
		code = code[2:] // "KMODE_EXCEPTION_NOT_HANDLED (0x1E)", as people write it
	}
	if code == "" || len(code) > 16 || !isHex(code) {
		return false
	}
	if t := strings.TrimSpace(rest[end+1:]); t != "" && !afterBanner && !isNote(t) {
		return false
	}
	letters := 0
	for _, r := range name {
		switch {
		case r >= 'A' && r <= 'Z':
			letters++
		case r >= '0' && r <= '9', r == '_', r >= 0x80:
		default:
			return false
		}
	}
	if letters < 2 {
		return false
	}
	p.headerName, p.headerCode = p.keep(name), p.keep(code)
	return true
}

// isNote reports text an author appended to a line of debugger output: a comment or an
// arrow ("// the crash", "# 0xd1", "<-- here", "← 访问的地址", "(the driver)"), or prose in
// a script other than Latin.
func isNote(t string) bool {
	for _, m := range []string{"//", "#", "<-", "<=", "-->", "->", "--", ";", "(", "[", "*", "!", "←", "⇐"} {
		if strings.HasPrefix(t, m) {
			return true
		}
	}
	return t[0] >= 0x80
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
			return false
		}
	}
	return true
}

// osLine reads "Windows 10 Kernel Version 19041 MP (8 procs) Free x64".
func (p *parser) osLine(s string) bool {
	if !strings.HasPrefix(s, "Windows ") {
		return false
	}
	i := strings.Index(s, " Version ")
	if i < 0 || !(strings.Contains(s, " Free") || strings.Contains(s, " Checked") || strings.Contains(s, "procs)")) {
		return false
	}
	p.session.OSLine = p.keep(s)
	f := strings.Fields(s[i+len(" Version "):])
	if len(f) > 0 {
		if n, err := strconv.Atoi(f[0]); err == nil {
			p.a.OSBuild = n
		}
	}
	for k, t := range f {
		if (t == "Free" || t == "Checked") && k+1 < len(f) {
			p.a.Arch = normArch(f[k+1])
			if p.a.Arch == "arm" && k+2 < len(f) && strings.HasPrefix(f[k+2], "64") {
				p.a.Arch = "arm64"
			}
		}
	}
	return true
}

func normArch(s string) string {
	switch strings.ToLower(s) {
	case "x64", "amd64", "x86_64":
		return "x64"
	case "x86", "i386":
		return "x86"
	case "arm64", "aarch64":
		return "arm64"
	case "arm", "arm32":
		return "arm"
	}
	return ""
}

// buildLab reads a bare build-lab line ("19041.1.amd64fre.vb_release.191206-1406").
func (p *parser) buildLab(s string) bool {
	if s[0] < '0' || s[0] > '9' || strings.IndexByte(s, ' ') >= 0 || len(s) > 120 {
		return false
	}
	if !(strings.Contains(s, "fre.") || strings.Contains(s, "chk.")) || strings.Count(s, ".") < 3 {
		return false
	}
	p.session.BuildLab = p.keep(s)
	return true
}

// isDumpType reads the line after "Loading Dump File": "Mini Kernel Dump File: Only ...".
func isDumpType(s string) bool {
	i := strings.Index(s[:min(len(s), 60)], "Dump File")
	if i <= 0 || i > 40 || s[0] < 'A' || s[0] > 'Z' || strings.HasPrefix(s, "Loading") {
		return false
	}
	c := strings.IndexByte(s[i:], ':')
	return c > 0 && c < 40
}

func isLMHeader(s string) bool {
	if !strings.HasPrefix(s, "start") {
		return false
	}
	f := strings.Fields(s)
	return len(f) == 4 && f[0] == "start" && f[1] == "end" && f[2] == "module" && f[3] == "name"
}

// stackStart recognises a stack that is not under STACK_TEXT: the header of a k command
// ("# Child-SP RetAddr Call Site", "ChildEBP RetAddr", kf's "# Memory Child-SP ...") or,
// pasted without any header, a first frame in the STACK_TEXT layout. Such a stack is used
// only while the analysis gives none; a later STACK_TEXT replaces it.
func (p *parser) stackStart(s string) bool {
	if p.stackText || len(p.a.Stack) > 0 {
		return false
	}
	if isStackHeader(s) {
		p.st, p.kStack = stStack, true
		p.reduced = isCallSiteHeader(s)
		return true
	}
	if p.lastKey == "" {
		// Two call-site lines in a row start a reduced stack; one alone is not a stack.
		if f, ok := p.callSiteOnly(s); ok {
			if p.pendingLine != p.lineNo-1 {
				p.pendingFrames = p.pendingFrames[:0]
			}
			p.pendingFrames = append(p.pendingFrames, f)
			p.pendingLine = p.lineNo
			if len(p.pendingFrames) >= 2 {
				p.a.Stack = append(p.a.Stack, p.pendingFrames...)
				p.st, p.kStack, p.reduced = stStack, true, true
				p.pendingFrames = nil
			}
			return true
		}
	}
	if isBareFrame(s) {
		p.st, p.kStack = stStack, true
		p.frames(s)
		return len(p.a.Stack) > 0
	}
	return false
}

// isStackHeader reports the column header a k command prints above its frames.
func isStackHeader(s string) bool {
	if c := s[0]; c != '#' && c != 'C' && c != 'M' {
		return false
	}
	if isCallSiteHeader(s) {
		return true
	}
	s = strings.TrimSpace(strings.TrimPrefix(s, "#"))
	if strings.HasPrefix(s, "Memory ") {
		s = strings.TrimSpace(s[len("Memory "):])
	}
	return strings.HasPrefix(s, "Child-SP ") && strings.Contains(s, "RetAddr") ||
		strings.HasPrefix(s, "ChildEBP ") && strings.Contains(s, "RetAddr")
}

// isCallSiteHeader reports the header of kc, which prints call sites alone: "# Call Site"
// (the "# " is gone by now when the line was cleaned as a comment prefix).
func isCallSiteHeader(s string) bool {
	return strings.TrimSpace(strings.TrimPrefix(s, "#")) == "Call Site"
}

// continuesReduced reports a line that continues a reduced stack: a call site alone or a
// frame with its addresses.
func (p *parser) continuesReduced(s string) bool {
	if _, _, ok := callSite(s); ok {
		return true
	}
	return looksFrame(s)
}

// firstFields appends to dst the first cap(dst) space-separated fields of s: the start of a
// line without splitting all of it.
func firstFields(dst []string, s string) []string {
	for f := range strings.FieldsSeq(s) {
		if len(dst) == cap(dst) {
			break
		}
		dst = append(dst, f)
	}
	return dst
}

// isNumberedFrame reports a frame of k's output pasted without its header: a frame number,
// the child stack pointer and return address, and a call site ("07 ffff968a`ef821e90
// fffff800`7345f1d1 nt!KiBreakpointTrap+0x35b").
func isNumberedFrame(s string) bool {
	var buf [4]string
	toks := firstFields(buf[:0], s)
	if len(toks) < 4 || len(toks[1]) < 8 || !isAddr(toks[1]) || !isAddr(toks[2]) {
		return false
	}
	site := toks[3]
	return strings.IndexByte(site, '!') > 0 || strings.Contains(site, "+0x")
}

// isBareFrame reports a line in the STACK_TEXT frame layout: two stack addresses and a
// colon ("ffffd001`528e4320 fffff801`63fcc3bd : args : nt!X+0x1f"), or at least three
// addresses before a module!symbol (x86 "ChildEBP RetAddr Args to Child").
func isBareFrame(s string) bool {
	// Most lines fail on the first token: test it before splitting the line.
	sp := strings.IndexByte(s, ' ')
	if sp >= 1 && sp <= 4 && isHex(s[:sp]) {
		return isNumberedFrame(s)
	}
	if sp < 8 || !isAddr(s[:sp]) {
		return false
	}
	var buf [8]string
	toks := firstFields(buf[:0], s)
	if len(toks) < 3 || !isAddr(toks[1]) {
		return false
	}
	if toks[2] == ":" {
		return true
	}
	n := 2
	for n < len(toks) && isAddr(toks[n]) {
		n++
	}
	return n >= 5 && n < len(toks) && strings.IndexByte(toks[n], '!') > 0
}

// isAddrValue reports a hex value as arguments are printed: 1 to 16 digits, an optional 0x
// and 64-bit backtick.
func isAddrValue(t string) bool {
	t = strings.TrimPrefix(t, "0x")
	if t == "" || len(t) > 17 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !isHexByte(t[i]) && !(t[i] == '`' && i > 0 && i < len(t)-1) {
			return false
		}
	}
	return true
}

// fatalError reads the line a kernel debugger prints when the target bugchecks:
// "*** Fatal System Error: 0x000000c4" with the arguments on the same or the next line,
// "(0x000000D2,0x9655D4A8,0x9655D468,0x000000B0)".
func (p *parser) fatalError(s string) bool {
	v, ok := strings.CutPrefix(s, "*** Fatal System Error:")
	if !ok {
		return false
	}
	v = strings.TrimSpace(v)
	code := firstToken(v)
	if !isAddrValue(code) {
		return false
	}
	p.fatalCode = p.keep(code)
	if args, ok := parenArgs(strings.TrimSpace(v[len(code):])); ok {
		p.fatalArgs = args
	} else {
		p.pendingFatal = true
	}
	return true
}

// parenArgs reads "(0xFFFFF78000001000,0x0000000000000000,...)": hex values in parentheses.
func parenArgs(s string) ([]string, bool) {
	if len(s) < 3 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, false
	}
	var args []string
	for t := range strings.SplitSeq(s[1:len(s)-1], ",") {
		t = strings.TrimSpace(t)
		if !isAddrValue(t) || len(args) == 4 {
			return nil, false
		}
		args = append(args, strings.Clone(t))
	}
	return args, len(args) > 0
}

// eventLogBugcheck reads the System event log's bugcheck line (event 1001, also shown by
// Reliability Monitor): "The bugcheck was: 0x0000003b (0x00000000c0000005, 0xfffff8..., ...)."
func (p *parser) eventLogBugcheck(s string) bool {
	const label = "The bugcheck was: "
	i := strings.Index(s, label)
	if i < 0 {
		return false
	}
	v := s[i+len(label):]
	open := strings.IndexByte(v, '(')
	end := strings.IndexByte(v, ')')
	if open < 0 || end < open {
		return false
	}
	code := strings.TrimSpace(v[:open])
	if !isAddrValue(code) {
		return false
	}
	var args []string
	for t := range strings.SplitSeq(v[open+1:end], ",") {
		t = strings.TrimSpace(t)
		if !isAddrValue(t) {
			return false
		}
		args = append(args, p.keep(t))
	}
	if p.braceCode == "" {
		p.braceCode, p.braceArgs = p.keep(code), args
	}
	return true
}

// looksFrame reports a line shaped like a stack frame: an optional k frame number, then two
// stack addresses.
func looksFrame(s string) bool {
	var buf [3]string
	toks := firstFields(buf[:0], s)
	if len(toks) == 3 && len(toks[0]) <= 4 && !isAddr(toks[0]) {
		toks = toks[1:]
	}
	return len(toks) >= 2 && (isAddr(toks[0]) && isAddr(toks[1]) || toks[0] == "(Inline")
}

// lmResumable reports a line that can only be part of an lm listing: a module row or one
// of the detail labels lmv prints.
func lmResumable(s string) bool {
	if isAddr(firstToken(s)) {
		return true
	}
	label, _, ok := strings.Cut(s, ":")
	if !ok || isLMNote(s) {
		return isLMNote(s)
	}
	switch label {
	case "Loaded symbol image file", "Symbol file", "Mapped memory image file", "Image path",
		"Image name", "Timestamp", "CheckSum", "ImageSize", "File version", "Product version",
		"File flags", "File OS", "File type", "File date", "Translations", "Information from resource tables",
		"CompanyName", "ProductName", "InternalName", "OriginalFilename", "ProductVersion",
		"FileVersion", "FileDescription", "LegalCopyright", "LegalTrademarks", "Comments",
		"PrivateBuild", "SpecialBuild":
		return true
	}
	return false
}
