// Package e2e runs bsodwatch end to end: the real binary against Samba on loopback, NATS,
// the replay debugger or the native engine, and an httptest chat endpoint; and the fault
// tests that SIGKILL roles and restart NATS in the middle of a batch. It holds tests only.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binaries built once for the whole package.
var bin struct {
	bsodwatch, replaycdb string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bsodwatch-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	bin.bsodwatch = filepath.Join(dir, "bsodwatch")
	bin.replaycdb = filepath.Join(dir, "replaycdb")
	for _, b := range []struct{ out, pkg string }{
		{bin.bsodwatch, "github.com/bsodwatch/bsodwatch/cmd/bsodwatch"},
		{bin.replaycdb, "github.com/bsodwatch/bsodwatch/internal/replaycdb"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n", b.pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
