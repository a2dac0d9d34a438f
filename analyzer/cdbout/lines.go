package cdbout

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// maxLine bounds one physical input line. Longer lines (a flattened log is one line) are cut
// there and the rest of the line is skipped, so memory stays bounded on any input.
const maxLine = 4 << 20

// lineReader turns raw text into clean logical lines: CRLF and lone CR ends, tabs, HTML
// entities, markdown residue and indentation are removed, and a line whose breaks were lost
// is split again before the markers the debugger starts lines with.
type lineReader struct {
	br      *bufio.Reader
	data    []byte // the whole input, when it is already in memory (no copying then)
	pos     int    // the read offset in data (an index: it is written per line, a pointer costs)
	inMem   bool
	buf     []byte
	queue   []string // logical lines; they alias buf, data or scratch (see clean)
	qi      int
	scratch []byte // cleaned copies of the lines in queue, reset when queue is refilled
	cuts    []int  // reused by splitFlattened
	// ascii tells whether the line next returned is plain ASCII (cleanASCII: the line
	// clean returned), so the parser need not look again.
	ascii, cleanASCII bool
	long              bool // a line exceeded maxLine
	binary            bool // input is not text
	// mdEscaped is set once a line shows that the publisher escaped the text for markdown
	// ("FAULTING\_IP:"): from then on every markdown escape is undone.
	mdEscaped bool
	checked   bool
	err       error
}

// newBytesLineReader reads lines straight out of b.
func newBytesLineReader(b []byte) *lineReader {
	if len(b) >= 2 && ((b[0] == 0xff && b[1] == 0xfe) || (b[0] == 0xfe && b[1] == 0xff)) {
		return newLineReader(bytes.NewReader(b))
	}
	return &lineReader{data: b, inMem: true, checked: true, binary: looksBinary(nil, b[:min(len(b), 2048)])}
}

func newLineReader(r io.Reader) *lineReader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(2); len(b) == 2 && ((b[0] == 0xff && b[1] == 0xfe) || (b[0] == 0xfe && b[1] == 0xff)) {
		// PowerShell's `>` writes UTF-16: decode it instead of calling it binary.
		br = bufio.NewReaderSize(&utf16Reader{r: br, be: b[0] == 0xfe}, 64<<10)
	}
	return &lineReader{br: br}
}

// next returns the next logical line; ok is false at the end of the input.
func (lr *lineReader) next() (string, bool) {
	for lr.qi >= len(lr.queue) {
		lr.queue, lr.qi, lr.scratch = lr.queue[:0], 0, lr.scratch[:0]
		if lr.err != nil || lr.binary {
			return "", false
		}
		var phys []byte
		if lr.inMem {
			phys = lr.sliceLine()
		} else {
			phys = lr.readPhysical()
		}
		if !lr.checked {
			lr.checked = true
			if looksBinary(lr.br, phys) {
				lr.binary = true
				return "", false
			}
		}
		if len(phys) > 0 && bytes.IndexByte(phys, '\r') < 0 {
			// The common line: one logical line, handed out without the queue.
			s := lr.clean(phys)
			if len(s) < flatMin && !maybeRewrapped(s) {
				lr.ascii = lr.cleanASCII
				return s, true
			}
			lr.queue = splitFlattened(s, lr.queue, &lr.cuts)
			phys = nil
		}
		// Lone CRs end lines too (classic Mac text, some web copies).
		for len(phys) > 0 {
			i := bytes.IndexByte(phys, '\r')
			var part []byte
			if i < 0 {
				part, phys = phys, nil
			} else {
				part, phys = phys[:i], phys[i+1:]
			}
			if i >= 0 && len(phys) == 0 {
				phys = nil
			}
			lr.addLogical(part)
		}
		if len(lr.queue) == 0 && lr.err == nil {
			lr.queue = append(lr.queue, "")
		}
	}
	s := lr.queue[lr.qi]
	lr.qi++
	lr.ascii = !hasNonASCII(s)
	return s, true
}

// sliceLine cuts the next line out of the in-memory input, at most maxLine bytes of it.
func (lr *lineReader) sliceLine() []byte {
	rest := lr.data[lr.pos:]
	if len(rest) == 0 {
		lr.err = io.EOF
		return nil
	}
	i := bytes.IndexByte(rest, '\n')
	var line []byte
	if i < 0 {
		line, lr.pos = rest, len(lr.data)
		lr.err = io.EOF
	} else {
		line, lr.pos = rest[:i], lr.pos+i+1
	}
	if len(line) > maxLine {
		line, lr.long = line[:maxLine], true
	}
	return line
}

