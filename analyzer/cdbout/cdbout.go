// Package cdbout parses text printed by the Microsoft debuggers (cdb, WinDbg, kd): whole
// console logs, pasted `!analyze -v` of kernel and user-mode dumps, `lm`/`lmv`/`lmvm`
// blocks and debugger errors, of every generation from WinDbg 6.x to 10.0.2x, also when
// mail, chat or a web page damaged the text (CRLF, tabs, indentation, collapsed spaces,
// lost line breaks, markdown residue, hard-wrapped values). It also reads the shapes people
// paste instead of a whole analysis: reduced stacks (call sites alone), the FAULTING_IP and
// FAULTING_MODULE of old analyses, "Unable to load image" lines, WhoCrashed and
// BlueScreenView reports and the text of a stop screen; the module they blame is
// Analysis.BlamedModule (see blame.go).
//
// The parser reads line by line (lost line breaks are restored first) and recognises lines
// by their shape, not by position, so it needs no banner, no Followup and no particular
// order. It never fails on content: memory is bounded by one line (maxLine), time is linear,
// and what it could not find is simply absent, with Complete false when no analysis was found.
package cdbout

import (
	"fmt"
	"io"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// Parse reads debugger output and returns what it holds. The only error is a read error;
// text that holds no analysis gives an Analysis with Complete false.
func Parse(r io.Reader) (*analysis.Analysis, error) {
	return parse(newLineReader(r))
}

// ParseBytes parses debugger output held in memory.
func ParseBytes(b []byte) *analysis.Analysis {
	a, err := parse(newBytesLineReader(b))
	if err != nil { // memory does not fail to read
		return &analysis.Analysis{}
	}
	return a
}

func parse(lr *lineReader) (*analysis.Analysis, error) {
	p := newParser()
	for {
		s, ok := lr.next()
		if !ok {
			break
		}
		p.ascii = lr.ascii
		p.line(s)
	}
	if lr.err != nil && lr.err != io.EOF {
		return nil, fmt.Errorf("read debugger output: %w", lr.err)
	}
	if lr.binary {
		p.diag("input", "input is binary data, not debugger text", "")
	}
	if lr.long {
		p.diag("input", fmt.Sprintf("a line longer than %d MiB was cut", maxLine>>20), "")
	}
	return p.finish(), nil
}
