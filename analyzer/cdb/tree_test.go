//go:build linux || windows

package cdb_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/replaycdb/replaytest"

	"github.com/bsodwatch/bsodwatch/analyzer/cdb"
)

// The tree kill is a process group on Linux and a job object on Windows; the same two tests
// check it on both.

var childPID = regexp.MustCompile(`REPLAYCDB-CHILD-PID: (\d+)`)

// TestTimeoutKillsTree runs a debugger that starts a child and both hang: the timeout must end
// the two of them, and the debugger's exit code must say "killed" (-1), not pass for an exit
// of its own.
func TestTimeoutKillsTree(t *testing.T) {
	r := runner()
	r.Timeout = 1500 * time.Millisecond
	out, err := r.Analyze(context.Background(), script(t, "hang.dmp", "mode: hang"))
	if !errors.Is(err, cdb.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	m := childPID.FindSubmatch(out.Stdout)
	if m == nil {
		t.Fatalf("no child pid in %q", out.Stdout)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	deadline := time.Now().Add(20 * time.Second)
	for replaytest.Alive(pid) {
		if time.Now().After(deadline) {
			replaytest.Kill(pid)
			t.Fatalf("child %d survived the timeout", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out.ExitCode != -1 {
		t.Errorf("exit code %d, want -1 (killed)", out.ExitCode)
	}
}

// TestParentKillAloneLeavesChild is the control of TestTimeoutKillsTree: started without the
// runner (no process group, no job object) and killed by itself, the same debugger leaves its
// child running, and Alive sees it. Without this, "the child is gone" could come from a child
// that never lived or from an Alive that always says no.
//
// Under Wine on a loaded machine a killed debugger has been seen to stay (in one full
// `make test` of six here, and in one CI run: Wait did not return within 30 s of six kills,
// nor in 15 minutes of one; it never happened with the package run alone). Such an
// attempt is logged and the control starts again, three times at most; a debugger that
// survives all three is a failure, not a hang.
func TestParentKillAloneLeavesChild(t *testing.T) {
	var cmd *exec.Cmd
	var pid int
	for attempt := 1; ; attempt++ {
		var err error
		cmd, pid, err = killParentAlone(t)
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		t.Logf("attempt %d: %v; starting again", attempt, err)
	}
	if replaytest.Alive(cmd.Process.Pid) {
		t.Fatalf("the debugger %d is still alive after its kill", cmd.Process.Pid)
	}
	// The child must stay: check a few times over a second.
	for i := 0; i < 10; i++ {
		if !replaytest.Alive(pid) {
			t.Fatalf("child %d died with its parent: the tree test would prove nothing", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := replaytest.Kill(pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for replaytest.Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still alive after Kill", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killParentAlone starts the hanging debugger without the runner, reads its child's pid and
// kills the debugger alone. It returns an error when the debugger does not end within 30 s
// of repeated kills; other failures end the test.
func killParentAlone(t *testing.T) (*exec.Cmd, int, error) {
	t.Helper()
	cmd := exec.Command(replayPath, "-z", script(t, "hang.dmp", "mode: hang"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := childPID.FindStringSubmatch(sc.Text()); m != nil {
				pid, _ := strconv.Atoi(m[1])
				pids <- pid
				break
			}
		}
		io.Copy(io.Discard, stdout) // until the child, which shares the pipe, is gone
	}()
	var pid int
	select {
	case pid = <-pids:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the debugger printed no child pid")
	}
	parent := cmd.Process.Pid
	t.Cleanup(func() { replaytest.Kill(pid); replaytest.Kill(parent) })
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	for i := 0; i < 6; i++ {
		if err := cmd.Process.Kill(); err != nil && i == 0 {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-waited:
				return cmd, pid, nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil, 0, fmt.Errorf("the debugger %d has not ended 30 s after six kills (Alive says %v; its child %d alive %v)",
		parent, replaytest.Alive(parent), pid, replaytest.Alive(pid))
}
