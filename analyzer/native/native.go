// Package native is the analyzer's engine that needs no debugger: it reads the dump file with
// package dumpfile and turns what it finds into an analysis and a probable cause.
package native

import (
	"errors"
	"io"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// Header reads the dump's header for a job. It never fails: a problem is reported in Error.
// (Placeholder: issue 3 replaces it.)
func Header(ra io.ReaderAt, size int64) *pipeline.Header {
	return &pipeline.Header{Error: "native reader not implemented yet"}
}

// Analyze reads the dump and returns an analysis and the probable cause.
func Analyze(ra io.ReaderAt, size int64) (*analysis.Analysis, *pipeline.Cause, error) {
	return nil, nil, errors.New("native reader not implemented yet")
}
