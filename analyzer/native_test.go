package analyzer_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// TestNativeEngineRealDumps analyzes the real kernel dumps with the native engine, through the
// queue, and checks each verdict's bugcheck code against the verified values.
func TestNativeEngineRealDumps(t *testing.T) {
	dumps := sharedDumps(t)
	var exp struct {
		Files map[string]struct {
			Kind         string `json:"kind"`
			Size         int64  `json:"size"`
			SHA256       string `json:"sha256"`
			BugcheckCode string `json:"bugcheck_code"`
		} `json:"files"`
	}
	b, err := os.ReadFile(filepath.Join(dumps, "expected", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	want := map[string]string{}
	for rel, f := range exp.Files {
		if f.Kind != "kernel" || f.BugcheckCode == "" {
			continue
		}
		job := &pipeline.Job{Version: pipeline.JobVersion, ID: f.SHA256, SHA256: f.SHA256, Size: f.Size, SharePath: rel, Host: "lab"}
		e.publish(job)
		want[job.ID] = f.BugcheckCode
	}
	if len(want) == 0 {
		t.Fatal("no kernel dumps with a bugcheck code in expected.json")
	}
	o := e.options()
	o.Engine, o.CDBPath, o.ShareDir = analyzer.EngineNative, "", dumps
	e.start(o, analyzer.Deps{})
	for id, code := range want {
		r := e.result(id)
		if r.Status != pipeline.StatusOK || r.Engine != "native" || r.Analysis == nil {
			t.Errorf("%s: status %s engine %q error %q", r.Job.SharePath, r.Status, r.Engine, r.Error)
			continue
		}
		if !sameHex(r.Analysis.BugcheckCode, code) {
			t.Errorf("%s: bugcheck %q, want %q", r.Job.SharePath, r.Analysis.BugcheckCode, code)
		}
		if r.Confidence == "" {
			t.Errorf("%s: no confidence", r.Job.SharePath)
		}
		// The driver reference names the culprit before rules match.
		if n := r.Analysis.CulpritName(); n != "" && (r.Analysis.Culprit == nil || r.Analysis.Culprit.Module == "" || r.Analysis.Culprit.Source == "") {
			t.Errorf("%s: culprit %s not identified: %+v", r.Job.SharePath, n, r.Analysis.Culprit)
		}
	}
}

// TestNativeEngineMalformed: a damaged dump ends failed on the first attempt with the reader's
// reason.
func TestNativeEngineMalformed(t *testing.T) {
	dumps := sharedDumps(t)
	w, err := analyzer.New(analyzer.Options{Engine: analyzer.EngineNative, ShareDir: dumps}, analyzer.Deps{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	rel := "malformed/r2-trunc-memory64.dmp"
	job := jobFor(t, dumps, rel)
	_, err = w.Analyze(context.Background(), job)
	var jerr *analyzer.JobError
	if !errors.As(err, &jerr) || !jerr.Permanent || jerr.Engine != "native" {
		t.Fatalf("err = %v, want a permanent native JobError", err)
	}
}

func sharedDumps(t *testing.T) string {
	t.Helper()
	return sharedtest.Dir(t, "dumps")
}

func jobFor(t *testing.T, root, rel string) *pipeline.Job {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, share: t.TempDir()}
	j := e.dump("x.dmp", string(b))
	j.SharePath = rel
	return j
}

func sameHex(a, b string) bool {
	x, err1 := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(a), "0x"), 16, 64)
	y, err2 := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(b), "0x"), 16, 64)
	return err1 == nil && err2 == nil && x == y
}
