package cdbout

import (
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// diagnostic recognises the debugger's own errors: symbol load failures, a dump that could
// not be opened, extension load errors, FindPlugIns. Repeats are recorded once.
func (p *parser) diagnostic(s string) bool {
	switch s[0] {
	case '*', 'W', 'S', 'U', 'C', 'T', 'F', 'N', 'E': // the first bytes of the cases below
	default:
		return false
	}
	kind, code := "", ""
	switch {
	case strings.HasPrefix(s, "*** ERROR:"), strings.HasPrefix(s, "*** WARNING: Unable to verify"),
		strings.HasPrefix(s, "WARNING: Unable to verify"), s[0] == '*' && strings.Contains(s, "Your debugger is not using the correct symbols"),
		strings.HasPrefix(s, "Symbol loading error summary"), strings.HasPrefix(s, "Unable to load image"),
		strings.HasPrefix(s, "*** Either you specified an unqualified symbol"):
		kind = "symbols"
	case strings.HasPrefix(s, "Could not open dump file"):
		kind = "dump_open"
		code = after(s, "HRESULT ")
		if code == "" {
			code = after(s, "Win32 error ")
		}
	case strings.HasPrefix(s, "The call to LoadLibrary(") && strings.Contains(s, "failed"):
		kind = "extension_load"
		code = after(s, "Win32 error ")
		if code == "" {
			code = after(s, "HRESULT ")
		}
	case strings.HasPrefix(s, "Failed to load data access"), strings.HasPrefix(s, "No export ") && strings.HasSuffix(s, " found"):
		kind = "extension_load"
	case strings.HasPrefix(s, "ERROR: FindPlugIns"):
		kind = "plugins"
		code = after(s, "FindPlugIns ")
	case strings.HasPrefix(s, "ERROR: "), strings.HasPrefix(s, "*** Fatal"):
		kind = "analysis"
		if strings.Contains(strings.ToLower(s), "symbol") {
			kind = "symbols"
		}
	default:
		return false
	}
	if kind == "symbols" {
		p.noteImage(s)
	}
	p.diag(kind, s, code)
	if kind == "extension_load" || kind == "dump_open" {
		p.pendingDiag = len(p.a.Diagnostics) - 1
	}
	return true
}

func after(s, prefix string) string {
	i := strings.Index(s, prefix)
	if i < 0 {
		return ""
	}
	return strings.TrimRight(firstToken(strings.TrimSpace(s[i+len(prefix):])), ".,;")
}

func (p *parser) diag(kind, msg, code string) {
	if len(msg) > maxValueLen {
		msg = msg[:maxValueLen]
	}
	if p.seenErr == nil {
		p.seenErr = map[string]bool{}
	}
	if p.seenErr[msg] || len(p.a.Diagnostics) >= maxErrors {
		p.pendingDiag = -1
		return
	}
	msg = p.keep(msg)
	p.seenErr[msg] = true
	p.a.DebuggerErrors = append(p.a.DebuggerErrors, msg)
	p.a.Diagnostics = append(p.a.Diagnostics, analysis.Diagnostic{Kind: kind, Message: msg, Command: p.lastCommand, Code: p.keep(code)})
}
