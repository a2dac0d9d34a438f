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

// Open opens ../shared/<sub>/<rel> (skipping like Dir when ../shared is absent) for the
// length of the test and returns it with its size.
func Open(t testing.TB, sub, rel string) (*os.File, int64) {
	t.Helper()
	f, err := os.Open(filepath.Join(Dir(t, sub), rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return f, st.Size()
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
