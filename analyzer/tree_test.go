//go:build linux || windows

package analyzer_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/replaycdb/replaytest"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// TestHangKillsTree: a debugger that hangs (with a child) is killed at the timeout, child
// included, and the job ends failed.
func TestHangKillsTree(t *testing.T) {
	e := newEnv(t)
	job := e.dump("h/hang.dmp", script("mode: hang"))
	e.publish(job)
	o := e.options()
	o.Timeout, o.MaxDeliver = 1500*time.Millisecond, 1
	e.start(o, analyzer.Deps{})
	r := e.result(job.ID)
	if r.Status != pipeline.StatusFailed || !strings.Contains(r.Error, "timed out") {
		t.Fatalf("status %s, error %q; want failed by timeout", r.Status, r.Error)
	}
	m := regexp.MustCompile(`REPLAYCDB-CHILD-PID: (\d+)`).FindStringSubmatch(r.DebuggerTail)
	if m == nil {
		t.Fatalf("no child pid in the tail %q", r.DebuggerTail)
	}
	pid, _ := strconv.Atoi(m[1])
	waitFor(t, "child gone", func() bool { return !replaytest.Alive(pid) })
}
