package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
)

const histRuleA = `
  - id: rule-a
    title: Rule A
    severity: high
    match:
      bugcheck_code: [%s]
`

const histRuleB = `
  - id: rule-b
    title: Rule B
    severity: medium
    match:
      module: drv2
`

func histWriteRules(t *testing.T, dir string, body string) *rules.Set {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "test.yaml"), []byte("rules:\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.LoadDir(dir)
	if err != nil {
		t.Fatalf("test rules do not load: %v", err)
	}
	return set
}

var histCodes = []string{"0x7e", "0x50", "0xd1"}

// reanalyzeVerdicts publishes n verdicts matched with set, as an analyzer would have.
func reanalyzeVerdicts(t *testing.T, js jetstream.JetStream, set *rules.Set, n int) []*pipeline.Result {
	t.Helper()
	var rs []*pipeline.Result
	for i := range n {
		r := &pipeline.Result{
			Version: pipeline.ResultVersion, Status: pipeline.StatusOK, Engine: "cdb",
			Job: pipeline.Job{ID: fmt.Sprintf("%064x", i+1), Host: fmt.Sprintf("h%d", i%5),
				ModTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)},
			Analysis: &analysis.Analysis{BugcheckCode: histCodes[i%3], ModuleName: fmt.Sprintf("drv%d", i%4), Complete: true},
		}
		r.Matches = set.Match(rules.Input{Analysis: r.Analysis, Engine: r.Engine})
		if r.Matches == nil {
			r.Matches = []rules.Match{}
		}
		r.RulesVersion = set.Version()
		data, _ := json.Marshal(r)
		if _, err := js.Publish(context.Background(), pipeline.ResultSubject(r.Job.ID), data, jetstream.WithMsgID(r.MsgID())); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	// A failed verdict without an analysis is left alone.
	failed := &pipeline.Result{Version: 1, Status: pipeline.StatusFailed, Job: pipeline.Job{ID: "failed0"}, Error: "cdb timed out"}
	data, _ := json.Marshal(failed)
	if _, err := js.Publish(context.Background(), pipeline.ResultSubject(failed.Job.ID), data); err != nil {
		t.Fatal(err)
	}
	return rs
}

