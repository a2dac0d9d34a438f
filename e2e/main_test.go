// Package e2e runs bsodwatch end to end: the real binary against Samba on loopback, NATS,
// the replay debugger or the native engine, and an httptest chat endpoint; and the fault
// tests that kill roles and restart NATS in the middle of a batch. It holds tests only.
//
// The binaries are built once for the package, or taken prebuilt from BSODWATCH_E2E_BIN (and
// replaytest.PrebuiltEnv for the replay debugger) when a test binary runs where there is no
// Go toolchain: scripts/test-windows.sh builds both for Windows and runs this package under
// Wine.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bsodwatch/bsodwatch/internal/replaycdb/replaytest"
)

// prebuiltEnv names a bsodwatch binary built beforehand from this checkout.
const prebuiltEnv = "BSODWATCH_E2E_BIN"

// Binaries for the whole package.
var bin struct {
	bsodwatch, replaycdb string
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	replay, cleanReplay, err := replaytest.Build()
	if err != nil {
		return 1, err
	}
	defer cleanReplay()
	bin.replaycdb = replay
	if p := os.Getenv(prebuiltEnv); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return 1, fmt.Errorf("%s=%s: not a bsodwatch binary (%v)", prebuiltEnv, p, err)
		}
		bin.bsodwatch = p
		return m.Run(), nil
	}
	dir, err := os.MkdirTemp("", "bsodwatch-e2e-bin-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	bin.bsodwatch = filepath.Join(dir, "bsodwatch")
	if runtime.GOOS == "windows" {
		bin.bsodwatch += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", bin.bsodwatch, "github.com/bsodwatch/bsodwatch/cmd/bsodwatch")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return 1, fmt.Errorf("build bsodwatch: %w", err)
	}
	return m.Run(), nil
}