// readPhysical reads one '\n'-terminated line (without the newline), at most maxLine bytes.
func (lr *lineReader) readPhysical() []byte {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if len(lr.buf)+len(chunk) <= maxLine {
			lr.buf = append(lr.buf, chunk...)
		} else {
			lr.buf = append(lr.buf, chunk[:maxLine-len(lr.buf)]...)
			lr.long = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			lr.err = err
		}
		break
	}
	return bytes.TrimSuffix(lr.buf, []byte{'\n'})
}

// looksBinary reports whether the start of the input is not text: NUL bytes or many
// control characters (a dump file, an archive, an image).
func looksBinary(br *bufio.Reader, first []byte) bool {
	sample := first
	if len(sample) > 2048 {
		sample = sample[:2048]
	}
	if len(sample) < 2048 && br != nil {
		if more, _ := br.Peek(2048 - len(sample)); len(more) > 0 {
			sample = append(append([]byte(nil), sample...), more...)
		}
	}
	if bytes.IndexByte(sample, 0) >= 0 {
		return true
	}
	ctl, i := 0, 0
	for ; i+8 <= len(sample); i += 8 {
		// Skip words without a byte below 0x20 (exact test for "any byte < 0x20").
		if w := binary.LittleEndian.Uint64(sample[i:]); (w-0x2020202020202020)&^w&0x8080808080808080 == 0 {
			continue
		}
		for _, c := range sample[i : i+8] {
			ctl += int(isCtl[c])
		}
	}
	for _, c := range sample[i:] {
		ctl += int(isCtl[c])
	}
	return ctl > len(sample)/20+1
}

// isCtl flags the control bytes that text does not hold.
var isCtl = func() (t [256]uint8) {
	for c := 1; c < 0x20; c++ {
		switch c {
		case '\t', '\r', '\n', '\f', 0x1b:
		default:
			t[c] = 1
		}
	}
	return t
}()

func (lr *lineReader) addLogical(b []byte) {
	s := lr.clean(b)
	if len(s) >= flatMin || maybeRewrapped(s) {
		lr.queue = splitFlattened(s, lr.queue, &lr.cuts)
		return
	}
	lr.queue = append(lr.queue, s)
}

// clean is cleanLine without allocation for the common line: plain ASCII is cleaned in
// place (tabs into lr.scratch), and the result aliases b or lr.scratch. It is therefore
// only valid until the queue is drained: the parser copies what it keeps (see keep).
func (lr *lineReader) clean(b []byte) string {
	cls := classify(b)
	if cls&clsSlow != 0 {
		s := lr.cleanLine(string(b)) // the general cleaner, with its allocations
		lr.cleanASCII = !hasNonASCII(s)
		return s
	}
	lr.cleanASCII = true
	if cls&clsTab != 0 {
		start := len(lr.scratch)
		lr.scratch = append(lr.scratch, b...)
		b = lr.scratch[start:]
		for i, c := range b {
			if c == '\t' {
				b[i] = ' '
			}
		}
	}
	b = trimASCII(b)
	if len(b) == 0 {
		return ""
	}
	return lr.residue(unsafe.String(&b[0], len(b)))
}

// trimASCII is strings.TrimSpace for ASCII text.
func trimASCII(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && asciiSpace(b[i]) {
		i++
	}
	for j > i && asciiSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

func asciiSpace(c byte) bool { return isASCIISpace[c] }

var isASCIISpace = [256]bool{' ': true, '\t': true, '\n': true, '\v': true, '\f': true, '\r': true}

var htmlEntities = strings.NewReplacer("&gt;", ">", "&lt;", "<", "&amp;", "&", "&quot;", `"`,
	"&#39;", "'", "&#x27;", "'", "&apos;", "'", "&nbsp;", " ", "&#96;", "`")

// cleanLine removes what mail, chat and web pages add to a line of debugger output.
func (lr *lineReader) cleanLine(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if strings.IndexByte(s, '\t') >= 0 {
		s = strings.ReplaceAll(s, "\t", " ")
	}
	if strings.IndexByte(s, '&') >= 0 {
		s = htmlEntities.Replace(s)
	}
	if hasNonASCII(s) {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '\u00a0', '\u2007', '\u202f', '\u3000':
				return ' '
			case '\ufeff', '\u200b', '\u200c', '\u200d':
				return -1
			}
			return r
		}, s)
	}
	return lr.residue(strings.TrimSpace(s))
}