// histStored returns every stored verdict by job id.
func histStored(t *testing.T, js jetstream.JetStream) map[string]history.Entry {
	t.Helper()
	out := map[string]history.Entry{}
	rd := &history.Reader{JS: js, Log: zerolog.Nop()}
	if err := rd.Scan(context.Background(), time.Time{}, func(e history.Entry) error {
		out[e.Result.Job.ID] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// histChangedIDs reads the ids of --json reanalyze output.
func histChangedIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for line := range strings.Lines(out) {
		var c history.Change
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("bad output line %q: %v", line, err)
		}
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestReanalyze adds a rule, then changes one: exactly the verdicts whose matches change
// are re-issued, the others stay as they were, and a dry run publishes nothing.
func TestReanalyze(t *testing.T) {
	js := startHistQueue(t)
	dir := t.TempDir()
	v1 := histWriteRules(t, dir, fmt.Sprintf(histRuleA, "0x7e"))
	rs := reanalyzeVerdicts(t, js, v1, 120)
	ctx := context.Background()

	run := func(args ...string) (string, string, int) {
		e, stdout, stderr := histEnv()
		code := cmdReanalyze(ctx, e, append([]string{"--rules", dir, "--json"}, args...))
		return stdout.String(), stderr.String(), code
	}
	// expect returns the ids of verdicts whose match ids differ between two rule sets.
	expect := func(before, after *rules.Set, only string) []string {
		var ids []string
		for _, r := range rs {
			o := history.RuleIDs(before.Match(rules.Input{Analysis: r.Analysis, Engine: "cdb"}))
			n := history.RuleIDs(after.Match(rules.Input{Analysis: r.Analysis, Engine: "cdb"}))
			if !slices.Equal(o, n) && (only == "" || slices.Contains(o, only) || slices.Contains(n, only)) {
				ids = append(ids, r.Job.ID)
			}
		}
		slices.Sort(ids)
		return ids
	}

	// Same rules: nothing to do.
	out, errOut, code := run()
	if code != exitOK || out != "" || !strings.Contains(errOut, "120 verdicts checked") || !strings.Contains(errOut, "1 skipped") {
		t.Fatalf("unchanged rules: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	steps := []struct {
		name  string
		rules string
		want  int // how many verdicts the step changes, as a check on the expectation itself
	}{
		{"add rule", fmt.Sprintf(histRuleA, "0x7e") + histRuleB, 30},
		{"change rule", fmt.Sprintf(histRuleA, "0x50") + histRuleB, 80},
	}
	prev := v1
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			next := histWriteRules(t, dir, step.rules)
			want := expect(prev, next, "")
			if len(want) != step.want {
				t.Fatalf("test data: %d verdicts affected, want %d", len(want), step.want)
			}
			before := histStored(t, js)

			out, errOut, code := run("--dry-run")
			if code != exitOK || !slices.Equal(histChangedIDs(t, out), want) {
				t.Fatalf("dry run: exit %d, changed %d ids, want %d\n%s", code, len(histChangedIDs(t, out)), len(want), errOut)
			}
			if after := histStored(t, js); !histSameEntries(before, after) {
				t.Fatal("dry run changed stored verdicts")
			}
			out, _, code = run("--dry-run", "--rule", "rule-b")
			if wantB := expect(prev, next, "rule-b"); code != exitOK || !slices.Equal(histChangedIDs(t, out), wantB) {
				t.Fatalf("--rule rule-b: %d ids, want %d", len(histChangedIDs(t, out)), len(wantB))
			}

			out, errOut, code = run()
			if code != exitOK || !slices.Equal(histChangedIDs(t, out), want) {
				t.Fatalf("run: exit %d, %d changed, want %d\n%s", code, len(histChangedIDs(t, out)), len(want), errOut)
			}
			after := histStored(t, js)
			if len(after) != len(before) {
				t.Fatalf("%d verdicts stored after, %d before: a correction must replace, not add", len(after), len(before))
			}
			for id, b := range before {
				a := after[id]
				if !slices.Contains(want, id) {
					if a.Seq != b.Seq {
						t.Errorf("%s: unaffected verdict was re-published", id)
					}
					continue
				}
				r := a.Result
				wantNow := history.RuleIDs(next.Match(rules.Input{Analysis: r.Analysis, Engine: "cdb"}))
				if !r.Reprocessed || !slices.Equal(history.RuleIDs(r.Matches), wantNow) ||
					!slices.Equal(r.PreviousMatches, history.RuleIDs(b.Result.Matches)) || r.RulesVersion != next.Version() {
					t.Errorf("%s: re-issued verdict matches %v (want %v), previous %v, reprocessed %v, rules %s",
						id, history.RuleIDs(r.Matches), wantNow, r.PreviousMatches, r.Reprocessed, r.RulesVersion)
				}
			}
			// Idempotent: a second run finds nothing left to change.
			if out, _, _ := run(); out != "" {
				t.Errorf("second run changed again:\n%s", out)
			}
			prev = next
		})
	}
}

func histSameEntries(a, b map[string]history.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for id, e := range a {
		if b[id].Seq != e.Seq {
			return false
		}
	}
	return true
}

func TestReanalyzeTextDiff(t *testing.T) {
	js := startHistQueue(t)
	dir := t.TempDir()
	v1 := histWriteRules(t, dir, fmt.Sprintf(histRuleA, "0x7e"))
	reanalyzeVerdicts(t, js, v1, 3) // codes 0x7e, 0x50, 0xd1
	histWriteRules(t, dir, fmt.Sprintf(histRuleA, "0x50"))
	e, stdout, stderr := histEnv()
	if code := cmdReanalyze(context.Background(), e, []string{"--rules", dir, "--dry-run"}); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	out := stdout.String()
	first, second := fmt.Sprintf("%064x", 1)[:12], fmt.Sprintf("%064x", 2)[:12]
	if !strings.Contains(out, first) || !strings.Contains(out, "  - rule-a\n  (now matches no rule)") ||
		!strings.Contains(out, second) || !strings.Contains(out, "  + rule-a\n") {
		t.Errorf("diff:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "would re-issue (dry run) 0") {
		t.Errorf("summary: %s", stderr)
	}
}

// racingMatcher re-issues the verdict it is asked about (as an analyzer would, between
// reanalyze's read and its correction) before answering with the real rules.
type racingMatcher struct {
	t   *testing.T
	js  jetstream.JetStream
	r   *pipeline.Result
	set *rules.Set
}

func (m racingMatcher) Match(in rules.Input) []rules.Match {
	r := *m.r
	r.Worker = "another-analyzer"
	data, _ := json.Marshal(r)
	if _, err := m.js.Publish(context.Background(), pipeline.ResultSubject(r.Job.ID), data); err != nil {
		m.t.Error(err)
	}
	return m.set.Match(in)
}

func (m racingMatcher) Version() string { return m.set.Version() }

// A verdict replaced while reanalyze works is left alone, and the run says so.
func TestReanalyzeRace(t *testing.T) {
	js := startHistQueue(t)
	dir := t.TempDir()
	v1 := histWriteRules(t, dir, fmt.Sprintf(histRuleA, "0x7e"))
	rs := reanalyzeVerdicts(t, js, v1, 1)
	v2 := histWriteRules(t, dir, fmt.Sprintf(histRuleA, "0x50"))
	ra := &history.Reanalysis{JS: js, Rules: racingMatcher{t: t, js: js, r: rs[0], set: v2}}
	rd := &history.Reader{JS: js, Log: zerolog.Nop()}
	st, err := ra.Run(context.Background(), rd, func(history.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Raced != 1 || st.Published != 0 {
		t.Fatalf("counts %+v, want one race and nothing published", st)
	}
	if got := histStored(t, js)[rs[0].Job.ID].Result; got.Worker != "another-analyzer" || got.Reprocessed {
		t.Fatalf("the newer verdict was overwritten: %+v", got)
	}
}
