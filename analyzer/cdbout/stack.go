package cdbout

import (
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// frames reads STACK_TEXT lines in every layout: x86 "ChildEBP RetAddr Args to Child",
// x64/ARM64 "Child-SP RetAddr : Args to Child : Call Site", two-column pseudo frames, and
// several frames on one line when the line breaks were lost. A frame is a run of at least
// two addresses followed by a call site, optionally with a source "[file @ line]".
func (p *parser) frames(s string) {
	var buf [32]string // on the stack: no write barrier per token
	toks := appendFields(buf[:0], s, p.ascii)
	before := len(p.a.Stack)
	addrs := 0
	for i := 0; i < len(toks); {
		t := toks[i]
		if t == ":" {
			i++
			continue
		}
		if isAddr(t) {
			addrs++
			i++
			continue
		}
		if t == "(Inline" && i+1 < len(toks) && toks[i+1] == "Function)" {
			// An inlined frame has no stack address: "(Inline Function) --------`--------".
			addrs++
			i += 2
			continue
		}
		if addrs < 2 {
			addrs = 0 // prose such as "WARNING: Stack unwind information not available."
			i++
			continue
		}
		addrs = 0
		j := i + 1
		for j < len(toks) && toks[j][0] != '[' && toks[j][0] != '(' && !(isAddr(toks[j]) && j+1 < len(toks) && (isAddr(toks[j+1]) || toks[j+1] == ":")) {
			j++
		}
		full := len(p.a.Stack) >= maxFrames // still walk the frame, keep nothing
		var f analysis.Frame
		if !full {
			f = splitSymbol(p.joinKeep(toks[i:j]))
		}
		if j < len(toks) && toks[j][0] == '[' {
			k := j
			for k < len(toks) && !strings.HasSuffix(toks[k], "]") {
				k++
			}
			if k == len(toks) {
				k--
			}
			if !full {
				src := p.joinKeep(toks[j : k+1])
				f.Source = strings.TrimSuffix(strings.TrimPrefix(src, "["), "]")
			}
			j = k + 1
		}
		// x86 kv annotations "(FPO: [Non-Fpo])", "(CONV: stdcall)" carry nothing we keep.
		for j < len(toks) && toks[j][0] == '(' {
			k := j
			for k < len(toks) && !strings.HasSuffix(toks[k], ")") {
				k++
			}
			j = k + 1
		}
		if !full {
			if p.a.Stack == nil {
				p.a.Stack = make([]analysis.Frame, 0, 16)
			}
			p.a.Stack = append(p.a.Stack, f)
		}
		i = j
	}
	if len(p.a.Stack) == before && len(p.a.Stack) < maxFrames {
		// A reduced stack: the call site alone ("acmefltr+0x1a2b", "nt!KeBugCheckEx").
		if f, ok := p.callSiteOnly(s); ok {
			p.a.Stack = append(p.a.Stack, f)
		}
	}
}

// joinKeep joins tokens with single spaces into a new string (strings.Join would return a
// single token as it is, aliasing the line).
func (p *parser) joinKeep(toks []string) string {
	if len(toks) == 1 {
		return p.keep(toks[0])
	}
	if len(toks) == 2 {
		return p.keep2(toks[0]+" ", toks[1]) // the concatenation does not escape
	}
	return strings.Join(toks, " ")
}

// appendFields is strings.Fields appending to a reused slice; ascii says s is plain ASCII.
func appendFields(dst []string, s string, ascii bool) []string {
	if !ascii {
		return append(dst, strings.Fields(s)...)
	}
	for i := 0; i < len(s); {
		for i < len(s) && asciiSpace(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !asciiSpace(s[j]) {
			j++
		}
		if j > i {
			dst = append(dst, s[i:j])
		}
		i = j
	}
	return dst
}

func isHexByte(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// isAddr reports a stack address column: 8 or 16 hex digits, 64-bit ones often split by a
// backtick (fffff806`236443ce). Call sites such as 0x0 are not addresses.
func isAddr(t string) bool {
	if len(t) < 8 {
		return false
	}
	if t[0] == '-' {
		return t == "--------`--------" || t == "--------"
	}
	n := 0
	for i := 0; i < len(t); i++ {
		switch addrByte[t[i]] {
		case 1:
			n++
		case 2:
			if i == 0 || i == len(t)-1 {
				return false
			}
		default:
			return false
		}
	}
	return n == 8 || n == 16
}

// addrByte is 1 for hex digits and 2 for the backtick of 64-bit addresses.
var addrByte = func() (t [256]uint8) {
	for _, c := range []byte("0123456789abcdefABCDEF") {
		t[c] = 1
	}
	t['`'] = 2
	return t
}()

// markers are characters authors put around values to highlight them.
var markers = strings.NewReplacer("\u0387", "", "\u00b7", "", "*", "")

// splitSymbol splits "nt!KiBugCheck+0x12", "Driver+0x11b1" or "0x0" into a frame.
func splitSymbol(sym string) analysis.Frame {
	if hasNonASCII(sym) || strings.IndexByte(sym, '*') >= 0 {
		sym = strings.TrimSpace(markers.Replace(sym))
	}
	var f analysis.Frame
	if strings.HasPrefix(sym, "0x") || strings.HasPrefix(sym, "??") {
		f.Symbol = sym
		return f
	}
	if i := strings.IndexByte(sym, '!'); i >= 0 {
		f.Module, f.Symbol = sym[:i], sym[i+1:]
		if k := strings.LastIndexByte(f.Symbol, '+'); k >= 0 {
			f.Symbol, f.Offset = f.Symbol[:k], f.Symbol[k+1:]
		}
		f.Symbol = strings.TrimSpace(f.Symbol)
		return f
	}
	if k := strings.LastIndexByte(sym, '+'); k > 0 {
		f.Module, f.Offset = sym[:k], sym[k+1:]
		return f
	}
	if len(sym) < 2 {
		// A line cut after the symbol's first character (a pasted excerpt that stops there):
		// no module has a one-letter name, and blaming "N" would be wrong.
		f.Symbol = sym
		return f
	}
	f.Module = sym
	return f
}

// thirdParty finds the innermost frame whose module is not Microsoft's.
func thirdParty(a *analysis.Analysis) string {
	for _, f := range a.Stack {
		m := f.Module
		if m == "" || strings.ContainsAny(m, " `") || analysis.IsPlaceholderModule(m) {
			continue
		}
		if !a.IsMicrosoft(m) {
			return m
		}
	}
	return ""
}

// callSiteOnly reads a frame of a reduced stack, pasted without its stack addresses: the
// call site alone ("nt!KeBugCheckEx", "acmefltr+0x1a2b", "NETIO.SYS+0x526b0"), optionally
// after a k frame number ("03 acmefltr+0x1a2b") and before a source "[file @ line]" or an
// author's note ("<-- the crash"). A call site needs a '!' or an offset.
func (p *parser) callSiteOnly(s string) (analysis.Frame, bool) {
	site, src, ok := callSite(s)
	if !ok {
		return analysis.Frame{}, false
	}
	f := splitSymbol(p.keep(site))
	if src != "" {
		f.Source = p.keep(src)
	}
	return f, true
}

// callSite finds the call site and source of a reduced-stack line (see callSiteOnly).
func callSite(s string) (site, src string, ok bool) {
	site, rest := cutToken(s)
	if len(site) <= 4 && isHex(site) && rest != "" {
		site, rest = cutToken(rest) // the frame number
	} else if len(site) > 4 && strings.HasPrefix(site, "[0x") && site[len(site)-1] == ']' && isHex(site[3:len(site)-1]) && rest != "" {
		// WinDbg's Stack window copied: "[0x4]   btrfs!RtlFailFast+0x5() [file @ 11545]   0xffff...   0xffff..."
		site, rest = cutToken(rest)
		if i := strings.IndexByte(site, '('); i > 0 {
			if !strings.Contains(site[i:], ")") { // arguments with spaces: skip to their end
				if j := strings.IndexByte(rest, ')'); j >= 0 {
					rest = strings.TrimLeft(rest[j+1:], " ")
				}
			}
			site = site[:i]
		}
		// Then an optional "[source @ line]", then the stack and return addresses.
		if j := strings.IndexByte(rest, ']'); strings.HasPrefix(rest, "[") && j > 0 {
			rest = rest[:j+1]
		} else {
			rest = ""
		}
	}
	if site == "" || rest != "" && rest[0] != '[' && !isNote(rest) {
		return "", "", false
	}
	mod, sym := site, ""
	if i := strings.IndexByte(site, '!'); i >= 0 {
		mod, sym = site[:i], site[i+1:]
		if sym == "" || sym[0] == '+' {
			return "", "", false
		}
	} else if i := strings.LastIndexByte(site, '+'); i > 0 {
		mod, sym = site[:i], site[i+1:]
		if !isHex(strings.TrimPrefix(sym, "0x")) {
			return "", "", false
		}
	} else {
		return "", "", false
	}
	if !isFileName(mod) || strings.HasSuffix(site, ":") || strings.ContainsAny(sym, "()") {
		return "", "", false
	}
	if rest != "" && rest[0] == '[' {
		if j := strings.IndexByte(rest, ']'); j > 0 {
			src = rest[1:j]
		}
	}
	return site, src, true
}

// cutToken splits s at its first run of spaces: the first token and the rest, trimmed.
func cutToken(s string) (tok, rest string) {
	s = strings.TrimLeft(s, " ")
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " ")
}
