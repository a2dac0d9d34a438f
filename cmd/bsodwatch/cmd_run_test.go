package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/internal/testlog"
)

// waitFor polls s until it matches re or the deadline passes.
// runProc is `bsodwatch run` started in this process by startRun.
type runProc struct {
	out, errOut *testlog.Buffer
	env         *env
	cancel      context.CancelFunc
	done        chan int // its exit code
}

// startRun dispatches `run` with JSON logs and args in a goroutine; the test's end cancels it.
func startRun(t *testing.T, args ...string) *runProc {
	t.Helper()
	r := &runProc{out: &testlog.Buffer{}, errOut: &testlog.Buffer{}, done: make(chan int, 1)}
	r.env = &env{Stdout: r.out, Stderr: r.errOut, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(cancel)
	go func() { r.done <- dispatch(ctx, r.env, append([]string{"--log.format", "json", "run"}, args...)) }()
	return r
}

func waitFor(t *testing.T, what string, s func() string, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if m := re.FindStringSubmatch(s()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v; output:\n%s", what, d, s())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRunAllInOne runs `bsodwatch run` with no config on a fresh data directory, drops a
// real dump and a file that is no dump into the fleet folder, and expects a verdict naming
// the culprit for the first and a failed verdict for the second; then stops it.
func TestRunAllInOne(t *testing.T) {
	dumps := sharedtest.Dir(t, "dumps")
	data := t.TempDir()
	r := startRun(t, "--data", data, "--metrics", "127.0.0.1:0")
	out, errOut, cancel, done := r.out, r.errOut, r.cancel, r.done
	m := waitFor(t, "start-up summary", out.String, regexp.MustCompile(`metrics +http://(\S+)/metrics`), 60*time.Second)
	base := "http://" + m[1]
	for _, want := range []string{"data     " + data, "fleet    " + filepath.Join(data, "fleet"), "share    " + filepath.Join(data, "share"), "embedded, on loopback nats://127.0.0.1:", "engine   native", "console"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(data, "fleet", "README.txt")); err != nil {
		t.Errorf("fleet README: %v", err)
	}

	host := filepath.Join(data, "fleet", "pc-7", "Minidump")
	if err := os.MkdirAll(host, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dumps, "kernel", "triage-x64-win10-19041-bc1000007e.dmp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "112526-1-01.dmp"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "112526-2-01.dmp"), []byte("this is not a crash dump\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "verdict on the real dump", out.String, regexp.MustCompile(`pc-7: SYSTEM_THREAD_EXCEPTION_NOT_HANDLED \(0x7e\) in amdppm\.sys`), 90*time.Second)
	waitFor(t, "failed verdict on the bad file", out.String, regexp.MustCompile(`failed on pc-7\nReason: native engine: not a Windows crash dump[^\n]*\n(?:[^\n]+\n)*Dump: [^\n]*112526-2-01`), 90*time.Second)

	body, code := httpGet(t, base+"/healthz")
	if code != 200 || !strings.Contains(body, `"nats":"ok"`) || !strings.Contains(body, `"rules":"ok"`) {
		t.Errorf("/healthz %d %s", code, body)
	}
	body, _ = httpGet(t, base+"/metrics")
	for _, want := range []string{`bsodwatch_build_info{role="run"`, "bsodwatch_rules_loaded"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Count(out.String(), "Culprit: amdppm.sys") > 1 {
		t.Errorf("the dump was reported more than once:\n%s", out.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != exitInterrupted {
			t.Errorf("exit %d after cancel, want %d; stderr:\n%s", code, exitInterrupted, errOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not stop within 60s of the cancel")
	}
	if !strings.Contains(errOut.String(), "all roles stopped") {
		t.Errorf("no clean stop in the log:\n%s", errOut.String())
	}
	// Nothing half-written is left in the share.
	filepath.WalkDir(filepath.Join(data, "share"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "tmp") {
			t.Errorf("temporary file left in the share: %s", p)
		}
		return nil
	})
}

func TestRunUsage(t *testing.T) {
	dir := t.TempDir()
	urls := filepath.Join(dir, "urls.yaml")
	if err := os.WriteFile(urls, []byte("nats:\n  urls: [nats://127.0.0.1:1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("nats:\n  ursl: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown role", []string{"run", "--roles", "fetcher,painter"}, `unknown role "painter"`},
		{"nothing to run", []string{"run", "--config", urls, "--roles", "none"}, "leaves nothing to run"},
		{"bad config", []string{"run", "--config", bad}, bad + `:2: unknown key "ursl"`},
		{"stray argument", []string{"run", "now"}, `unexpected argument "now"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			e := &env{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(""), Getenv: func(string) string { return "" }}
			code := dispatch(context.Background(), e, append([]string{"--log.format", "json"}, tc.args...))
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.want)
			}
		})
	}
}

func httpGet(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// Byte-identical dumps from two hosts are two crashes: two verdicts, both hosts counted by
// `results --by host`. The same file fetched again from one host (its copy made anew after
// its time changed) stays one job: JetStream drops the repeat and no second verdict comes.
func TestIdenticalDumpsOnTwoHosts(t *testing.T) {
	dumps := sharedtest.Dir(t, "dumps")
	b, err := os.ReadFile(filepath.Join(dumps, "kernel", "triage-x64-win10-19041-bc1000007e.dmp"))
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	r := startRun(t, "--data", data, "--metrics", "")
	out, errOut, cancel, done, e := r.out, r.errOut, r.cancel, r.done, r.env
	waitFor(t, "start-up summary", out.String, regexp.MustCompile(`Stop with Ctrl-C`), 60*time.Second)
	paths := map[string]string{}
	for _, host := range []string{"web-a", "web-b"} {
		p := filepath.Join(data, "fleet", host, "Minidump", "120126-01.dmp")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths[host] = p
	}
	byHost := func() map[string]int {
		var rout, rerr bytes.Buffer
		re := &env{Stdout: &rout, Stderr: &rerr, Getenv: func(string) string { return "" }, Log: e.Log}
		if code := dispatch(context.Background(), re, []string{"results", "--data", data, "--by", "host", "--json"}); code != exitOK {
			t.Fatalf("results: exit %d: %s", code, rerr.String())
		}
		counts := map[string]int{}
		for _, l := range strings.Fields(rout.String()) {
			var c struct {
				Key   string `json:"key"`
				Count int    `json:"count"`
			}
			if err := json.Unmarshal([]byte(l), &c); err != nil {
				t.Fatalf("results line %q: %v", l, err)
			}
			counts[c.Key] = c.Count
		}
		return counts
	}
	// The console posts the first and folds the second into the bucket's group update; the
	// stored verdicts are the truth.
	deadline := time.Now().Add(90 * time.Second)
	for got := byHost(); got["web-a"] != 1 || got["web-b"] != 1 || len(got) != 2; got = byHost() {
		if time.Now().After(deadline) {
			t.Fatalf("results --by host = %v, want web-a 1 and web-b 1; output:\n%s", got, out.String())
		}
		time.Sleep(300 * time.Millisecond)
	}

	// web-a's file gets a new time: the fetcher copies it again (a new share path) and
	// publishes the same job, which JetStream drops.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(paths["web-a"], later, later); err != nil {
		t.Fatal(err)
	}
	queued := regexp.MustCompile(`"host":"web-a"[^\n]*"message":"dump queued"`)
	deadline = time.Now().Add(60 * time.Second)
	for len(queued.FindAllString(errOut.String(), -1)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("web-a's dump was not fetched again; log:\n%s", errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // time for a second verdict, were there one
	if got := byHost(); got["web-a"] != 1 || got["web-b"] != 1 {
		t.Errorf("results --by host after the re-fetch = %v", got)
	}
	cancel()
	<-done
}
