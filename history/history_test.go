package history

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
	"github.com/bsodwatch/bsodwatch/rules"
)

// startJS runs an in-process NATS server with the pipeline's streams.
func startJS(t testing.TB) jetstream.JetStream {
	t.Helper()
	return embeddedtest.Start(t, "").JS
}

var base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// synth makes n verdicts spread over hosts, buckets and rules, crash times an hour apart.
func synth(n int, seed uint64) []*pipeline.Result {
	rnd := rand.New(rand.NewPCG(seed, 1))
	out := make([]*pipeline.Result, n)
	for i := range out {
		r := &pipeline.Result{
			Version: pipeline.ResultVersion,
			Status:  pipeline.StatusOK,
			Engine:  "cdb",
			Job: pipeline.Job{
				ID:      fmt.Sprintf("%064x", i+1),
				Host:    fmt.Sprintf("SRV%02d", rnd.IntN(12)),
				ModTime: base.Add(time.Duration(i) * time.Hour),
			},
			Analysis: &analysis.Analysis{
				BugcheckCode: "0x7e",
				Stack:        []analysis.Frame{{Module: "nt", Symbol: "KeBugCheckEx"}, {Module: "drv", Symbol: "Foo+0x12"}},
				Complete:     true,
			},
			Matches:    []rules.Match{},
			AnalyzedAt: base.Add(time.Duration(i)*time.Hour + time.Minute),
		}
		switch b := rnd.IntN(10); {
		case b < 7:
			r.Analysis.FailureBucketID = fmt.Sprintf("AV_drv%d!Foo", b)
		default:
			r.Analysis.ThirdPartyModule = fmt.Sprintf("drv%d.sys", b) // bucket from code+module
		}
		for k := range rnd.IntN(3) {
			r.Matches = append(r.Matches, rules.Match{ID: fmt.Sprintf("rule-%d", (k+rnd.IntN(4))%5), Title: "t", Why: []string{"w"}})
		}
		out[i] = r
	}
	return out
}

func TestListFilters(t *testing.T) {
	js := startJS(t)
	rs := synth(300, 7)
	embeddedtest.PublishResults(t, js, rs)
	// Replace one verdict: history must show only the newest per dump.
	repl := *rs[10]
	repl.Matches = []rules.Match{{ID: "replaced", Why: []string{"x"}}}
	embeddedtest.PublishResults(t, js, []*pipeline.Result{&repl})
	rs[10] = &repl

	rd := &Reader{JS: js, Log: zerolog.Nop()}
	ctx := context.Background()
	since := base.Add(200 * time.Hour)
	tests := []struct {
		name string
		f    Filter
		keep func(r *pipeline.Result) bool
	}{
		{"all", Filter{}, func(*pipeline.Result) bool { return true }},
		{"host", Filter{Host: "srv03"}, func(r *pipeline.Result) bool { return r.Job.Host == "SRV03" }},
		{"bucket", Filter{Bucket: "AV_drv2!Foo"}, func(r *pipeline.Result) bool { return r.Analysis.FailureBucketID == "AV_drv2!Foo" }},
		{"code+module bucket", Filter{Bucket: "0x7e_drv8.sys"}, func(r *pipeline.Result) bool { return r.Analysis.ThirdPartyModule == "drv8.sys" }},
		{"rule", Filter{Rule: "rule-3"}, func(r *pipeline.Result) bool {
			return slices.ContainsFunc(r.Matches, func(m rules.Match) bool { return m.ID == "rule-3" })
		}},
		{"replaced rule", Filter{Rule: "replaced"}, func(r *pipeline.Result) bool { return r.Job.ID == rs[10].Job.ID }},
		{"unknown", Filter{Unknown: true}, func(r *pipeline.Result) bool { return len(r.Matches) == 0 }},
		{"since", Filter{Since: since}, func(r *pipeline.Result) bool { return !r.Job.ModTime.Before(since) }},
		{"host+unknown+since", Filter{Host: "SRV05", Unknown: true, Since: since}, func(r *pipeline.Result) bool {
			return r.Job.Host == "SRV05" && len(r.Matches) == 0 && !r.Job.ModTime.Before(since)
		}},
		{"no such host", Filter{Host: "nope"}, func(*pipeline.Result) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for i := len(rs) - 1; i >= 0; i-- { // rs is in crash order: newest first = reversed
				if tc.keep(rs[i]) {
					want = append(want, rs[i].Job.ID)
				}
			}
			got, err := rd.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.Result.Job.ID)
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("got %d verdicts, want %d\ngot  %.3v\nwant %.3v", len(ids), len(want), ids, want)
			}
			if tc.name == "all" && len(ids) != 300 {
				t.Fatalf("history holds %d verdicts, want 300 (one per dump)", len(ids))
			}
		})
	}
}