// residue removes what a publisher wrapped around a trimmed line: HTML tags, markdown
// fences, quotes, headings, escapes, bold and code ticks, and the comment prefix of a paste
// into source code or a script ("// ", "/// ", "# ", " * "). The result aliases s unless
// something had to be rewritten.
func (lr *lineReader) residue(s string) string {
	if s == "" {
		return s
	}
	if strings.IndexByte(s, '<') >= 0 {
		s = strings.TrimSpace(stripHTML(s))
	}
	for {
		if s == "" || strings.HasPrefix(s, "```") || strings.HasPrefix(s, "~~~") {
			return ""
		}
		t := cutLinePrefix(s)
		if len(t) == len(s) {
			break
		}
		s = t
	}
	if s == "" {
		return s
	}
	if s[0] >= 0x80 {
		s = cutCallout(s)
	}
	if strings.IndexByte(s, '\\') >= 0 {
		if !lr.mdEscaped && looksMarkdownEscaped(s) {
			lr.mdEscaped = true
		}
		if lr.mdEscaped {
			s = unescapeMarkdownAll(s)
		} else {
			s = unescapeMarkdown(s)
		}
	}
	if strings.Contains(s, "**") {
		s = stripBold(s)
	}
	if len(s) > 4 && s[0] == '_' && s[1] == '_' {
		s = stripUnderscoreBold(s)
	}
	if strings.IndexByte(s, '`') >= 0 {
		s = stripBackticks(s)
	}
	return s
}

// cutLinePrefix removes one quote or comment marker from the start of s: a markdown quote
// ("> "), a heading ("## "), a C/C++/C#/JavaScript line comment ("// ", "/// "), a shell or
// Python comment ("# "), and the " * " of a block comment. Debugger output starts no line
// with these (a k command header "# Child-SP" reads the same without its "#"; banner lines
// end with a star, so they keep theirs).
func cutLinePrefix(s string) string {
	switch s[0] {
	case '>':
		i := 0
		for i < len(s) && s[i] == '>' {
			i++
		}
		if i == len(s) || s[i] == ' ' {
			return strings.TrimSpace(s[i:]) // ">", "> ", ">> " (a quote in a quote)
		}
	case '#':
		i := 0
		for i < len(s) && i < 6 && s[i] == '#' {
			i++
		}
		if i == len(s) && len(s) > 1 {
			return ""
		}
		if i < len(s) && s[i] == ' ' {
			return strings.TrimSpace(s[i:])
		}
	case '/':
		i := 0
		for i < len(s) && i < 4 && s[i] == '/' {
			i++
		}
		if i >= 2 && (i == len(s) || s[i] == ' ') {
			return strings.TrimSpace(s[i:])
		}
	case '*':
		if len(s) >= 2 && s[1] == ' ' && s[len(s)-1] != '*' {
			return strings.TrimSpace(s[2:])
		}
	case '-':
		// A markdown list item that holds an analysis key ("- FAILURE_BUCKET_ID: `x`").
		if len(s) >= 4 && s[1] == ' ' {
			if _, _, ok := upperKey(s[2:]); ok {
				return strings.TrimSpace(s[2:])
			}
		}
	}
	return s
}

// cutCallout removes the numbered callout an author puts in front of a line to refer to it
// from the text ("❸ Image path: ..."): a circled or parenthesized number (U+2460-U+24FF,
// U+2776-U+2793).
func cutCallout(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if (r >= 0x2460 && r <= 0x24ff) || (r >= 0x2776 && r <= 0x2793) {
		return strings.TrimSpace(s[n:])
	}
	return s
}

// htmlTags are the elements a web page or a blog engine wraps pasted text in. Only these are
// removed: the debugger prints angle brackets of its own ("<Unable to get error code text>",
// "<no type information>", C++ templates).
var htmlTags = map[string]bool{"p": true, "br": true, "span": true, "strong": true, "em": true,
	"b": true, "i": true, "u": true, "code": true, "pre": true, "div": true, "font": true,
	"a": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"li": true, "ul": true, "ol": true, "tt": true, "kbd": true, "samp": true, "blockquote": true,
	"table": true, "tr": true, "td": true, "th": true, "tbody": true, "thead": true,
	"section": true, "article": true, "nav": true, "time": true, "sup": true, "sub": true,
	"small": true, "mark": true, "del": true, "ins": true, "s": true, "strike": true, "hr": true,
	"img": true, "figure": true, "figcaption": true, "header": true, "footer": true, "main": true}

