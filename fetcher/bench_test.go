package fetcher_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	evt "github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/smbsource"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// memState and nopPublisher keep NATS out of the copy and sweep figures.
type memState struct {
	mu   sync.Mutex
	m    map[string]fetcher.Seen
	logs map[string]fetcher.LogState
}

func (s *memState) Get(_ context.Context, h, p string) (fetcher.Seen, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[h+"|"+p]
	return v, ok, nil
}

func (s *memState) Put(_ context.Context, h, p string, v fetcher.Seen) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[h+"|"+p] = v
	return nil
}

func (s *memState) GetLog(_ context.Context, h string) (fetcher.LogState, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.logs[h]
	return v, ok, nil
}

func (s *memState) PutLog(_ context.Context, h string, v fetcher.LogState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		s.logs = map[string]fetcher.LogState{}
	}
	s.logs[h] = v
	return nil
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, *pipeline.Job) (bool, error) { return false, nil }

func benchEnv(b *testing.B, key string) string {
	v := os.Getenv(key)
	if v == "" {
		b.Skipf("%s not set (scripts/bench-copy.sh sets it)", key)
	}
	return v
}

// BenchmarkSMBCopy copies the MEMORY.DMP in ADMIN$\$BSODWATCH_BENCH_DIR from
// $BSODWATCH_BENCH_ADDR to a local share, the way a sweep does (parallel range reads, hash,
// fsync, rename). $BSODWATCH_BENCH_WORKERS, $BSODWATCH_BENCH_SESSIONS and
// $BSODWATCH_BENCH_CHUNK override copy_workers, parallel_sessions and chunk_size; with $BSODWATCH_BENCH_KEEP set the last copy is left
// for the caller to remove (outside a whole-process timing, as for smbclient). Reports MiB/s.
func BenchmarkSMBCopy(b *testing.B) {
	addr := benchEnv(b, "BSODWATCH_BENCH_ADDR")
	dir := benchEnv(b, "BSODWATCH_BENCH_DIR")
	dest := os.Getenv("BSODWATCH_BENCH_DEST")
	if dest == "" {
		dest = b.TempDir()
	}
	workers, _ := strconv.Atoi(os.Getenv("BSODWATCH_BENCH_WORKERS"))
	sessions, _ := strconv.Atoi(os.Getenv("BSODWATCH_BENCH_SESSIONS"))
	chunk, _ := strconv.Atoi(os.Getenv("BSODWATCH_BENCH_CHUNK"))
	o := fetcher.Options{
		Credentials: map[string]fetcher.Credential{"default": {User: benchEnv(b, "BSODWATCH_SMB_USER"), PasswordEnv: "BSODWATCH_SMB_PASS"}},
		StableAfter: time.Millisecond, CopyWorkers: workers, ParallelSessions: sessions, ChunkSize: chunk, ProgressEvery: time.Hour,
	}
	src, err := smbsource.New(o)
	if err != nil {
		b.Fatal(err)
	}
	share, err := dumpshare.NewLocal(dest)
	if err != nil {
		b.Fatal(err)
	}
	inv := &staticInv{hosts: []fetcher.Host{{Name: "bench", Address: addr, Dir: dir}}}
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := fetcher.New(o, fetcher.Deps{Inventory: inv, Source: src, Share: share, State: &memState{m: map[string]fetcher.Seen{}},
			Publisher: nopPublisher{}, Log: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := f.Sweep(context.Background())
		if err != nil || !rep.OK() || len(rep.Copied) == 0 {
			b.Fatalf("sweep: %v %+v", err, rep)
		}
		b.StopTimer()
		for _, c := range rep.Copied {
			bytes += c.Size
			if i < b.N-1 || os.Getenv("BSODWATCH_BENCH_KEEP") == "" {
				share.Remove(context.Background(), c.SharePath)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(bytes)/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
}

// BenchmarkSweepNothingNew sweeps $BSODWATCH_BENCH_HOSTS hosts (127.0.x.y on
// $BSODWATCH_BENCH_SWEEP_PORT, host i rooted at ADMIN$\$BSODWATCH_BENCH_SWEEP_DIR\h<i>) whose
// dumps are all already recorded. Reports dump bytes read.
func BenchmarkSweepNothingNew(b *testing.B) {
	port := benchEnv(b, "BSODWATCH_BENCH_SWEEP_PORT")
	dir := benchEnv(b, "BSODWATCH_BENCH_SWEEP_DIR")
	n, _ := strconv.Atoi(os.Getenv("BSODWATCH_BENCH_HOSTS"))
	if n <= 0 {
		n = 500
	}
	o := fetcher.Options{
		Credentials: map[string]fetcher.Credential{"default": {User: benchEnv(b, "BSODWATCH_SMB_USER"), PasswordEnv: "BSODWATCH_SMB_PASS"}},
		StableAfter: time.Millisecond, Concurrency: 32,
	}
	src, err := smbsource.New(o)
	if err != nil {
		b.Fatal(err)
	}
	var hosts []fetcher.Host
	for i := 0; i < n; i++ {
		ip := fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250)
		hosts = append(hosts, fetcher.Host{Name: "h" + strconv.Itoa(i), Address: ip + ":" + port, Dir: dir + "/h" + strconv.Itoa(i)})
	}
	share, err := dumpshare.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	f, err := fetcher.New(o, fetcher.Deps{Inventory: &staticInv{hosts: hosts}, Source: src, Share: share,
		State: &memState{m: map[string]fetcher.Seen{}}, Publisher: nopPublisher{}, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	// record every dump first; a loaded loopback Samba may drop a few of 500 connections
	for try := 0; ; try++ {
		rep, err := f.Sweep(context.Background())
		if err == nil && rep.OK() && len(rep.Copied) == 0 {
			break
		}
		if try == 5 {
			b.Fatalf("setup sweeps: %v, %d hosts failed (first: %+v)", err, rep.HostsFailed, firstErr(rep))
		}
	}
	var read int64
	failed := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := f.Sweep(context.Background())
		if err != nil || len(rep.Copied) != 0 {
			b.Fatalf("sweep: %v, copied %d", err, len(rep.Copied))
		}
		read += rep.BytesRead
		failed += rep.HostsFailed
	}
	b.ReportMetric(float64(failed)/float64(b.N), "failed-hosts/sweep")
	b.ReportMetric(float64(read)/float64(b.N), "dump-bytes-read/sweep")
	b.ReportMetric(float64(n), "hosts")
}

func firstErr(rep *fetcher.Report) any {
	if rep == nil || len(rep.Errors) == 0 {
		return nil
	}
	return rep.Errors[0]
}

// BenchmarkSMBEventLogSweep sweeps one host over the test Samba ($BSODWATCH_SMB_ADDR) whose
// System log holds 20 MiB or more (CrashHistory, then ordinary records): the first sweep reads
// the whole log, every later one finds it unchanged. Reports the bytes and reads of the log
// per unchanged sweep beside the log's size (what copying the log each sweep would read) and
// the first sweep's bytes; ns/op is one whole sweep (session, listing, log check), beside the
// same sweep with the log off.
func BenchmarkSMBEventLogSweep(b *testing.B) {
	addr := benchEnv(b, "BSODWATCH_SMB_ADDR")
	root := benchEnv(b, "BSODWATCH_SMB_ROOT")
	name := fmt.Sprintf("bench-evlog-%d", time.Now().UnixNano())
	dir := filepath.Join(root, "admin", name, "System32", "winevt", "Logs")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(filepath.Join(root, "admin", name)) })
	// CrashHistory, then ordinary records until the log holds at least 20 MiB of chunks.
	var log []byte
	for n := 2000; len(log) < 20<<20; n *= 2 {
		evs := append(evt.CrashHistoryEvents(), evt.Noise(321, n, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))...)
		log = evt.Log(evs, evt.Options{Dirty: true, NextRecord: 5})
	}
	if err := os.WriteFile(filepath.Join(dir, "System.evtx"), log, 0o644); err != nil {
		b.Fatal(err)
	}
	// Side by side in one run: the same sweep with the log read (unchanged after the first
	// sweep) and with it off, so the log's share of a sweep shows despite a noisy machine.
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprintf("eventlog=%v", on), func(b *testing.B) {
			o := fetcher.Options{
				Credentials: map[string]fetcher.Credential{"default": {User: benchEnv(b, "BSODWATCH_SMB_USER"), PasswordEnv: "BSODWATCH_SMB_PASS"}},
				StableAfter: time.Millisecond, EventLog: fetcher.EventLogOptions{Enabled: &on, Interval: time.Nanosecond},
			}
			src, err := smbsource.New(o)
			if err != nil {
				b.Fatal(err)
			}
			share, err := dumpshare.NewLocal(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			f, err := fetcher.New(o, fetcher.Deps{Inventory: &staticInv{hosts: []fetcher.Host{{Name: "web01", Address: addr, Dir: name}}}, Source: src,
				Share: share, State: &memState{m: map[string]fetcher.Seen{}}, Publisher: nopPublisher{}, Log: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			first, err := f.Sweep(context.Background())
			if err != nil || !first.OK() || (on && (first.EventLogs != 1 || len(first.Crashes) == 0)) {
				b.Fatalf("first sweep: %v %+v", err, first)
			}
			var reads, bytes int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rep, err := f.Sweep(context.Background())
				if err != nil || !rep.OK() || len(rep.Crashes) != 0 || (rep.EventLogs == 1) != on {
					b.Fatalf("sweep: %v %+v", err, rep)
				}
				reads += int64(rep.EventLogReads)
				bytes += rep.EventLogBytes
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "log-bytes-read/sweep")
			b.ReportMetric(float64(reads)/float64(b.N), "log-reads/sweep")
			b.ReportMetric(float64(first.EventLogBytes), "first-sweep-bytes")
			b.ReportMetric(float64(len(log)), "log-size-bytes")
		})
	}
}
