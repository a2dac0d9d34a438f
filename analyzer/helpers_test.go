package analyzer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/replaycdb/replaytest"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/analyzer/cdb"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
	"github.com/bsodwatch/bsodwatch/rules"
)

var replayPath string

func TestMain(m *testing.M) { replaytest.Main(m, &replayPath) }

// minimalTranscript is a small !analyze -v written for these tests (not real debugger output).
const minimalTranscript = `Microsoft (R) Windows Debugger Version 10.0.22621.2428 AMD64
Loading Dump File [C:\dumps\x.dmp]
Symbol search path is: srv*C:\symbols*https://msdl.microsoft.com/download/symbols
0: kd> !analyze -v
*******************************************************************************
*                                                                             *
*                        Bugcheck Analysis                                    *
*                                                                             *
*******************************************************************************

DRIVER_IRQL_NOT_LESS_OR_EQUAL (d1)
Arguments:
Arg1: 0000000000000010, memory referenced
Arg2: 0000000000000002, IRQL
Arg3: 0000000000000000, value 0 = read operation, 1 = write operation
Arg4: fffff8051c2a1b2c, address which referenced memory

Debugging Details:
------------------

BUGCHECK_CODE:  d1

PROCESS_NAME:  System

SYMBOL_NAME:  testdrv+1b2c

MODULE_NAME: testdrv

IMAGE_NAME:  testdrv.sys

FAILURE_BUCKET_ID:  AV_testdrv!unknown_function

Followup:     MachineOwner
---------
0: kd> q
quit:
`

// env is one test's NATS server, share folder and JetStream context.
type env struct {
	t     testing.TB
	srv   *embedded.Server
	js    jetstream.JetStream
	share string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	q := embeddedtest.Start(t, "")
	e := &env{t: t, srv: q.Server, share: t.TempDir()}
	e.js = e.connect("test")
	return e
}

func (e *env) connect(name string) jetstream.JetStream {
	nc := e.connectNC(name)
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	return js
}

func (e *env) connectNC(name string) *nats.Conn {
	nc, err := e.srv.Connect(name)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	return nc
}

// dump writes a dump (here a replaycdb script) on the share and returns its job.
func (e *env) dump(rel string, content string) *pipeline.Job {
	e.t.Helper()
	p := filepath.Join(e.share, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	id := hex.EncodeToString(sum[:])
	return &pipeline.Job{
		Version: pipeline.JobVersion, ID: id, Host: "web01", SourcePath: `ADMIN$\MEMORY.DMP`,
		SharePath: rel, Size: int64(len(content)), SHA256: id, DetectedAt: time.Now().UTC(), Submitter: "submit",
	}
}

// script is a replaycdb dump script.
func script(lines ...string) string { return "REPLAYCDB\n" + strings.Join(lines, "\n") + "\n" }

func (e *env) transcript(name, text string) string {
	p := filepath.Join(e.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) publish(job *pipeline.Job) {
	e.t.Helper()
	data, _ := json.Marshal(job)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.js.Publish(ctx, pipeline.JobsSubject, data, jetstream.WithMsgID(job.ID)); err != nil {
		e.t.Fatal(err)
	}
}

// result waits for the verdict of a job.
func (e *env) result(id string) *pipeline.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, pipeline.ResultsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	for {
		m, err := st.GetLastMsgForSubject(ctx, pipeline.ResultSubject(id))
		if err == nil {
			var r pipeline.Result
			if err := json.Unmarshal(m.Data, &r); err != nil {
				e.t.Fatal(err)
			}
			if got, want := m.Header.Get(jetstream.MsgIDHeader), r.MsgID(); got != want {
				e.t.Errorf("Nats-Msg-Id %q, want %q", got, want)
			}
			return &r
		}
		if ctx.Err() != nil {
			e.t.Fatalf("no verdict for job %s: %v", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stored counts the verdicts ever stored (the stream keeps the newest per subject, so its
// last sequence is what tells a duplicate apart).
func (e *env) stored() uint64 {
	e.t.Helper()
	return e.streamState(pipeline.ResultsStream).LastSeq
}

// jobsLeft is the number of jobs still in the work queue.
func (e *env) jobsLeft() uint64 {
	e.t.Helper()
	return e.streamState(pipeline.JobsStream).Msgs
}

func (e *env) streamState(name string) jetstream.StreamState {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State
}

func (e *env) options() analyzer.Options {
	return analyzer.Options{
		Name:       "test-worker",
		Slots:      2,
		Engine:     analyzer.EngineCDB,
		CDBPath:    replayPath,
		AckWait:    5 * time.Second,
		MaxDeliver: 3,
		Backoff:    []time.Duration{50 * time.Millisecond},
		Timeout:    time.Minute,
		ShareDir:   e.share,
	}
}

// start runs a worker until the test ends or stop is called; stop waits for Run to return.
func (e *env) start(o analyzer.Options, d analyzer.Deps) (stop func()) {
	e.t.Helper()
	if d.JS == nil {
		d.JS = e.js
	}
	d.Log = zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.WarnLevel)
	w, err := analyzer.New(o, d)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("worker: %v", err)
				}
			case <-time.After(60 * time.Second):
				e.t.Errorf("worker did not stop")
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// fakeRules matches every analysis whose module is module.
type fakeRules struct{ module, version string }

func (f fakeRules) Match(in rules.Input) []rules.Match {
	if in.Analysis != nil && strings.EqualFold(in.Analysis.ModuleName, f.module) {
		return []rules.Match{{ID: "KI-" + f.module, Title: "known", Severity: "high", Why: []string{"module_name is " + in.Analysis.ModuleName + " (" + in.Engine + ")"}}}
	}
	return nil
}
func (f fakeRules) Version() string { return f.version }

// fakeMarker marks every verdict as a new bucket and counts calls.
type fakeMarker struct {
	mu sync.Mutex
	n  int
}

func (m *fakeMarker) Mark(_ context.Context, r *pipeline.Result) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	r.Marks.NewBucket = true
	return nil
}

// timedDebugger sums the time spent in the debugger.
type timedDebugger struct {
	r     *cdb.Runner
	mu    sync.Mutex
	total time.Duration
}

func (d *timedDebugger) Analyze(ctx context.Context, dump string) (*cdb.Output, error) {
	out, err := d.r.Analyze(ctx, dump)
	d.mu.Lock()
	d.total += out.Duration
	d.mu.Unlock()
	return out, err
}

func runs(t *testing.T, share, rel string) int {
	b, _ := os.ReadFile(filepath.Join(share, filepath.FromSlash(rel)) + ".runs")
	var n int
	fmt.Sscanf(string(b), "%d", &n)
	return n
}
