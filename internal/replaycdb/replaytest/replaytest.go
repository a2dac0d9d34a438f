// Package replaytest builds the replay debugger (internal/replaycdb) for tests that need a
// stand-in for cdb.exe, and checks on the processes it leaves behind.
package replaytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Build compiles the replay debugger into a fresh temporary directory and returns its path and
// a function that removes it. It is meant for TestMain, before any test runs.
func Build() (path string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "replaycdb")
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, "replaycdb")
	if runtime.GOOS == "windows" {
		path += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", path, "github.com/bsodwatch/bsodwatch/internal/replaycdb")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build replaycdb: %w\n%s", err, out)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}
