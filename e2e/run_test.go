//go:build unix

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func alive(p *proc) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && p.cmd.Process.Signal(syscall.Signal(0)) == nil
}

// `bsodwatch run` reloads its rules on SIGHUP and keeps running, as `analyze` always did
// (docs/rules.md promises it for both): a good edit is taken, a bad one refused with its
// file:line while the last good rules stay. Then the commands people run reach the plain
// `run` (no --nats.listen, no config) through its data directory, and say at once, with a
// hint, when they are pointed at nothing.
func TestRunReloadsOnSIGHUPAndServesCommands(t *testing.T) {
	data := t.TempDir()
	rules := filepath.Join(data, "rules")
	if err := os.MkdirAll(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(rules, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "rules:\n  - id: site-a\n    title: a site rule\n    severity: low\n    match:\n      bugcheck_code: 0x50\n")
	p := newProc(t, "run", nil, "run", "--data", data, "--metrics", "")
	p.start(t)
	loaded := regexp.MustCompile(`"rules":(\d),[^\n]*"message":"rules loaded"`)
	waitLog(t, p, loaded, 1, 60*time.Second)
	waitLog(t, p, regexp.MustCompile(`Stop with Ctrl-C`), 1, 60*time.Second)

	write("b.yaml", "rules:\n  - id: site-b\n    title: another\n    severity: low\n    match:\n      bugcheck_code: 0x7e\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p, regexp.MustCompile(`"rules":2,[^\n]*"message":"rules loaded"`), 1, 30*time.Second)
	if !alive(p) {
		t.Fatalf("run died on SIGHUP:\n%s", p.log())
	}

	write("c.yaml", "rules:\n  - id: site-c\n    titel: typo\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p, regexp.MustCompile(`c\.yaml:3:5: unknown key[^\n]*rule reload refused`), 1, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	if !alive(p) {
		t.Fatalf("run died on a refused reload:\n%s", p.log())
	}
	if n := strings.Count(p.log(), "rule reload refused"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once", n)
	}

	// results reaches the plain run through its data directory, and ends without a
	// reconnect warning.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin.bsodwatch, "results", "--data", data).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "CRASHED") {
		t.Errorf("results against the plain run: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "reconnect") || strings.Contains(string(out), "disconnected") {
		t.Errorf("a clean close logged a reconnect:\n%s", out)
	}
	// Pointed at nothing, it says so at once, with a hint.
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin.bsodwatch, "results", "--nats", "nats://127.0.0.1:1")
	out, err = cmd.CombinedOutput()
	want := "bsodwatch results: no NATS at nats://127.0.0.1:1: is `bsodwatch run` started with --nats.listen, or nats.urls right?\n"
	if cmd.ProcessState.ExitCode() != 1 || string(out) != want {
		t.Errorf("results against nothing: %v\n got %q\nwant %q", err, out, want)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %v to say nothing listens", el)
	}
	// A data directory no run has used.
	out, _ = exec.CommandContext(ctx, bin.bsodwatch, "results", "--data", t.TempDir()).CombinedOutput()
	if !strings.Contains(string(out), "no NATS server: set nats.urls in the config (--config), --nats URL or $BSODWATCH_NATS_URL, or start `bsodwatch run`") {
		t.Errorf("results without any server:\n%s", out)
	}

	if code := p.stop(30 * time.Second); code != 130 {
		t.Errorf("exit %d after SIGTERM, want 130\n%s", code, p.log())
	}
}