// stripHTML removes the tags of htmlTags from s ("<p>", "<br/>", `<span style="...">`).
func stripHTML(s string) string {
	var b []byte
	last := 0
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], '<')
		if k < 0 {
			break
		}
		i += k
		j := i + 1
		if j < len(s) && s[j] == '/' {
			j++
		}
		n := j
		for n < len(s) && n-j < 12 && (isLetter(s[n]) || (s[n] >= '1' && s[n] <= '6')) {
			n++
		}
		end := -1
		if n > j && n < len(s) && (s[n] == '>' || s[n] == ' ' || s[n] == '/') && isHTMLTag(s[j:n]) {
			end = strings.IndexByte(s[n:], '>')
		}
		if end < 0 {
			i++
			continue
		}
		if b == nil {
			b = make([]byte, 0, len(s))
		}
		b = append(b, s[last:i]...)
		i = n + end + 1
		last = i
	}
	if b == nil {
		return s
	}
	return string(append(b, s[last:]...))
}

// isHTMLTag looks name up in htmlTags ignoring case, without allocating.
func isHTMLTag(name string) bool {
	var buf [12]byte
	if len(name) > len(buf) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return htmlTags[string(buf[:len(name)])]
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// What a line holds, as far as cleaning is concerned.
const (
	clsSlow = 1 << iota // non-ASCII or an HTML entity: the general cleaner
	clsTab              // tabs to turn into spaces
)

// classify finds which bytes that need cleaning b holds, eight bytes at a time: a byte
// equal to c is a zero byte of w^(c*ones), and the zero-byte test below is exact for "the
// word has one". Stars and ticks are rare enough to be searched for when needed.
func classify(b []byte) uint8 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
		amps  = '&' * ones
		tabs  = '\t' * ones
	)
	var hi, amp, tab uint64
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		hi |= w
		x, y := w^amps, w^tabs
		amp |= (x - ones) &^ x
		tab |= (y - ones) &^ y
		b = b[8:]
	}
	var cls uint8
	if (hi|amp)&highs != 0 {
		cls |= clsSlow
	}
	if tab&highs != 0 {
		cls |= clsTab
	}
	for _, c := range b {
		switch {
		case c >= 0x80 || c == '&':
			cls |= clsSlow
		case c == '\t':
			cls |= clsTab
		}
	}
	return cls
}