func TestCount(t *testing.T) {
	js := startJS(t)
	rs := synth(400, 11)
	embeddedtest.PublishResults(t, js, rs)
	rd := &Reader{JS: js, Log: zerolog.Nop()}
	for _, by := range []string{ByHost, ByBucket, ByRule} {
		t.Run(by, func(t *testing.T) {
			want := map[string]int{}
			for _, r := range rs {
				switch by {
				case ByHost:
					want[strings.ToLower(r.Job.Host)]++
				case ByBucket:
					if b := r.Analysis.FailureBucketID; b != "" {
						want[b]++
					} else {
						want["0x7e_"+r.Analysis.ThirdPartyModule]++
					}
				case ByRule:
					if len(r.Matches) == 0 {
						want[NoRule]++
					}
					for _, m := range r.Matches {
						want[m.ID]++
					}
				}
			}
			got, err := rd.Count(context.Background(), Filter{}, by)
			if err != nil {
				t.Fatal(err)
			}
			gotm := map[string]int{}
			for i, c := range got {
				gotm[c.Key] = c.Count
				if i > 0 && got[i-1].Count < c.Count {
					t.Errorf("not sorted by count: %v before %v", got[i-1], c)
				}
				if c.Last.IsZero() {
					t.Errorf("%s: no last crash time", c.Key)
				}
			}
			if fmt.Sprint(gotm) != fmt.Sprint(want) {
				t.Fatalf("counts\ngot  %v\nwant %v", gotm, want)
			}
		})
	}
	if _, err := rd.Count(context.Background(), Filter{}, "colour"); err == nil {
		t.Fatal("count by an unknown key: no error")
	}
}

