package retention_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
	"github.com/bsodwatch/bsodwatch/retention"
	"github.com/bsodwatch/bsodwatch/secret"
	"github.com/bsodwatch/bsodwatch/silence"
)

// shareDump is one dump the test puts on the share, with its verdict (bucket "" for none).
type shareDump struct {
	name, bucket string
	crash        time.Duration // before the real now
	known        bool
	queued       bool
}

var fixture = []shareDump{
	{name: "old", bucket: "0x7e_drv.sys", crash: 40 * 24 * time.Hour},                       // max_age
	{name: "known", bucket: "0x3b_symevent.sys", crash: 40 * 24 * time.Hour, known: true},   // kept longer
	{name: "silenced", bucket: "0xd1_netx.sys", crash: 40 * 24 * time.Hour},                 // kept longer (silenced)
	{name: "queued", queued: true},                                                          // analysis not finished
	{name: "orphan"},                                                                        // no verdict, past the grace
	{name: "older-of-two", bucket: "0x50_kbd.sys", crash: 10 * 24 * time.Hour, known: true}, // keep_per_bucket
	{name: "newer-of-two", bucket: "0x50_kbd.sys", crash: 9 * 24 * time.Hour, known: true},
}

// runRetention puts the fixture on s (root is the folder behind it), publishes its
// verdicts and jobs, and checks a dry run, a real run and a second run.
func runRetention(t *testing.T, s dumpshare.Share, root string) {
	ctx := context.Background()
	js := embeddedtest.Start(t, "").JS
	real := time.Now()
	rels := map[string]string{}
	ids := map[string]string{}
	for i, d := range fixture {
		host := fmt.Sprintf("pc%02d", i)
		rel, _ := dumpshare.Layout(host, d.name+".dmp", real.Add(-d.crash))
		rels[d.name] = rel
		body := strings.Repeat(d.name, 1000)
		sum, err := s.Put(ctx, rel, strings.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		job := pipeline.Job{Version: pipeline.JobVersion, ID: fmt.Sprintf("%064d", i+1), Host: host, SharePath: rel, Size: int64(len(body)), SHA256: sum}
		ids[d.name] = job.ID
		if d.queued {
			b, _ := json.Marshal(job)
			if _, err := js.Publish(ctx, pipeline.JobsSubject, b, jetstream.WithMsgID(job.ID)); err != nil {
				t.Fatal(err)
			}
		}
		if d.bucket == "" {
			continue
		}
		r := &pipeline.Result{Version: pipeline.ResultVersion, Job: job, Status: pipeline.StatusOK, RulesVersion: "v1",
			Verdict: &analysis.Verdict{Bucket: d.bucket, CrashTime: real.Add(-d.crash)}, Matches: []analysis.Match{}}
		if d.known {
			r.Matches = []analysis.Match{{ID: "known-" + d.name}}
		} else {
			r.Matches = []analysis.Match{{ID: "vulnerable-driver", Tags: []string{"security"}}} // a flag, not a known issue
		}
		b, _ := json.Marshal(r)
		if _, err := js.Publish(ctx, pipeline.ResultSubject(job.ID), b, jetstream.WithMsgID(r.MsgID())); err != nil {
			t.Fatal(err)
		}
	}
	later := real.Add(30*24*time.Hour + time.Hour) // every dump is 30 days on the share
	// acknowledged until after the prune
	if err := (silence.KV{JS: js}).Put(ctx, silence.Entry{Bucket: "0xd1_netx.sys", Kind: silence.KindAck, By: "test", At: real, Until: later.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rd := &history.Reader{JS: js, Log: zerolog.Nop()}
	p, err := retention.NewPruner(retention.Pruner{
		Options: retention.Options{MaxAge: 20 * 24 * time.Hour, KnownIssueMaxAge: 60 * 24 * time.Hour, SilencedMaxAge: 60 * 24 * time.Hour, KeepPerBucket: 1},
		Share:   s, Verdicts: rd, Jobs: retention.JobsStream{JS: js}, Silences: silence.KV{JS: js},
		Marker: retention.HistoryMarker{JS: js, Reader: rd}, Log: zerolog.Nop(), Now: func() time.Time { return later },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := p.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range plan.Remove {
		got[r.Rel] = r.Rule + ": " + r.Why
	}
	want := map[string]string{
		rels["old"]:          "max_age: on the share 30d (max_age 20d)",
		rels["orphan"]:       "max_age: on the share 30d (max_age 20d)",
		rels["older-of-two"]: "keep_per_bucket: bucket 0x50_kbd.sys has 1 newer dumps (keep_per_bucket 1)",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || plan.Pending != 1 || plan.Dumps != len(fixture) {
		t.Fatalf("plan: %v (pending %d, dumps %d)\nwant %v", got, plan.Pending, plan.Dumps, want)
	}
	// The plan alone (a dry run) touched nothing.
	for name, rel := range rels {
		if _, err := s.Stat(ctx, rel); err != nil {
			t.Fatalf("dry run removed %s: %v", name, err)
		}
	}
	if e, _ := rd.Get(ctx, ids["old"]); !e.Result.PrunedAt.IsZero() {
		t.Fatal("dry run marked a verdict")
	}

	var outcomes []retention.Outcome
	c, err := p.Apply(ctx, plan, func(o retention.Outcome) error { outcomes = append(outcomes, o); return nil })
	if err != nil || c.Removed != 3 || c.Failed != 0 || len(outcomes) != 3 {
		t.Fatalf("apply: %+v, %v, %v", c, err, outcomes)
	}
	for name, rel := range rels {
		_, err := s.Stat(ctx, rel)
		gone := errors.Is(err, fs.ErrNotExist)
		if _, planned := want[rel]; planned != gone {
			t.Errorf("%s: removed %v, planned %v (%v)", name, gone, planned, err)
		}
	}
	for name, id := range ids {
		e, err := rd.Get(ctx, id)
		if fixture[slices.IndexFunc(fixture, func(d shareDump) bool { return d.name == name })].bucket == "" {
			continue // no verdict
		}
		if err != nil {
			t.Fatalf("verdict of %s lost: %v", name, err)
		}
		_, planned := want[rels[name]]
		if marked := e.Result.PrunedAt.Equal(later.UTC()); marked != planned {
			t.Errorf("verdict of %s: pruned_at %s, want marked %v", name, e.Result.PrunedAt, planned)
		}
		if e.Result.Verdict == nil || e.Result.Verdict.Bucket == "" {
			t.Errorf("verdict of %s lost its content when marked", name)
		}
	}
	// Nothing left to do; no temporaries, no other file touched.
	plan, c, err = p.RunOnce(ctx)
	if err != nil || len(plan.Remove) != 0 || c.Removed != 0 {
		t.Fatalf("second run: %v, %+v, %v", plan.Remove, c, err)
	}
	if left := listTemps(root); len(left) > 0 {
		t.Fatalf("temporaries: %v", left)
	}
}

func listTemps(root string) []string {
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".bsodwatch-tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestRetentionLocal(t *testing.T) {
	dir := t.TempDir()
	l, err := dumpshare.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	runRetention(t, l, dir)
}

func TestRetentionSMB(t *testing.T) {
	addr, user, pass, root := os.Getenv("BSODWATCH_SMB_ADDR"), os.Getenv("BSODWATCH_SMB_USER"), os.Getenv("BSODWATCH_SMB_PASS"), os.Getenv("BSODWATCH_SMB_ROOT")
	if addr == "" {
		t.Skip("BSODWATCH_SMB_* not set: run scripts/samba.sh start and source $SMB_ROOT/env.sh (make test does)")
	}
	sub := "retention-test-" + time.Now().Format("150405.000000")
	t.Cleanup(func() { os.RemoveAll(filepath.Join(root, "dumps", sub)) })
	s, err := dumpshare.NewSMB(context.Background(), dumpshare.SMBOptions{
		Addr: addr, Share: "dumps", Dir: sub, User: `WORKGROUP\` + user, Password: secret.New(pass), OpTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runRetention(t, s, filepath.Join(root, "dumps", sub))
}

// TestRunRepeats: the pruner role's loop runs at once, then again every interval, and a dump
// that aged past max_age between two runs is removed by the next one; it ends with ctx.
func TestRunRepeats(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	js := embeddedtest.Start(t, "").JS
	root := t.TempDir()
	s, err := dumpshare.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	real := time.Now()
	put := func(host string, age time.Duration) string {
		rel, _ := dumpshare.Layout(host, "m.dmp", real.Add(-age))
		if _, err := s.Put(ctx, rel, strings.NewReader("MDMP"), 4); err != nil {
			t.Fatal(err)
		}
		return rel
	}
	first := put("pc01", 0)
	var clock = struct{ now time.Time }{real.Add(time.Hour)}
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	now := func() time.Time { <-mu; defer func() { mu <- struct{}{} }(); return clock.now }
	tick := make(chan time.Time)
	var intervals []time.Duration
	ran := make(chan struct{}, 10)
	rd := &history.Reader{JS: js, Log: zerolog.Nop()}
	p, err := retention.NewPruner(retention.Pruner{
		Options: retention.Options{MaxAge: 24 * time.Hour, Interval: 2 * time.Hour},
		Share:   s, Verdicts: rd, Jobs: retention.JobsStream{JS: js}, Marker: retention.HistoryMarker{JS: js, Reader: rd},
		Log: zerolog.Nop(), Now: now,
		ObserveFree: func(int64) { ran <- struct{}{} },
		After:       func(d time.Duration) <-chan time.Time { intervals = append(intervals, d); return tick },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-ran // the first run, at once: the dump is an hour old and stays
	if _, err := s.Stat(ctx, first); err != nil {
		t.Fatalf("first run removed a fresh dump: %v", err)
	}
	<-mu
	clock.now = real.Add(8 * 24 * time.Hour) // 8 days later: past max_age and the 7-day grace of a dump with no verdict
	mu <- struct{}{}
	tick <- time.Now()
	<-ran
	if _, err := s.Stat(ctx, first); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("second run kept a dump past max_age: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run ended with %v, want context.Canceled", err)
	}
	if len(intervals) < 1 || intervals[0] != 2*time.Hour {
		t.Errorf("waited %v between runs, want the 2h interval", intervals)
	}
}
