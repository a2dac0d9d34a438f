// Package replaytest builds the replay debugger (internal/replaycdb) for tests that need a
// stand-in for cdb.exe, and checks on the processes it leaves behind.
package replaytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Main is a whole TestMain for a package whose tests share one build: it builds the replay
// debugger, stores its path in *path, runs the tests, removes the build and exits.
func Main(m *testing.M, path *string) {
	p, cleanup, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*path = p
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// Build compiles the replay debugger into a fresh temporary directory and returns its path and
// a function that removes it. It is meant for TestMain, before any test runs.
func Build() (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "replaycdb")
	if err != nil {
		return "", nil, err
	}
	if path, err = buildIn(dir); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

// BuildT compiles the replay debugger into t's temporary directory, for a package where only
// one test needs it.
func BuildT(t testing.TB) string {
	t.Helper()
	path, err := buildIn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func buildIn(dir string) (string, error) {
	path := filepath.Join(dir, "replaycdb")
	if runtime.GOOS == "windows" {
		path += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", path, "github.com/bsodwatch/bsodwatch/internal/replaycdb")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build replaycdb: %w\n%s", err, out)
	}
	return path, nil
}
