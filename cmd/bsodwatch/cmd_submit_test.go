package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"
)

// histNATSURL is the NATS server of the running test, which histEnv's commands reach
// through $BSODWATCH_NATS_URL as a person's would.
var histNATSURL string

// startHistQueue runs a NATS server on a loopback port with the streams and points the
// history commands at it. Tests that use it must not run in parallel (it sets histNATSURL).
func startHistQueue(t testing.TB) jetstream.JetStream {
	t.Helper()
	srv := embeddedtest.Listen(t)
	histNATSURL = srv.URL
	t.Cleanup(func() { histNATSURL = "" })
	return srv.JS
}

func histEnv() (*env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	url := histNATSURL
	getenv := func(k string) string {
		if k == natsURLEnv {
			return url
		}
		return ""
	}
	return &env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: getenv, Log: zerolog.Nop()}, &out, &errb
}

// histFakeAnalyzer stands in for the real analyzer (another engineer's): it takes each job,
// reads the dump back from the share, checks its hash and publishes a verdict whose bucket
// is the header's bugcheck code and the file's hash, so the test can tell verdicts apart.
func histFakeAnalyzer(t testing.TB, ctx context.Context, js jetstream.JetStream, shareDir string) {
	t.Helper()
	cons, err := js.CreateOrUpdateConsumer(ctx, pipeline.JobsStream, jetstream.ConsumerConfig{
		Durable: pipeline.AnalyzerDurable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		var job pipeline.Job
		r := &pipeline.Result{Version: pipeline.ResultVersion, Status: pipeline.StatusOK, Engine: "native", Matches: nil, AnalyzedAt: time.Now().UTC()}
		if err := json.Unmarshal(msg.Data(), &job); err != nil {
			t.Errorf("fake analyzer: bad job: %v", err)
			msg.Term()
			return
		}
		r.Job = job
		data, err := os.ReadFile(filepath.Join(shareDir, filepath.FromSlash(job.SharePath)))
		sum := sha256.Sum256(data)
		switch {
		case err != nil:
			r.Status, r.Error = pipeline.StatusFailed, err.Error()
		case hex.EncodeToString(sum[:]) != job.SHA256 || int64(len(data)) != job.Size:
			r.Status, r.Error = pipeline.StatusFailed, "share copy differs from the job"
		default:
			code := ""
			if job.Header != nil {
				code = job.Header.BugcheckCode
			}
			r.Analysis = &analysis.Analysis{BugcheckCode: code, FailureBucketID: "FAKE_" + job.SHA256[:8], Complete: true}
		}
		out, _ := json.Marshal(r)
		if _, err := js.Publish(ctx, pipeline.ResultSubject(job.ID), out, jetstream.WithMsgID(r.MsgID())); err != nil {
			if ctx.Err() == nil {
				t.Errorf("fake analyzer: publish: %v", err)
			}
			return
		}
		msg.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
}

func histCopyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return histCopyFile(p, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func histCopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func histReadVerdicts(t *testing.T, b []byte) []pipeline.Result {
	t.Helper()
	var out []pipeline.Result
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r pipeline.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("stdout line is not a verdict: %v: %.200s", err, sc.Text())
		}
		out = append(out, r)
	}
	return out
}

// TestSubmitRealDumps submits a copy of the shared real dumps: Windows dumps are queued,
// copied and hashed correctly, foreign and damaged files are reported, a file present twice
// is one job, and --wait returns every verdict. A second submit skips them all as
// duplicates and still returns their verdicts.
func TestSubmitRealDumps(t *testing.T) {
	dumps := sharedtest.Dir(t, "dumps")
	var expected struct {
		Files map[string]struct {
			SHA256 string `json:"sha256"`
			Kind   string `json:"kind"`
		} `json:"files"`
	}
	raw, err := os.ReadFile(filepath.Join(dumps, "expected", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	in := t.TempDir()
	for _, sub := range []string{"kernel", "user", "malformed", "other-os"} {
		histCopyTree(t, filepath.Join(dumps, sub), filepath.Join(in, sub))
	}
	// Host layouts people keep, a second copy of one dump, and a file a walk must ignore.
	x64 := "kernel/triage-x64-win10-19041-bc1000007e.dmp"
	arm := "kernel/triage-arm64-win11-22000-bc1c8.dmp"
	for src, dst := range map[string]string{
		x64:                         "fleet/web01/MEMORY.DMP",
		arm:                         "db02/Minidump/091421-7000-01.dmp",
		"user/lldb-sigsegv-x64.dmp": "copies/again.dmp",
	} {
		if err := histCopyFile(filepath.Join(dumps, src), filepath.Join(in, dst)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not a dump"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The two layout copies duplicate kernel/ files by content: remove those so that the
	// layout decides their host (a duplicate keeps the host of its first job).
	for _, p := range []string{x64, arm} {
		if err := os.Remove(filepath.Join(in, p)); err != nil {
			t.Fatal(err)
		}
	}

	wantOK := map[string]string{}    // sha -> file (under in)
	wantBad := map[string]struct{}{} // file
	for name, f := range expected.Files {
		dir, _, _ := strings.Cut(name, "/")
		switch dir {
		case "kernel", "user":
			wantOK[f.SHA256] = name
		case "malformed", "other-os":
			wantBad[filepath.Join(in, name)] = struct{}{}
		}
	}

	js := startHistQueue(t)
	share := filepath.Join(t.TempDir(), "share")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	histFakeAnalyzer(t, ctx, js, share)

	e, stdout, stderr := histEnv()
	code := cmdSubmit(ctx, e, []string{in, "--share", share, "--wait", "--timeout", "2m", "--json"})
	if code != exitError {
		t.Errorf("exit %d, want %d (some files are unreadable)\nstderr:\n%s", code, exitError, stderr)
	}
	verdicts := histReadVerdicts(t, stdout.Bytes())
	got := map[string]pipeline.Result{} // by content hash: each file is on one host here
	for _, r := range verdicts {
		if _, dup := got[r.Job.SHA256]; dup {
			t.Errorf("verdict for %s printed twice", r.Job.ID)
		}
		got[r.Job.SHA256] = r
	}
	for sha, name := range wantOK {
		r, ok := got[sha]
		if !ok {
			t.Errorf("no verdict for %s (sha256 %s)", name, sha[:12])
			continue
		}
		if r.Status != pipeline.StatusOK || r.Job.SHA256 != sha || r.Job.Submitter != "submit" || r.Job.Header == nil || r.Job.Header.Error != "" {
			t.Errorf("%s: verdict %+v", name, r)
		}
	}
	if len(got) != len(wantOK) {
		t.Errorf("%d verdicts, want %d", len(got), len(wantOK))
	}
	hostOf := func(name string) string { return got[expected.Files[name].SHA256].Job.Host }
	if h := hostOf(x64); h != "web01" {
		t.Errorf("fleet/web01/MEMORY.DMP: host %q, want web01", h)
	}
	if h := hostOf(arm); h != "db02" {
		t.Errorf("db02/Minidump/x.dmp: host %q, want db02", h)
	}
	if h := hostOf("user/bp-null-read-av-x86-win7.dmp"); h != "unknown" {
		t.Errorf("a dump outside any layout, without a computer name: host %q, want unknown", h)
	}
	if code := got[expected.Files[x64].SHA256].Job.Header.BugcheckCode; code != "0x1000007e" {
		t.Errorf("header bugcheck code %q, want 0x1000007e", code)
	}

	summary := stderr.String()
	if !strings.Contains(summary, "duplicates skipped 1,") {
		t.Errorf("summary does not count the one duplicate:\n%s", summary)
	}
	if !strings.Contains(summary, "submitted "+strconv.Itoa(len(wantOK))+",") {
		t.Errorf("summary does not count %d submitted:\n%s", len(wantOK), summary)
	}
	for path := range wantBad {
		if !strings.Contains(summary, "unreadable: "+path+": ") {
			t.Errorf("summary does not report %s as unreadable", path)
		}
	}
	if strings.Contains(summary, "notes.txt") {
		t.Errorf("a walk picked up notes.txt:\n%s", summary)
	}

	// Again: everything is a duplicate, nothing is queued, and the verdicts come back.
	e, stdout, stderr = histEnv()
	code = cmdSubmit(ctx, e, []string{"--share", share, "--wait", "--timeout", "1m", "--json",
		filepath.Join(in, "user"), filepath.Join(in, "fleet")})
	if code != exitOK {
		t.Errorf("second submit: exit %d\n%s", code, stderr)
	}
	nUser := 0
	for _, name := range wantOK {
		if strings.HasPrefix(name, "user/") {
			nUser++
		}
	}
	if !strings.Contains(stderr.String(), "submitted 0, duplicates skipped "+strconv.Itoa(nUser+1)+",") {
		t.Errorf("second submit summary:\n%s", stderr)
	}
	if n := len(histReadVerdicts(t, stdout.Bytes())); n != nUser+1 {
		t.Errorf("second submit printed %d verdicts, want %d", n, nUser+1)
	}
}

// A dump already inside the share is hashed in place, not copied again.
func TestSubmitFileInShare(t *testing.T) {
	dumps := sharedtest.Dir(t, "dumps")
	js := startHistQueue(t)
	share := t.TempDir()
	dst := filepath.Join(share, "srv07", "20240101T000000Z-x.dmp")
	if err := histCopyFile(filepath.Join(dumps, "user", "lldb-sigsegv-x64.dmp"), dst); err != nil {
		t.Fatal(err)
	}
	e, stdout, stderr := histEnv()
	if code := cmdSubmit(context.Background(), e, []string{"--share", share, dst}); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout.String(), "submitted 1,") {
		t.Errorf("summary: %s", stdout)
	}
	msg, err := histStream(t, js, pipeline.JobsStream).GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	var job pipeline.Job
	if err := json.Unmarshal(msg.Data, &job); err != nil {
		t.Fatal(err)
	}
	if job.SharePath != "srv07/20240101T000000Z-x.dmp" || job.Host != "srv07" {
		t.Errorf("job share path %q host %q", job.SharePath, job.Host)
	}
	entries, _ := os.ReadDir(share)
	if len(entries) != 1 {
		t.Errorf("share holds %d entries, want the one file's folder", len(entries))
	}
}

func histStream(t testing.TB, js jetstream.JetStream, name string) jetstream.Stream {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSubmitUsage(t *testing.T) {
	startHistQueue(t)
	share := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no files", []string{"--share", share}, exitUsage, "usage:"},
		{"no share", []string{"x.dmp"}, exitUsage, "--share"},
		{"bad host", []string{"--share", share, "--host", "a/b", "x.dmp"}, exitUsage, "host name"},
		{"missing file", []string{"--share", share, filepath.Join(share, "nope.dmp")}, exitError, notExistReason(t, filepath.Join(share, "nope.dmp"))},
		{"empty glob", []string{"--share", share, filepath.Join(share, "*.dmp")}, exitError, "no file matches"},
		{"not a dump", []string{"--share", share, histWriteTemp(t, "hello, world")}, exitError, "unreadable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, stdout, stderr := histEnv()
			code := cmdSubmit(context.Background(), e, tc.args)
			if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}
}

func histWriteTemp(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "junk.dmp")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseSubmitArgs(t *testing.T) {
	e, _, _ := histEnv()
	fs := newFlagSet(e, "submit", "submit")
	host := fs.String("host", "", "")
	wait := fs.Bool("wait", false, "")
	pos, _, done := parseSubmitArgs(fs, []string{"a", "--host", "h1", "b", "--wait", "--", "--c"})
	if done || !slices.Equal(pos, []string{"a", "b", "--c"}) || *host != "h1" || !*wait {
		t.Fatalf("pos %q host %q wait %v done %v", pos, *host, *wait, done)
	}
}

func TestHostFromLayout(t *testing.T) {
	for path, want := range map[string]string{
		"/x/fleet/web01/MEMORY.DMP":                     "web01",
		"/x/db02/Minidump/0914-01.dmp":                  "db02",
		"/x/app03/LiveKernelReports/WATCHDOG/wd.dmp":    "app03",
		"/x/dumps/crash.dmp":                            "",
		"/x/bad name/MEMORY.DMP":                        "",
		filepath.Join("rel", "h4", "minidump", "a.dmp"): "h4",
	} {
		if got := hostFromLayout(filepath.FromSlash(path)); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

// BenchmarkSubmit10k submits 10,000 small distinct dumps (a real 6 KiB minidump with a
// counter appended) into a fresh queue and share per iteration, and reports files per second
// and the peak heap, which must stay flat however many files there are.
func BenchmarkSubmit10k(b *testing.B) {
	dumps := sharedtest.Dir(b, "dumps")
	seed, err := os.ReadFile(filepath.Join(dumps, "user", "lldb-fizzbuzz-no-heap-x86.dmp"))
	if err != nil {
		b.Fatal(err)
	}
	const n = 10_000
	in := b.TempDir()
	for i := range n {
		data := append(slices.Clip(seed), []byte(fmt.Sprintf("%08d", i))...)
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("%05d.dmp", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		startHistQueue(b)
		share := filepath.Join(b.TempDir(), "share")
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		e, stdout, stderr := histEnv()
		b.StartTimer()
		start := time.Now()
		code := cmdSubmit(context.Background(), e, []string{"--share", share, in})
		el := time.Since(start)
		b.StopTimer()
		close(stop)
		<-sampled
		if code != exitOK || !strings.Contains(stdout.String(), fmt.Sprintf("submitted %d,", n)) {
			b.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		b.ReportMetric(n/el.Seconds(), "files/s")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.StartTimer()
	}
}

func TestSubmitProgressLine(t *testing.T) {
	var buf bytes.Buffer
	p := &submitProgress{w: &buf, tty: true, totalFiles: 10, totalBytes: 4 << 20, start: time.Now().Add(-2 * time.Second)}
	p.files.Store(5)
	p.bytes.Store(2 << 20)
	p.report()
	line := buf.String()
	for _, want := range []string{"\r[############............] 5/10 files", "2.0 MiB/4.0 MiB", "/s  ETA "} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
}
