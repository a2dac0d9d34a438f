package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/retention"
)

// TestSharePrune: a dry run lists what would go and why and touches nothing; the real run
// removes those dumps; their verdicts stay, marked, and results shows the mark; usage counts
// what is left.
func TestSharePrune(t *testing.T) {
	js := startHistQueue(t)
	ctx := context.Background()
	dir := t.TempDir()
	share, err := dumpshare.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-30 * 24 * time.Hour)
	put := func(i int, name string, age time.Time, withVerdict bool) string {
		rel, _ := dumpshare.Layout(fmt.Sprintf("pc%d", i), name, age)
		body := strings.Repeat(name, 2000)
		sum, err := share.Put(ctx, rel, strings.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := share.Path(rel)
		os.Chtimes(p, age, age) // as if copied then
		if withVerdict {
			r := &pipeline.Result{Version: pipeline.ResultVersion, Status: pipeline.StatusOK, RulesVersion: "v1",
				Job:     pipeline.Job{ID: fmt.Sprintf("%064d", i), Host: fmt.Sprintf("pc%d", i), SharePath: rel, SHA256: sum, Size: int64(len(body))},
				Verdict: &analysis.Verdict{Bucket: "0x7e_drv" + name, CrashTime: age}, Matches: []analysis.Match{}}
			b, _ := json.Marshal(r)
			if _, err := js.Publish(ctx, pipeline.ResultSubject(r.Job.ID), b, jetstream.WithMsgID(r.MsgID())); err != nil {
				t.Fatal(err)
			}
		}
		return rel
	}
	oldRel := put(1, "old.dmp", old, true)
	newRel := put(2, "new.dmp", time.Now(), true)
	orphan := put(3, "orphan.dmp", old, false)
	cfg := filepath.Join(t.TempDir(), "bsodwatch.yaml")
	os.WriteFile(cfg, []byte("share:\n  dir: "+dir+"\n  retention:\n    max_age: 240h\n"), 0o644)

	run := func(cmd func(context.Context, *env, []string) int, args ...string) (string, string, int) {
		e, stdout, stderr := histEnv()
		code := cmd(ctx, e, args)
		return stdout.String(), stderr.String(), code
	}
	out, errOut, code := run(cmdShare, "prune", "--dry-run", "--json", "--config", cfg)
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s", code, errOut)
	}
	var got []retention.Outcome
	for line := range strings.Lines(out) {
		var o retention.Outcome
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		got = append(got, o)
	}
	if len(got) != 2 || got[0].Removed || got[0].Rule != "max_age" || got[0].Why != "on the share 30d (max_age 10d)" || got[0].Size != 14000 {
		t.Fatalf("dry run output: %+v", got)
	}
	if !strings.Contains(errOut, "would remove (dry run) 2 (") {
		t.Errorf("dry run summary: %s", errOut)
	}
	for _, rel := range []string{oldRel, newRel, orphan} {
		if _, err := share.Stat(ctx, rel); err != nil {
			t.Fatalf("dry run removed %s", rel)
		}
	}

	out, errOut, code = run(cmdShare, "prune", "--config", cfg)
	if code != exitOK || !strings.Contains(out, oldRel) || !strings.Contains(out, orphan) || strings.Contains(out, newRel) || !strings.Contains(out, "max_age") {
		t.Fatalf("prune: exit %d\n%s\n%s", code, out, errOut)
	}
	for rel, gone := range map[string]bool{oldRel: true, orphan: true, newRel: false} {
		if _, err := share.Stat(ctx, rel); (err != nil) != gone {
			t.Errorf("%s: gone %v, want %v", rel, err != nil, gone)
		}
	}

	out, _, _ = run(cmdResults, "--json")
	pruned := 0
	for line := range strings.Lines(out) {
		var r pipeline.Result
		json.Unmarshal([]byte(line), &r)
		if !r.PrunedAt.IsZero() {
			pruned++
			if r.Job.SharePath != oldRel || time.Since(r.PrunedAt) > time.Minute {
				t.Errorf("marked verdict: %s at %s", r.Job.SharePath, r.PrunedAt)
			}
		}
	}
	if pruned != 1 || !strings.Contains(out, `"pruned_at"`) {
		t.Fatalf("results --json: %d marked\n%s", pruned, out)
	}
	out, _, _ = run(cmdResults)
	if !strings.Contains(out, "dump-pruned "+time.Now().UTC().Format("2006-01-02")) {
		t.Errorf("results does not show the mark:\n%s", out)
	}

	out, errOut, code = run(cmdShare, "usage", "--config", cfg)
	if code != exitOK || !strings.HasPrefix(out, "1 dumps, 14000 B") && !strings.HasPrefix(out, "1 dumps, 13.7 KiB") || !strings.Contains(out, "pc2") || !strings.Contains(out, "0x7e_drvnew.dmp") {
		t.Fatalf("usage: exit %d\n%s\n%s", code, out, errOut)
	}
	// a bad retention setting is a usage error at its line
	os.WriteFile(cfg, []byte("share:\n  dir: "+dir+"\n  retention:\n    max_age: 30m\n"), 0o644)
	_, errOut, code = run(cmdShare, "prune", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, "bsodwatch.yaml:4: share.retention.max_age: 30m0s: at least 1h") {
		t.Fatalf("bad config: exit %d: %s", code, errOut)
	}
}
