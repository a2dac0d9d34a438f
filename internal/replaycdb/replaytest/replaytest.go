// Package replaytest builds the replay debugger (internal/replaycdb) for tests that need a
// stand-in for cdb.exe, and checks on the processes it leaves behind.
//
// With PrebuiltEnv set, the tests use that binary instead of building one: a Windows test
// binary run under Wine has no Go toolchain to build with, so scripts/test-windows.sh builds
// replaycdb.exe beforehand (GOOS=windows) and names it there.
package replaytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// PrebuiltEnv names an environment variable holding the path of a replay debugger built
// beforehand from this checkout; when it is set nothing is built.
const PrebuiltEnv = "BSODWATCH_REPLAYCDB"

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
	if p, ok, err := prebuilt(); ok {
		return p, func() {}, err
	}
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
	if p, ok, err := prebuilt(); ok {
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
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

// prebuilt returns the binary PrebuiltEnv names, ok when the variable is set; a set variable
// naming no file is an error, not a reason to build.
func prebuilt() (path string, ok bool, err error) {
	path = os.Getenv(PrebuiltEnv)
	if path == "" {
		return "", false, nil
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		return "", true, fmt.Errorf("%s=%s: not a replay debugger binary (%v)", PrebuiltEnv, path, err)
	}
	return path, true, nil
}
