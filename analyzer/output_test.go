package analyzer_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bsodwatch/bsodwatch/analyzer"
)

// outputs records what the worker keeps.
type outputs struct {
	mu sync.Mutex
	m  map[string]string
}

func (o *outputs) PutOutput(_ context.Context, id string, out []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[id] = string(out)
	return nil
}

// The whole debugger output behind a verdict is kept by job ID.
func TestWorkerKeepsDebuggerOutput(t *testing.T) {
	e := newEnv(t)
	tr := e.transcript("t.txt", minimalTranscript)
	job := e.dump("web01/kept.dmp", script("transcript: "+tr))
	e.publish(job)
	outs := &outputs{m: map[string]string{}}
	e.start(e.options(), analyzer.Deps{Output: outs})
	if r := e.result(job.ID); r.Engine != "cdb" {
		t.Fatalf("engine %q", r.Engine)
	}
	outs.mu.Lock()
	got := outs.m[job.ID]
	outs.mu.Unlock()
	if !strings.Contains(got, strings.TrimSpace(strings.SplitN(minimalTranscript, "\n", 3)[1])) || len(got) < len(minimalTranscript)/2 {
		t.Errorf("kept output %q does not hold the transcript", got)
	}
}

// A failed run's output is kept too: it is what a person reads to see why it failed.
func TestWorkerKeepsFailedDebuggerOutput(t *testing.T) {
	e := newEnv(t)
	job := e.dump("web01/noopen.dmp", script("mode: noopen"))
	e.publish(job)
	outs := &outputs{m: map[string]string{}}
	e.start(e.options(), analyzer.Deps{Output: outs})
	if r := e.result(job.ID); r.Status != "failed" {
		t.Fatalf("status %q, want failed", r.Status)
	}
	outs.mu.Lock()
	got := outs.m[job.ID]
	outs.mu.Unlock()
	if !strings.Contains(got, "Could not open dump file") {
		t.Errorf("kept output %q, want the debugger's own words", got)
	}
}
