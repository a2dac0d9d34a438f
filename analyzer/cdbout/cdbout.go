// Package cdbout parses text printed by the Microsoft debuggers (cdb, WinDbg, kd).
package cdbout

import (
	"io"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// Parse reads debugger output and returns what it holds. (Placeholder: issue 2 replaces it.)
func Parse(r io.Reader) (*analysis.Analysis, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return ParseBytes(b), nil
}

// ParseBytes parses debugger output held in memory.
func ParseBytes(b []byte) *analysis.Analysis { return &analysis.Analysis{} }
