package fetcher_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/pipeline/embedded/embeddedtest"

	"github.com/bsodwatch/bsodwatch/internal/testlog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/dirsource"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// rig is a fetcher wired to a real in-process NATS server and a local dump share.
type rig struct {
	js    jetstream.JetStream
	share *dumpshare.Local
	state *fetcher.KVState
	pub   *intake.Publisher
	logs  *testlog.Buffer
	reg   *prometheus.Registry
}

func newRig(t *testing.T, storeDir string) *rig {
	t.Helper()
	js := embeddedtest.Start(t, storeDir).JS
	ctx := context.Background()
	st, err := fetcher.NewKVState(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	share, err := dumpshare.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &rig{js: js, share: share, state: st, pub: intake.NewPublisher(js), logs: &testlog.Buffer{}, reg: prometheus.NewRegistry()}
}

func (r *rig) fetcher(t *testing.T, o fetcher.Options, inv fetcher.Inventory, src fetcher.Source) *fetcher.Fetcher {
	t.Helper()
	if o.StableAfter == 0 {
		o.StableAfter = 50 * time.Millisecond
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 20 * time.Second
	}
	f, err := fetcher.New(o, fetcher.Deps{
		Inventory: inv, Source: src, Share: r.share, State: r.state, Publisher: r.pub,
		Log: zerolog.New(r.logs), Registerer: r.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// jobs returns every job in the work queue.
// checkShare asserts that the share holds each path with the given sha256.
func (r *rig) checkShare(t *testing.T, want map[string]string) {
	t.Helper()
	for rel, sum := range want {
		p, err := r.share.Path(rel)
		if err != nil {
			t.Fatal(err)
		}
		if got := fileSHA(t, p); got != sum {
			t.Errorf("%s: sha256 %s, want %s", rel, got, sum)
		}
	}
}

func (r *rig) jobs(t *testing.T) []pipeline.Job {
	t.Helper()
	ctx := context.Background()
	s, err := r.js.Stream(ctx, pipeline.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []pipeline.Job
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var j pipeline.Job
		if err := json.Unmarshal(m.Data, &j); err != nil {
			t.Fatalf("job %d: %v", seq, err)
		}
		want := intake.JobID(j.Host, j.SHA256)
		if j.NoDump() {
			want = intake.EventJobID(j.Host, j.Event.Record, j.Event.Time)
		}
		if got := m.Header.Get("Nats-Msg-Id"); got != want || j.ID != want {
			t.Errorf("job %d: Nats-Msg-Id %q, ID %q, want the job identity of host %s and sha256 %s, %q", seq, got, j.ID, j.Host, j.SHA256, want)
		}
		out = append(out, j)
	}
	return out
}

func sweep(t *testing.T, f *fetcher.Fetcher) *fetcher.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := f.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// writeRandom writes n random bytes to p (creating folders) with mtime mt, returning the hash.
func writeRandom(t *testing.T, p string, n int64, mt time.Time) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, n); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o666)
	if !mt.IsZero() {
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// tempFiles lists files a writer left behind under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".bsodwatch-tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestLocalFleetLifecycle(t *testing.T) {
	r := newRig(t, t.TempDir())
	fleet := t.TempDir()
	t1 := time.Date(2024, 5, 1, 12, 34, 56, 0, time.UTC)
	memSum := writeRandom(t, filepath.Join(fleet, "srv01", "MEMORY.DMP"), 20<<20, t1) // parallel path
	miniSum := writeRandom(t, filepath.Join(fleet, "srv01", "Minidump", "050124-01.dmp"), 300<<10, t1)
	writeRandom(t, filepath.Join(fleet, "srv01", "Minidump", "notes.txt"), 10, t1)
	extraSum := writeRandom(t, filepath.Join(fleet, "srv02", "LiveKernelReports", "WATCHDOG", "wd-1.dmp"), 1<<20, t1)
	src, err := dirsource.New(fleet)
	if err != nil {
		t.Fatal(err)
	}
	f := r.fetcher(t, fetcher.Options{Globs: []string{"LiveKernelReports/**/*.dmp"}, CopyWorkers: 4, ChunkSize: 1 << 20, ParallelMinBytes: 4 << 20}, src, src)

	// 1. new dumps: all three are copied, verified and queued
	rep := sweep(t, f)
	if !rep.OK() || len(rep.Copied) != 3 || rep.Hosts != 2 {
		t.Fatalf("first sweep: %+v", rep)
	}
	want := map[string]string{
		"srv01/20240501T123456Z-MEMORY.DMP":    memSum,
		"srv01/20240501T123456Z-050124-01.dmp": miniSum,
		"srv02/20240501T123456Z-wd-1.dmp":      extraSum,
	}
	r.checkShare(t, want)
	jobs := r.jobs(t)
	if len(jobs) != 3 {
		t.Fatalf("%d jobs, want 3", len(jobs))
	}
	for _, j := range jobs {
		if want[j.SharePath] != j.SHA256 || j.ID != intake.JobID(j.Host, j.SHA256) || j.Version != pipeline.JobVersion || j.Submitter != "fetcher" || j.Header == nil {
			t.Errorf("bad job %+v", j)
		}
		if !strings.HasPrefix(j.SourcePath, `ADMIN$\`) {
			t.Errorf("source path %q", j.SourcePath)
		}
	}
	if got := counter(t, r.reg, "bsodwatch_fetcher_jobs_published_total"); got != 3 {
		t.Errorf("jobs_published_total = %v", got)
	}

	// 2. nothing new: zero dump bytes read, no job
	rep = sweep(t, f)
	if rep.BytesRead != 0 || len(rep.Copied) != 0 || rep.Unchanged != 3 {
		t.Fatalf("unchanged sweep: %+v", rep)
	}

	// 3. MEMORY.DMP overwritten in place by the next crash: a new copy and a new job
	t2 := t1.Add(48 * time.Hour)
	newSum := writeRandom(t, filepath.Join(fleet, "srv01", "MEMORY.DMP"), 5<<20, t2)
	rep = sweep(t, f)
	if len(rep.Copied) != 1 || rep.Copied[0].SHA256 != newSum || rep.Copied[0].SharePath != "srv01/20240503T123456Z-MEMORY.DMP" {
		t.Fatalf("overwritten sweep: %+v", rep)
	}
	if n := len(r.jobs(t)); n != 4 {
		t.Fatalf("%d jobs, want 4", n)
	}
	if left := tempFiles(t, r.share.Root()); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// counter reads a counter's value from the registry.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 && mf.Metric[0].Counter != nil {
			return mf.Metric[0].Counter.GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestGrowingDumpIsWaitedFor(t *testing.T) {
	r := newRig(t, t.TempDir())
	fleet := t.TempDir()
	p := filepath.Join(fleet, "grow", "MEMORY.DMP")
	writeRandom(t, p, 64<<10, time.Time{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the kernel still writing the dump: it grows for a while, then stops
		defer close(done)
		for i := 0; i < 12; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return
			}
			io.CopyN(fh, rand.Reader, 64<<10)
			fh.Close()
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	src, _ := dirsource.New(fleet)
	f := r.fetcher(t, fetcher.Options{StableAfter: 400 * time.Millisecond, StableTimeout: time.Minute}, src, src)
	rep := sweep(t, f)
	<-done
	fi, _ := os.Stat(p)
	if len(rep.Copied) != 1 || rep.Copied[0].Size != fi.Size() || rep.Copied[0].SHA256 != fileSHA(t, p) {
		t.Fatalf("copied %+v, want the final %d bytes", rep.Copied, fi.Size())
	}
	if fi.Size() != 13*(64<<10) {
		t.Fatalf("writer did not finish: %d bytes", fi.Size())
	}
}

func TestStillGrowingIsLeftForNextSweep(t *testing.T) {
	r := newRig(t, t.TempDir())
	fleet := t.TempDir()
	p := filepath.Join(fleet, "grow", "MEMORY.DMP")
	writeRandom(t, p, 1024, time.Time{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0); err == nil {
				fh.Write([]byte("more"))
				fh.Close()
			}
		}
	}()
	src, _ := dirsource.New(fleet)
	f := r.fetcher(t, fetcher.Options{StableAfter: 100 * time.Millisecond, StableTimeout: 500 * time.Millisecond}, src, src)
	rep := sweep(t, f)
	close(stop)
	<-done
	if rep.Unstable != 1 || len(rep.Copied) != 0 || !rep.OK() {
		t.Fatalf("report %+v: want the dump left as unstable, no failure", rep)
	}
	if n := len(r.jobs(t)); n != 0 {
		t.Fatalf("%d jobs for a dump still being written", n)
	}
}

type staticInv struct {
	mu    sync.Mutex
	hosts []fetcher.Host
}

func (s *staticInv) Hosts(context.Context) ([]fetcher.Host, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fetcher.Host(nil), s.hosts...), nil
}

func (s *staticInv) set(h ...fetcher.Host) {
	s.mu.Lock()
	s.hosts = h
	s.mu.Unlock()
}
