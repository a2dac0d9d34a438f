package cdb_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/replaycdb/replaytest"

	"github.com/bsodwatch/bsodwatch/analyzer/cdb"
)

// TestTimeoutKillsTree runs a debugger that starts a child and both hang: the timeout must end
// the two of them.
func TestTimeoutKillsTree(t *testing.T) {
	r := runner()
	r.Timeout = 1500 * time.Millisecond
	out, err := r.Analyze(context.Background(), script(t, "hang.dmp", "mode: hang"))
	if !errors.Is(err, cdb.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	m := regexp.MustCompile(`REPLAYCDB-CHILD-PID: (\d+)`).FindSubmatch(out.Stdout)
	if m == nil {
		t.Fatalf("no child pid in %q", out.Stdout)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	deadline := time.Now().Add(20 * time.Second)
	for replaytest.Alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d survived the timeout", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out.ExitCode != -1 {
		t.Errorf("exit code %d, want -1 (killed)", out.ExitCode)
	}
}
