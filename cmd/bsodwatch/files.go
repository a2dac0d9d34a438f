package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// eachFile is the loop of a command that reads input files (triage, events). Files are
// read in order. A file that read cannot read is one line on stderr ("bsodwatch NAME: FILE:
// reason") and exit 1, or 2 when bad says the input is not what it should be; a file read
// prints as indented JSON or through human (a blank line between files); read's code raises
// the exit status for a file read only in part. It returns the worst code, or 130 when ctx
// ends between files.
func eachFile[R any](ctx context.Context, e *env, name string, files []string, asJSON bool,
	read func(path string) (R, int, error), bad func(error) bool, human func(w io.Writer, r R)) int {
	code := exitOK
	enc := json.NewEncoder(e.Stdout)
	enc.SetIndent("", "  ")
	for i, path := range files {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		r, c, err := read(path)
		if err != nil {
			fmt.Fprintf(e.Stderr, "bsodwatch %s: %s: %s\n", name, path, oneLine(err))
			c = exitError
			if bad(err) {
				c = exitUsage
			}
			code = max(code, c)
			continue
		}
		code = max(code, c)
		if asJSON {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(e.Stderr, "bsodwatch %s: %v\n", name, err)
				return exitError
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(e.Stdout)
		}
		human(e.Stdout, r)
	}
	return code
}
