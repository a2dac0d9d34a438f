// Package sharedtest finds the read-only test material in ../shared beside the checkout
// (real debugger transcripts and dump files written by other people, never copied here).
package sharedtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the absolute path of ../shared/<sub> relative to the module root, or skips the
// test with a clear message when it is absent. BSODWATCH_SHARED overrides the location.
func Dir(t testing.TB, sub string) string {
	t.Helper()
	root := os.Getenv("BSODWATCH_SHARED")
	if root == "" {
		mod, err := moduleRoot()
		if err != nil {
			t.Skipf("shared test data: %v", err)
		}
		root = filepath.Join(mod, "..", "shared")
	}
	d := filepath.Join(root, sub)
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared test data %s is absent (%v): skipping", d, err)
	}
	abs, _ := filepath.Abs(d)
	return abs
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
