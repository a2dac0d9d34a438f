package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/internal/replaycdb/replaytest"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/verdict"
)

func runAnalyze(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Log: zerolog.New(&errb).Level(zerolog.WarnLevel)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = cmdAnalyze(ctx, e, args)
	return code, out.String(), errb.String()
}

func TestAnalyzeFileWithDebugger(t *testing.T) {
	corpus := sharedtest.Dir(t, "corpus")
	dir := t.TempDir()
	dump := filepath.Join(dir, "MEMORY; copy (2).DMP")
	if err := os.WriteFile(dump, []byte("REPLAYCDB\ntranscript: "+filepath.Join(corpus, "kernel", "014.txt")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cdbPath := replaytest.BuildT(t)
	code, out, errs := runAnalyze(t, "file", "--json", "--engine", "cdb", "--cdb", cdbPath, dump)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	var r pipeline.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not a verdict: %v\n%s", err, out)
	}
	if r.Status != "ok" || r.Engine != "cdb" || r.Analysis == nil || r.Analysis.BugcheckCode != "0xc5" || !r.Degraded {
		t.Errorf("verdict %+v", r)
	}

	// The same for people.
	code, out, _ = runAnalyze(t, "file", "--engine", "cdb", "--cdb", cdbPath, dump)
	if code != exitOK || !strings.Contains(out, "0xc5") || !strings.Contains(out, "degraded") {
		t.Errorf("exit %d, text output:\n%s", code, out)
	}
}

func TestAnalyzeFileNative(t *testing.T) {
	dumps := sharedtest.Dir(t, "dumps")
	code, out, errs := runAnalyze(t, "file", "--json", "--engine", "native", filepath.Join(dumps, "kernel", "triage-arm64-win10-17134-bce2.dmp"))
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	var r pipeline.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Engine != "native" || r.Analysis == nil || !strings.EqualFold(strings.TrimLeft(strings.TrimPrefix(r.Analysis.BugcheckCode, "0x"), "0"), "e2") {
		t.Errorf("engine %q analysis %+v", r.Engine, r.Analysis)
	}
}

// A loaded vulnerable driver is a flag beside the verdict, not its known issue: the text
// says "no known issue" first, then the flag, never a match line for the flag.
func TestAnalyzeFileFlagIsNotAMatch(t *testing.T) {
	dumps := sharedtest.Dir(t, "dumps")
	code, out, errs := runAnalyze(t, "file", "--engine", "native", filepath.Join(dumps, "kernel", "triage-x64-win10-19041-bc1000007e.dmp"))
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	none := strings.Index(out, "match:       none (no known issue)")
	flag := strings.Index(out, "flag:        vulnerable-driver-other-byovd")
	if none < 0 || flag < none || strings.Contains(out, "match:       vulnerable-driver") {
		t.Errorf("want 'no known issue' then the flag line:\n%s", out)
	}
}

func TestAnalyzeUsageErrors(t *testing.T) {
	type usageCase struct {
		name string
		args []string
		code int
		msg  string
	}
	tests := []usageCase{
		{"no share", []string{"--nats", "nats://127.0.0.1:1"}, exitUsage, "bsodwatch analyze: analyzer.share_dir: required: the dump share that jobs name files on"},
		{"bad engine", []string{"--share", "x", "--engine", "windbg"}, exitUsage, `bsodwatch analyze: analyzer.engine: "windbg": want auto, cdb or native`},
		{"bad backoff", []string{"--share", "x", "--backoff", "soon"}, exitUsage, "--backoff"},
		{"stray argument", []string{"x.dmp"}, exitUsage, "unexpected argument"},
		{"file without dump", []string{"file"}, exitUsage, "exactly one DUMP"},
		{"file missing", []string{"file", filepath.Join(os.TempDir(), "no-such-dump.dmp")}, exitUsage, "no-such-dump.dmp"},
		{"cdb required but absent", []string{"file", "--engine", "cdb", "--cdb", "/no/cdb.exe", "cmd_analyze_test.go"}, exitUsage, "bsodwatch analyze file: cdb_path: /no/cdb.exe: " + notExistReason(t, "/no/cdb.exe")},
		{"service without action", []string{"service"}, exitUsage, "usage"},
		{"service unknown action", []string{"service", "restart"}, exitUsage, "unknown action"},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests,
			usageCase{"service off Windows", []string{"service", "install", "--share", `\\fs\dumps`}, exitUsage, "Windows only"},
			usageCase{"service run off Windows", []string{"service", "run", "--share", `\\fs\dumps`}, exitUsage, "Windows only"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runAnalyze(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.msg) {
				t.Errorf("exit %d (want %d), stderr %q lacks %q", code, tt.code, errs, tt.msg)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") > 3 && tt.name != "service without action" {
				t.Errorf("error is not short:\n%s", errs)
			}
		})
	}
}

// TestServiceArgs: the installed service runs `analyze service run` with exactly the flags
// given to install, in order (its name among them), and off Windows those flags parse as the
// worker's: the error is "Windows only", not a flag error.
func TestServiceArgs(t *testing.T) {
	flags := []string{"--nats", "nats://nats01:4222", "--share", `\\fs01\dumps`, "--symbol-path", `srv*C:\symbols*https://msdl.microsoft.com/download/symbols`, "--service.name", "bw-analyzer"}
	got := serviceArgs(flags)
	want := append([]string{"analyze", "service", "run"}, flags...)
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("service args %q, want %q", got, want)
	}
	if runtime.GOOS != "windows" {
		code, _, errs := runAnalyze(t, got[1:]...)
		if code != exitUsage || !strings.Contains(errs, "Windows only") {
			t.Errorf("exit %d, stderr %q; want the worker flags accepted and Windows only", code, errs)
		}
	}
}

// A suspect culprit is printed as one, with its reason.
func TestPrintVerdictSuspect(t *testing.T) {
	r := notifytest.Suspect()
	verdict.Ensure(r)
	var b strings.Builder
	printVerdict(&b, r)
	out := b.String()
	if !strings.Contains(out, "suspect:") || !strings.Contains(out, "klwfp.sys — Kaspersky") || strings.Contains(out, "culprit:") ||
		!strings.Contains(out, "suspect, not proven: the only firewall driver loaded (Kaspersky)") {
		t.Fatalf("printed:\n%s", out)
	}
}
