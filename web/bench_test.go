package web

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// synth makes n stored verdicts like a fleet's: 2,000 hosts, 300 buckets, a third known
// issues, a few failures, spread over a year.
func synth(n int) []*pipeline.Result {
	rnd := rand.New(rand.NewPCG(1, 2))
	out := make([]*pipeline.Result, n)
	for i := range out {
		b := rnd.IntN(300)
		r := &pipeline.Result{
			Version: pipeline.ResultVersion, Status: pipeline.StatusOK, Engine: "native", Confidence: "high",
			Job: pipeline.Job{ID: fmt.Sprintf("%064x", i), Host: fmt.Sprintf("host-%04d", rnd.IntN(2000)),
				SharePath: "h/x.dmp", DetectedAt: t0.Add(-time.Duration(rnd.IntN(365*24*60)) * time.Minute),
				Header: &pipeline.Header{BugcheckCode: "0x7e"}},
			Analysis: &analysis.Analysis{BugcheckCode: "0x7e", ThirdPartyModule: fmt.Sprintf("drv%03d.sys", b), Complete: true,
				Stack: []analysis.Frame{{Module: "nt", Symbol: "KeBugCheckEx"}, {Module: fmt.Sprintf("drv%03d", b), Symbol: "f+0x10"}}},
			Matches:    []analysis.Match{},
			AnalyzedAt: t0,
		}
		r.Job.ModTime = r.Job.DetectedAt
		switch {
		case b%3 == 0:
			r.Matches = []analysis.Match{{ID: fmt.Sprintf("rule-%d", b%30), Title: "a known issue", Severity: "high", Why: []string{"module matches"}}}
		case b%50 == 1:
			r.Status, r.Error, r.Analysis = pipeline.StatusFailed, "dump truncated", nil
		}
		r.Marks.NewBucket = rnd.IntN(300) == 0
		verdict.Ensure(r)
		out[i] = r
	}
	return out
}

// BenchmarkOverview100k renders the overview over 100,000 stored verdicts (the goal is
// under 1 s). The index is loaded once from the results stream; load_s reports how long
// that took.
func BenchmarkOverview100k(b *testing.B) {
	t := time.Now()
	e := start(b, synth(100_000), false)
	load := time.Since(t).Seconds() // publish and index

	for _, page := range []string{"/", "/verdicts?class=unknown", "/hosts", "/buckets"} {
		b.Run(page, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				e.srv.ServeHTTP(w, httptest.NewRequest("GET", page, nil))
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			b.ReportMetric(load, "load_s")
		})
	}
}
