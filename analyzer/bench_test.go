package analyzer_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/analyzer/cdb"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// BenchmarkWorker pushes b.N jobs through one worker whose debugger (replaycdb) answers at
// once. It reports jobs/s and the worker's own cost per job: wall time minus the time the
// debugger processes ran, divided by the jobs (meaningful with one slot).
func BenchmarkWorker(b *testing.B) {
	for _, slots := range []int{1, 2} {
		b.Run("slots="+strconv.Itoa(slots), func(b *testing.B) { benchWorker(b, slots) })
	}
}

func benchWorker(b *testing.B, slots int) {
	e := newEnv(b)
	tr := e.transcript("t.txt", minimalTranscript)
	jobs := make([]*pipeline.Job, b.N)
	for i := range jobs {
		jobs[i] = e.dump("h/"+strconv.Itoa(i)+".dmp", script("transcript: "+tr, "# "+strconv.Itoa(i)))
	}
	for _, j := range jobs {
		e.publish(j)
	}
	o := e.options()
	o.Slots = slots
	done := make(chan struct{})
	var n int
	sub, err := e.connectNC("count").Subscribe(pipeline.ResultsPrefix+">", func(*nats.Msg) {
		if n++; n == b.N {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	dbg := &timedDebugger{r: &cdb.Runner{Path: replayPath, Timeout: time.Minute}}
	b.ResetTimer()
	start := time.Now()
	stop := e.start(o, analyzer.Deps{Debugger: dbg})
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(dbg.total.Microseconds())/1000/float64(b.N), "debugger-ms/job")
	if slots == 1 {
		b.ReportMetric(float64((elapsed-dbg.total).Microseconds())/1000/float64(b.N), "overhead-ms/job")
	}
}
