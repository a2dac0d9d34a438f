package analyzer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// TestVerdictFromTranscript replays a real, symbol-starved kernel analysis through the runner
// and the worker and checks the published verdict against the transcript's labels.
func TestVerdictFromTranscript(t *testing.T) {
	corpus := sharedtest.Dir(t, "corpus")
	var label struct {
		Expected struct {
			BugcheckCode string `json:"bugcheck_code"`
			ModuleName   string `json:"module_name"`
			BucketID     string `json:"failure_bucket_id"`
		} `json:"expected"`
	}
	b, err := os.ReadFile(filepath.Join(corpus, "kernel", "014.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &label); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	// A name with spaces, quotes and semicolons reaches the debugger as one argument.
	rel := "web01/2026 crash; 'quoted' & spaced.dmp"
	job := e.dump(rel, script("transcript: "+filepath.Join(corpus, "kernel", "014.txt")))
	e.publish(job)
	marker := &fakeMarker{}
	e.start(e.options(), analyzer.Deps{
		Rules:  func() analyzer.RuleSet { return fakeRules{module: label.Expected.ModuleName, version: "rules-v1"} },
		Marker: marker,
	})
	r := e.result(job.ID)
	if r.Status != pipeline.StatusOK || r.Engine != "cdb" || r.Version != pipeline.ResultVersion {
		t.Fatalf("verdict %s by %q (v%d), error %q", r.Status, r.Engine, r.Version, r.Error)
	}
	if r.Analysis == nil || !r.Analysis.Complete {
		t.Fatalf("no analysis in the verdict")
	}
	if got, want := r.Analysis.BugcheckCode, label.Expected.BugcheckCode; got != want {
		t.Errorf("bugcheck %q, want %q", got, want)
	}
	if got, want := r.Analysis.FailureBucketID, label.Expected.BucketID; got != want {
		t.Errorf("failure bucket %q, want %q", got, want)
	}
	if len(r.Matches) != 1 || r.Matches[0].ID != "KI-"+label.Expected.ModuleName || len(r.Matches[0].Why) == 0 {
		t.Errorf("matches = %+v, want KI-%s with why", r.Matches, label.Expected.ModuleName)
	}
	if r.RulesVersion != "rules-v1" || r.MsgID() != job.ID+":rules-v1" {
		t.Errorf("rules version %q", r.RulesVersion)
	}
	// ntoskrnl and VBoxNetFlt symbols could not be loaded: the debugger said so.
	if !r.Degraded || r.Confidence != "medium" || !containsAll(r.DegradedReasons, "symbols could not be loaded for VBoxNetFlt.sys") {
		t.Errorf("degraded=%v confidence=%q reasons=%q", r.Degraded, r.Confidence, r.DegradedReasons)
	}
	if !r.Marks.NewBucket || marker.n != 1 {
		t.Errorf("marker called %d times, marks %+v", marker.n, r.Marks)
	}
	if r.Job.ID != job.ID || r.Job.SharePath != rel || r.Worker != "test-worker" || r.AnalyzedAt.IsZero() {
		t.Errorf("verdict job/worker fields: %+v", r)
	}
	if n := e.stored(); n != 1 {
		t.Errorf("%d verdicts stored, want 1", n)
	}
	waitFor(t, "job acked", func() bool { return e.jobsLeft() == 0 })
}

// TestWorkerKilledMidJob kills a worker while its debugger hangs: the job comes back after
// AckWait to another worker, and exactly one verdict is stored.
func TestWorkerKilledMidJob(t *testing.T) {
	e := newEnv(t)
	tr := e.transcript("t.txt", minimalTranscript)
	rel := "web01/killed.dmp"
	job := e.dump(rel, script("first: hang", "transcript: "+tr))
	e.publish(job)

	o := e.options()
	o.AckWait = 2 * time.Second
	nc1 := e.connectNC("doomed")
	js1 := mustJS(t, nc1)
	stop1 := e.start(o, analyzer.Deps{JS: js1})
	waitFor(t, "first debugger run", func() bool { return runs(t, e.share, rel) >= 1 })
	// A crash: no Nak, no heartbeats, no verdict. Closing the connection first makes sure the
	// shutdown path cannot hand the job back either.
	nc1.Close()
	stop1()

	e.start(o, analyzer.Deps{})
	r := e.result(job.ID)
	if r.Status != pipeline.StatusOK || r.Analysis == nil || r.Analysis.ModuleName != "testdrv" {
		t.Fatalf("verdict %s (%q), module %v", r.Status, r.Error, r.Analysis)
	}
	if n := runs(t, e.share, rel); n != 2 {
		t.Errorf("debugger ran %d times, want 2", n)
	}
	waitFor(t, "job acked", func() bool { return e.jobsLeft() == 0 })
	if n := e.stored(); n != 1 {
		t.Errorf("%d verdicts stored, want exactly 1", n)
	}
}

// TestStopHandsJobBack stops a worker gracefully mid-job: the job must go back to the queue at
// once (Nak), not after AckWait, which is set far beyond the test's patience.
func TestStopHandsJobBack(t *testing.T) {
	e := newEnv(t)
	tr := e.transcript("t.txt", minimalTranscript)
	rel := "web01/stopped.dmp"
	job := e.dump(rel, script("first: hang", "transcript: "+tr))
	e.publish(job)
	o := e.options()
	o.AckWait = 10 * time.Minute
	stop1 := e.start(o, analyzer.Deps{})
	waitFor(t, "first debugger run", func() bool { return runs(t, e.share, rel) >= 1 })
	stop1()
	e.start(o, analyzer.Deps{})
	r := e.result(job.ID)
	if r.Status != pipeline.StatusOK {
		t.Fatalf("verdict %s: %s", r.Status, r.Error)
	}
	if n := e.stored(); n != 1 {
		t.Errorf("%d verdicts stored, want 1", n)
	}
}

// TestFailedVerdicts: jobs that cannot succeed end as failed verdicts with the reason, the
// attempts and the debugger's last words, and leave the queue.
func TestFailedVerdicts(t *testing.T) {
	e := newEnv(t)
	tr := e.transcript("t.txt", minimalTranscript)
	type tc struct {
		name     string
		job      *pipeline.Job
		attempts int
		errHas   string
		tailHas  string
	}
	var tests []tc
	add := func(name, rel, content string, attempts int, errHas, tailHas string, edit func(*pipeline.Job)) {
		j := e.dump(rel, content)
		if edit != nil {
			edit(j)
		}
		tests = append(tests, tc{name, j, attempts, errHas, tailHas})
	}
	add("poison: debugger crashes every time", "h/crash.dmp", script("mode: crash", "transcript: "+tr), 3, "no analysis in the debugger output", "simulated debugger crash", nil)
	add("poison: exits non-zero without analysis", "h/exit.dmp", script("mode: echo", "exit: 5"), 3, "exit code 5", "REPLAYCDB-ARGV", nil)
	add("debugger cannot open the dump", "h/noopen.dmp", script("mode: noopen"), 1, "Could not open dump file", "", nil)
	add("sha256 changed", "h/sha.dmp", script("transcript: "+tr), 1, "sha256", "", func(j *pipeline.Job) {
		j.SHA256 = strings.Repeat("ab", 32)
		j.ID = j.SHA256
	})
	add("size changed", "h/size.dmp", script("transcript: "+tr, "# size"), 1, "bytes, the job says", "", func(j *pipeline.Job) { j.Size++ })
	add("missing dump", "h/gone.dmp", script("transcript: "+tr, "# gone"), 1, "missing", "", func(j *pipeline.Job) {
		os.Remove(filepath.Join(e.share, "h", "gone.dmp"))
	})
	add("path escapes the share", "h/escape.dmp", script("# escape"), 1, "share path", "", func(j *pipeline.Job) { j.SharePath = "../../etc/passwd" })
	for _, tt := range tests {
		e.publish(tt.job)
	}
	start := time.Now()
	e.start(e.options(), analyzer.Deps{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.result(tt.job.ID)
			if r.Status != pipeline.StatusFailed {
				t.Fatalf("status %s, want failed", r.Status)
			}
			if r.Attempts != tt.attempts {
				t.Errorf("attempts %d, want %d", r.Attempts, tt.attempts)
			}
			if !strings.Contains(r.Error, tt.errHas) {
				t.Errorf("error %q lacks %q", r.Error, tt.errHas)
			}
			if !strings.Contains(r.DebuggerTail, tt.tailHas) {
				t.Errorf("debugger tail %q lacks %q", r.DebuggerTail, tt.tailHas)
			}
			if r.Job.ID != tt.job.ID || r.Engine != "cdb" {
				t.Errorf("job %q engine %q", r.Job.ID, r.Engine)
			}
		})
	}
	waitFor(t, "queue empty", func() bool { return e.jobsLeft() == 0 })
	if n := e.stored(); n != uint64(len(tests)) {
		t.Errorf("%d verdicts stored, want %d", n, len(tests))
	}
	t.Logf("%d failed verdicts in %s", len(tests), time.Since(start))
}

// TestFloodCapped: a debugger flooding its output is stopped at the cap.
func TestFloodCapped(t *testing.T) {
	e := newEnv(t)
	job := e.dump("h/flood.dmp", script("mode: flood"))
	e.publish(job)
	o := e.options()
	o.OutputCap, o.MaxDeliver = 256<<10, 1
	e.start(o, analyzer.Deps{})
	r := e.result(job.ID)
	if r.Status != pipeline.StatusFailed || !strings.Contains(r.Error, "exceeded the cap") {
		t.Fatalf("status %s, error %q; want failed at the output cap", r.Status, r.Error)
	}
	if !strings.Contains(r.DebuggerTail, "flood") || len(r.DebuggerTail) > 8<<10 {
		t.Errorf("tail of %d bytes", len(r.DebuggerTail))
	}
}

// TestRedeliveredJobDeduplicated publishes a job's verdict twice (as a redelivery after a
// lost ack would): the results stream keeps one.
func TestRedeliveredJobDeduplicated(t *testing.T) {
	e := newEnv(t)
	tr := e.transcript("t.txt", minimalTranscript)
	job := e.dump("h/twice.dmp", script("transcript: "+tr))
	e.publish(job)
	stop := e.start(e.options(), analyzer.Deps{})
	e.result(job.ID)
	stop()
	// The same job queued again (a different Nats-Msg-Id gets past the jobs stream's dedupe).
	data, _ := json.Marshal(job)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.js.Publish(ctx, pipeline.JobsSubject, data); err != nil {
		t.Fatal(err)
	}
	e.start(e.options(), analyzer.Deps{})
	waitFor(t, "second job consumed", func() bool { return e.jobsLeft() == 0 })
	if n := e.stored(); n != 1 {
		t.Errorf("%d verdicts stored, want 1", n)
	}
}

func mustJS(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func containsAll(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A debugger that dies half-way, or whose output ends before the analysis did, never
// yields an ok verdict of high confidence: the verdict is degraded, says why, and its
// confidence is low.
func TestBrokenDebuggerDegrades(t *testing.T) {
	e := newEnv(t)
	// The whole analysis sits in the first half of the transcript, then the lmv listing:
	// the crash mode prints half of it and dies (exit 2), as cdb does when it crashes during lmv.
	var lmv strings.Builder
	for i := range 200 {
		fmt.Fprintf(&lmv, "fffff805`%08x fffff805`%08x   drv%03d   (deferred)\n", i<<16, i<<16+0x1000, i)
	}
	whole := strings.Replace(minimalTranscript, "0: kd> q\n", "0: kd> lmv\n"+lmv.String()+"0: kd> q\n", 1)
	dies := e.dump("h/dies.dmp", script("mode: crash", "transcript: "+e.transcript("whole.txt", whole)))
	// The output stops inside the analysis, before FAILURE_BUCKET_ID, with exit code 0.
	cutAt := strings.Index(minimalTranscript, "IMAGE_NAME:")
	cut := e.dump("h/cut.dmp", script("transcript: "+e.transcript("cut.txt", minimalTranscript[:cutAt])))
	e.publish(dies)
	e.publish(cut)
	e.start(e.options(), analyzer.Deps{})
	for _, tt := range []struct {
		name, reason, headline string
		job                    *pipeline.Job
	}{
		{"dies", "the debugger exited with code 2", "DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xd1) in testdrv.sys", dies},
		// cut before IMAGE_NAME: only the module name is known
		{"cut", "the debugger output ends before the analysis does", "DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xd1) in testdrv", cut},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.result(tt.job.ID)
			if r.Status != pipeline.StatusOK || r.Analysis == nil || r.Analysis.BugcheckCode != "0xd1" {
				t.Fatalf("status %s error %q: the analysis that was printed should be kept", r.Status, r.Error)
			}
			if !r.Degraded || r.Confidence != "low" || !containsAll(r.DegradedReasons, tt.reason) {
				t.Errorf("degraded=%v confidence=%q reasons=%q, want low with %q", r.Degraded, r.Confidence, r.DegradedReasons, tt.reason)
			}
			if r.Verdict == nil || r.Verdict.Headline != tt.headline {
				t.Errorf("verdict %+v", r.Verdict)
			}
		})
	}
}