// hasNonASCII tests eight bytes at a time: it runs on every line.
func hasNonASCII(s string) bool {
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// unescapeMarkdown undoes the backslash escapes a markdown editor adds when debugger text
// is pasted outside a code block: "\\*** ERROR" and "fffff801\\`63fb4192". Only a star, and
// a backtick inside an address (the 64-bit separator), are unescaped: other
// backslashes are Windows paths (C:\\__w\\1, d:\\symbols\\x.pdb) and stay.
func unescapeMarkdown(s string) string {
	return dropEscapes(s, func(s string, i int) bool {
		c := s[i+1]
		return c == '*' || c == '`' && i > 0 && addrSide(s[i-1]) && i+2 < len(s) && addrSide(s[i+2])
	})
}

// dropEscapes removes each backslash at i for which drop(s, i) holds (s[i+1] exists), and
// returns s itself, unallocated, when there is none.
func dropEscapes(s string, drop func(s string, i int) bool) string {
	first := -1
	for i := strings.IndexByte(s, '\\'); i >= 0 && i+1 < len(s); {
		if drop(s, i) {
			first = i
			break
		}
		k := strings.IndexByte(s[i+1:], '\\')
		if k < 0 {
			break
		}
		i += 1 + k
	}
	if first < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:first]...)
	for i := first; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && drop(s, i) {
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// looksMarkdownEscaped reports a line that a markdown editor escaped as a whole: an
// upper-case analysis key or value with "\_" between its letters ("STACK\_TEXT:",
// "CLR\_EXCEPTION"). A Windows path does not hold that shape ("C:\\Windows\\_x").
func looksMarkdownEscaped(s string) bool {
	for i := strings.Index(s, `\_`); i >= 0; {
		if i > 0 && i+2 < len(s) && isKeyChar(s[i-1]) && isKeyChar(s[i+2]) && s[i-1] != '_' {
			return true
		}
		k := strings.Index(s[i+2:], `\_`)
		if k < 0 {
			break
		}
		i += 2 + k
	}
	return false
}

// mdEscapable are the punctuation characters whose markdown escape unescapeMarkdownAll
// undoes. A backslash before a backslash, a dot or a colon stays: Windows and UNC paths.
var mdEscapable = [256]bool{'_': true, '*': true, '#': true, '[': true, ']': true, '<': true,
	'>': true, '(': true, ')': true, '`': true, '+': true, '-': true, '!': true, '|': true,
	'{': true, '}': true, '~': true}

// unescapeMarkdownAll undoes every markdown escape of a line whose text was escaped as a
// whole ("FAULTING\_IP:", "system\_ni!X+0x1", "\*\* Pseudo Context \*\*").
func unescapeMarkdownAll(s string) string {
	return dropEscapes(s, func(s string, i int) bool { return mdEscapable[s[i+1]] })
}

// addrSide reports a byte that stands beside the backtick of a 64-bit address: a hex digit,
// or the dash of an inline frame's "--------`--------".
func addrSide(c byte) bool { return isHexByte(c) || c == '-' }

// stripBold removes markdown bold markers (**x**) but keeps the debugger's own asterisks:
// banners, "*** ERROR" and "** Pseudo Context **" have a space or a star beside them.
func stripBold(s string) string {
	var b []byte
	last := 0 // s[last:i] is not yet copied to b
	for i := 0; i < len(s); {
		if s[i] != '*' {
			k := strings.IndexByte(s[i:], '*')
			if k < 0 {
				break
			}
			i += k
		}
		if i+1 < len(s) && s[i] == '*' && s[i+1] == '*' && (i+2 >= len(s) || s[i+2] != '*') && (i == 0 || s[i-1] != '*') {
			before := byte(' ')
			if i > 0 {
				before = s[i-1]
			}
			after := byte(' ')
			if i+2 < len(s) {
				after = s[i+2]
			}
			opener := isSpaceOrPunct(before) && !isSpaceOrPunct(after)
			closer := !isSpaceOrPunct(before) && (after == ' ' || after == ',' || after == '.' || i+2 == len(s))
			if opener || closer {
				b = append(b, s[last:i]...)
				i += 2
				last = i
				continue
			}
		}
		i++
	}
	if last == 0 { // nothing stripped
		return strings.TrimSpace(s)
	}
	b = append(b, s[last:]...)
	return strings.TrimSpace(string(b))
}

// stripUnderscoreBold removes markdown's other bold (__x__) around the start of a line:
// "__UNEXPECTED_KERNEL_MODE_TRAP (7f) <- note__". Only an opening "__" before a capital
// letter with a closing "__" at a word's end counts, so a symbol such as
// "__C_specific_handler" stays whole.
func stripUnderscoreBold(s string) string {
	if s[2] < 'A' || s[2] > 'Z' {
		return s
	}
	for i := 3; i+1 < len(s); i++ {
		if s[i] == '_' && s[i+1] == '_' && (i+2 == len(s) || s[i+2] == ' ') && s[i-1] != '_' && s[i-1] != ' ' {
			return strings.TrimSpace(s[2:i] + s[i+2:])
		}
	}
	return s
}

func isSpaceOrPunct(c byte) bool {
	return c == ' ' || c == '(' || c == '[' || c == '"' || c == '\''
}

// stripBackticks removes markdown code ticks but keeps the debugger's 64-bit address
// separator (fffff806`23400000) and symbol quotes (`string').
func stripBackticks(s string) string {
	var b []byte
	last := 0
	for i := 0; ; i++ {
		k := strings.IndexByte(s[i:], '`')
		if k < 0 {
			break
		}
		i += k
		if i == 0 || i == len(s)-1 || s[i-1] == ' ' || s[i+1] == ' ' {
			if b == nil {
				b = make([]byte, 0, len(s))
			}
			b = append(b, s[last:i]...)
			last = i + 1
		}
	}
	if b == nil {
		return s
	}
	b = append(b, s[last:]...)
	return strings.TrimSpace(string(b))
}

// utf16Reader decodes UTF-16 (after its byte-order mark) to UTF-8.
type utf16Reader struct {
	r       io.Reader
	be      bool
	started bool
	in      [4096]byte
	carry   []byte
	out     []byte
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		n, err := u.r.Read(u.in[:])
		data := append(u.carry, u.in[:n]...)
		if !u.started && len(data) >= 2 {
			data, u.started = data[2:], true
		}
		units := make([]uint16, 0, len(data)/2)
		for len(data) >= 2 {
			if u.be {
				units = append(units, uint16(data[0])<<8|uint16(data[1]))
			} else {
				units = append(units, uint16(data[1])<<8|uint16(data[0]))
			}
			data = data[2:]
		}
		u.carry = append(u.carry[:0], data...)
		if k := len(units); k > 0 && units[k-1] >= 0xd800 && units[k-1] < 0xdc00 && err == nil {
			u.carry = append([]byte{byte(units[k-1]), byte(units[k-1] >> 8)}, u.carry...)
			if u.be {
				u.carry[0], u.carry[1] = u.carry[1], u.carry[0]
			}
			units = units[:k-1]
		}
		for _, r := range utf16.Decode(units) {
			u.out = utf8.AppendRune(u.out, r)
		}
		if err != nil && len(u.out) == 0 {
			return 0, err
		}
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}
