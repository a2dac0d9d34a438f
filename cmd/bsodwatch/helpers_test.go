package main

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

// notExistReason is the operating system's own words for path not existing ("no such file or
// directory" on Linux, "The system cannot find the file specified." on Windows, "File not
// found." under Wine), as a command that passes the OS error on prints them. It fails the test
// unless opening path really fails with fs.ErrNotExist.
func notExistReason(t *testing.T, path string) string {
	t.Helper()
	_, err := os.Open(path)
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
		t.Fatalf("open %s: %v, want a not-exist error", path, err)
	}
	return pe.Err.Error()
}