func TestEmptyHistory(t *testing.T) {
	js := startJS(t)
	rd := &Reader{JS: js, Log: zerolog.Nop()}
	got, err := rd.List(context.Background(), Filter{})
	if err != nil || len(got) != 0 {
		t.Fatalf("empty stream: %v, %v", got, err)
	}
	// A since after every stored verdict must return at once, not wait for new ones.
	embeddedtest.PublishResults(t, js, synth(3, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err = rd.List(ctx, Filter{Since: time.Now().Add(10 * 24 * time.Hour)})
	if err != nil || len(got) != 0 {
		t.Fatalf("since in the future: %v, %v", got, err)
	}
}

func TestCorruptVerdictSkipped(t *testing.T) {
	js := startJS(t)
	embeddedtest.PublishResults(t, js, synth(5, 3))
	if _, err := js.Publish(context.Background(), pipeline.ResultSubject("garbage"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	rd := &Reader{JS: js, Log: zerolog.Nop()}
	got, err := rd.List(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("got %d verdicts, want the 5 good ones", len(got))
	}
}

func verdict(id, host, bucket string, at time.Time) *pipeline.Result {
	return &pipeline.Result{
		Job:      pipeline.Job{ID: id, Host: host, ModTime: at},
		Analysis: &analysis.Analysis{FailureBucketID: bucket},
	}
}

func TestMarks(t *testing.T) {
	js := startJS(t)
	reg := prometheus.NewRegistry()
	m, err := NewMarker(context.Background(), js, Options{RegressionQuiet: 7 * 24 * time.Hour, CrashLoopCount: 3, CrashLoopWindow: 6 * time.Hour}, reg)
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	steps := []struct {
		id, host, bucket string
		at               time.Duration
		want             pipeline.Marks
	}{
		{"j1", "web01", "A", 0, pipeline.Marks{NewBucket: true}},
		{"j2", "web02", "A", 1 * day, pipeline.Marks{}},
		{"j1", "web01", "A", 0, pipeline.Marks{NewBucket: true}}, // redelivered: same marks
		{"j3", "web03", "B", 2 * day, pipeline.Marks{NewBucket: true}},
		{"j4", "web02", "A", 9 * day, pipeline.Marks{Regression: true}}, // quiet 8 days > 7
		{"j4", "web02", "A", 9 * day, pipeline.Marks{Regression: true}}, // redelivered
		{"j5", "web02", "A", 10 * day, pipeline.Marks{}},                // quiet 1 day
		{"j6", "web04", "B", 10*day + time.Hour, pipeline.Marks{Regression: true}},
		// crash loop on db01: 3 crashes within 6h
		{"j7", "db01", "C", 20 * day, pipeline.Marks{NewBucket: true}},
		{"j8", "db01", "C", 20*day + 2*time.Hour, pipeline.Marks{}},
		{"j9", "db01", "C", 20*day + 5*time.Hour, pipeline.Marks{CrashLoop: true}},
		{"j9", "DB01", "C", 20*day + 5*time.Hour, pipeline.Marks{CrashLoop: true}}, // redelivered, host case differs
		{"j10", "db01", "C", 20*day + 9*time.Hour, pipeline.Marks{}},               // j7 and j8 have left the window: 2 in 6h (j9, j10)
		{"j11", "db01", "C", 20*day + 10*time.Hour, pipeline.Marks{CrashLoop: true}},
		// an old dump submitted late does not count as a regression of its bucket
		{"j12", "web05", "A", 3 * day, pipeline.Marks{}},
		// unknown hosts never loop
		{"u1", "unknown", "D", 30 * day, pipeline.Marks{NewBucket: true}},
		{"u2", "unknown", "D", 30 * day, pipeline.Marks{}},
		{"u3", "unknown", "D", 30 * day, pipeline.Marks{}},
	}
	for i, s := range steps {
		r := verdict(s.id, s.host, s.bucket, base.Add(s.at))
		if err := m.Mark(context.Background(), r); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if r.Marks != s.want {
			t.Errorf("step %d (%s %s %s): marks %+v, want %+v", i, s.id, s.host, s.bucket, r.Marks, s.want)
		}
	}
	// A second marker on the same registry (two workers in one process) shares the metric.
	m2, err := NewMarker(context.Background(), js, Options{RegressionQuiet: 7 * 24 * time.Hour}, reg)
	if err != nil {
		t.Fatalf("second marker on one registry: %v", err)
	}
	if err := m2.Mark(context.Background(), verdict("z1", "web01", "Z", base)); err != nil {
		t.Fatal(err)
	}
	if n := counterValue(t, reg, "bsodwatch_history_marks_total", "new_bucket"); n != 6 {
		t.Errorf("new_bucket metric %v, want 6", n)
	}
	if err := m.Mark(context.Background(), &pipeline.Result{}); err == nil {
		t.Error("a verdict without a job id was marked")
	}
}

// An unexpected reboot without a bug check (verdict kind reboot, from the host's event log)
// is never a new bucket, but it counts towards the host's crash loop: two blue screens and a
// power loss within the window are a loop.
func TestRebootsCountTowardsCrashLoop(t *testing.T) {
	js := startJS(t)
	m, err := NewMarker(context.Background(), js, Options{CrashLoopCount: 3, CrashLoopWindow: 6 * time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reboot := func(id string, at time.Time) *pipeline.Result {
		return &pipeline.Result{Job: pipeline.Job{ID: id, Host: "web01"},
			Verdict: &analysis.Verdict{Kind: analysis.KindReboot, Bucket: "reboot", CrashTime: at}}
	}
	steps := []struct {
		r    *pipeline.Result
		want pipeline.Marks
	}{
		{reboot("r1", base), pipeline.Marks{}},
		{reboot("r2", base.Add(time.Hour)), pipeline.Marks{}},
		{verdict("j1", "web01", "A", base.Add(2*time.Hour)), pipeline.Marks{NewBucket: true, CrashLoop: true}},
		{reboot("r3", base.Add(3*time.Hour)), pipeline.Marks{CrashLoop: true}},
		{reboot("r4", base.Add(30*time.Hour)), pipeline.Marks{}},
	}
	for i, s := range steps {
		if err := m.Mark(context.Background(), s.r); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if s.r.Marks != s.want {
			t.Errorf("step %d (%s): marks %+v, want %+v", i, s.r.Job.ID, s.r.Marks, s.want)
		}
	}
}

// A failed analysis is never a new bucket (it names none worth calling new), even the first
// time its "bucket" is seen, and does not use up the bucket's first sighting; the host's
// crash still counts towards a crash loop.
func TestFailedAnalysisIsNoNewBucket(t *testing.T) {
	js := startJS(t)
	m, err := NewMarker(context.Background(), js, Options{CrashLoopCount: 2, CrashLoopWindow: 6 * time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	failed := verdict("f1", "web01", "A", base)
	failed.Status, failed.Error = pipeline.StatusFailed, "cdb: exit 2"
	if err := m.Mark(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	if failed.Marks.NewBucket || failed.Marks.Regression {
		t.Errorf("failed analysis marked %+v", failed.Marks)
	}
	ok := verdict("j1", "web01", "A", base.Add(time.Hour))
	if err := m.Mark(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if want := (pipeline.Marks{NewBucket: true, CrashLoop: true}); ok.Marks != want {
		t.Errorf("first good analysis of the bucket: marks %+v, want %+v", ok.Marks, want)
	}
}

// Several analyzers marking at once: exactly one of them sees a new bucket, and every crash
// of the host is counted.
func TestMarkConcurrent(t *testing.T) {
	js := startJS(t)
	const workers, each = 4, 10
	var newBuckets, loops int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		m, err := NewMarker(context.Background(), js, Options{CrashLoopCount: workers * each, CrashLoopWindow: time.Hour}, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := range each {
				r := verdict(fmt.Sprintf("w%d-%d", w, i), "hot", "SAME", base.Add(time.Duration(w*each+i)*time.Second))
				if err := m.Mark(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if r.Marks.NewBucket {
					newBuckets++
				}
				if r.Marks.CrashLoop {
					loops++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if newBuckets != 1 {
		t.Errorf("%d verdicts marked as a new bucket, want 1", newBuckets)
	}
	kv, err := js.KeyValue(context.Background(), DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), kvKey("h", "hot"))
	if err != nil {
		t.Fatal(err)
	}
	var hs hostState
	if err := json.Unmarshal(e.Value(), &hs); err != nil {
		t.Fatal(err)
	}
	if len(hs.Crashes) != workers*each {
		t.Errorf("host remembers %d crashes, want %d (a lost update)", len(hs.Crashes), workers*each)
	}
	e, err = kv.Get(context.Background(), kvKey("b", "SAME"))
	if err != nil {
		t.Fatal(err)
	}
	var bs bucketState
	if err := json.Unmarshal(e.Value(), &bs); err != nil {
		t.Fatal(err)
	}
	if bs.Count != workers*each {
		t.Errorf("bucket counted %d crashes, want %d", bs.Count, workers*each)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.WithDefaults()
	if o.RegressionQuiet != DefaultRegressionQuiet || o.CrashLoopCount != 3 || o.CrashLoopWindow != DefaultCrashLoopWindow || o.Retention != DefaultRetention || o.Bucket != DefaultBucket {
		t.Fatalf("defaults: %+v", o)
	}
	if got := (Options{Retention: time.Hour}).StreamOptions().ResultsMaxAge; got != time.Hour {
		t.Fatalf("retention not carried to the stream: %v", got)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// The lean decoding used by Count must agree with the full one on everything Count and the
// filters read.
func TestDecodeLeanAgrees(t *testing.T) {
	rs := synth(50, 5)
	rs[0].Job.Header = &pipeline.Header{BugcheckCode: "0x50", SystemTime: base.Add(-time.Hour)}
	rs[1].Analysis = nil
	rs[1].ProbableCause = &pipeline.Cause{Module: "x.sys"}
	rs[1].Job.Header = &pipeline.Header{BugcheckCode: "0xd1"}
	rs[2].Job.ModTime = time.Time{}
	rs[2].Job.DetectedAt = base.Add(time.Minute)
	for i, r := range rs {
		data, _ := json.Marshal(r)
		full, err := decodeFull(data)
		if err != nil {
			t.Fatal(err)
		}
		lean, err := decodeLean(data)
		if err != nil {
			t.Fatal(err)
		}
		if full.Bucket() != lean.Bucket() || !CrashTime(full).Equal(CrashTime(lean)) || full.Job.Host != lean.Job.Host ||
			fmt.Sprint(matchIDs(full)) != fmt.Sprint(matchIDs(lean)) {
			t.Errorf("verdict %d: lean %s %v %v, full %s %v %v", i, lean.Bucket(), CrashTime(lean), matchIDs(lean),
				full.Bucket(), CrashTime(full), matchIDs(full))
		}
	}
	if _, err := decodeLean([]byte(`{"job":{"mtime":"yesterday"}}`)); err == nil {
		t.Error("a bad time decoded")
	}
}

func matchIDs(r *pipeline.Result) []string {
	var ids []string
	for _, m := range r.Matches {
		ids = append(ids, m.ID)
	}
	return ids
}

// BenchmarkCount100k counts 100,000 stored verdicts by bucket, decoding on one goroutine
// and on GOMAXPROCS.
func BenchmarkCount100k(b *testing.B) {
	js := startJS(b)
	embeddedtest.PublishResults(b, js, synth(100_000, 9))
	rd := &Reader{JS: js, Log: zerolog.Nop()}
	defer func(n int) { countWorkers = n }(countWorkers)
	for _, w := range []int{1, max(runtime.GOMAXPROCS(0), 2)} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			countWorkers = w
			for b.Loop() {
				c, err := rd.Count(context.Background(), Filter{}, ByBucket)
				if err != nil || len(c) != 10 {
					b.Fatalf("%v %v", c, err)
				}
			}
		})
	}
}
