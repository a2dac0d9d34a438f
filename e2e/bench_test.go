package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkPipeline1000 puts 1,000 small dumps (replay-debugger scripts) on 100 hosts of the
// test Samba and measures the wall time from the start of `bsodwatch run` until the 1,000th
// chat message: the pipeline's whole overhead, as the replay debugger does no analysis work.
// Run it with scripts/bench-pipeline.sh (one iteration is one batch).
func BenchmarkPipeline1000(b *testing.B) {
	smb := needSMB(b)
	trs := pickTranscripts(b, 20)
	for range b.N {
		b.StopTimer()
		f := newFleet(b, smb, "bench-1000")
		var names []string
		for i := range 1000 {
			n := fmt.Sprintf("1125%02d-%d-01.dmp", i%100, 10000+i)
			f.addDump(b, fmt.Sprintf("bench-pc%02d", i%100), n, replayDump(trs[i%len(trs)].path, f.id+n))
			names = append(names, n)
		}
		chat := newChatSink(b, 0)
		work := b.TempDir()
		cfg := pipelineConfig{
			dataDir: filepath.Join(work, "data"), inventory: f.inventory(b, work),
			engine: "cdb", cdbPath: bin.replaycdb, shareSMBDir: f.id, shareLocal: f.shareDir, smb: smb,
			// Dumps that sat still for an hour need no real stability wait; measure the rest.
			stableAfter: time.Millisecond,
		}.write(b, work)
		p := newProc(b, "run", []string{"E2E_CHAT_URL=" + chat.srv.URL}, "run", "--config", cfg)
		b.StartTimer()
		start := time.Now()
		p.start(b)
		chat.waitMessages(b, 10*time.Minute, "1000 messages", func(ms []string) bool { return len(ms) >= len(names) })
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(elapsed.Seconds(), "s/1000dumps")
		b.ReportMetric(float64(peakRSS(p))/(1<<20), "peakMiB")
		p.stop(60 * time.Second)
		if st := p.last; st != nil {
			// CPU of bsodwatch and its debugger children (not smbd's): steadier than wall time
			// on a shared machine.
			b.ReportMetric((st.UserTime() + st.SystemTime()).Seconds(), "cpu-s")
		}
		// When each stage finished its last dump, from the process's log: shows the bottleneck.
		for _, st := range []struct{ msg, unit string }{{"dump queued", "s-fetched"}, {"verdict published", "s-analyzed"}, {"delivered", "s-posted"}} {
			if last := lastLogTime(p.log(), st.msg); !last.IsZero() {
				b.ReportMetric(last.Sub(start).Seconds(), st.unit)
			}
		}
		// Warnings and errors (a failed post retried, a redelivery) explain a slow batch; the
		// log of a batch over 15 s is kept in $BENCH_LOG_DIR when that is set.
		log := p.log()
		b.ReportMetric(float64(strings.Count(log, `"level":"warn"`)+strings.Count(log, `"level":"error"`)), "warnings")
		if d := os.Getenv("BENCH_LOG_DIR"); d != "" && elapsed > 15*time.Second {
			name := filepath.Join(d, fmt.Sprintf("pipeline-%s-%.0fs.log", start.UTC().Format("20060102T150405"), elapsed.Seconds()))
			if err := os.WriteFile(name, []byte(log), 0o644); err != nil {
				b.Logf("keep log: %v", err)
			}
		}
		b.StartTimer()
	}
}

// BenchmarkCopy4GiB copies a 4 GiB MEMORY.DMP (sparse on the Samba side) from a test host to
// the dump share with the fetcher alone in its process, and reports the process's peak
// resident memory and the copy rate.
func BenchmarkCopy4GiB(b *testing.B) {
	smb := needSMB(b)
	for range b.N {
		b.StopTimer()
		f := newFleet(b, smb, "bench-4g")
		dir := filepath.Join(f.adminDir, "big-pc")
		if err := os.MkdirAll(dir, 0o777); err != nil {
			b.Fatal(err)
		}
		f.hosts = append(f.hosts, "big-pc")
		mem := filepath.Join(dir, "MEMORY.DMP")
		fh, err := os.Create(mem)
		if err != nil {
			b.Fatal(err)
		}
		fh.WriteString("PAGEDU64")
		fh.Truncate(4 << 30)
		fh.Close()
		old := time.Now().Add(-time.Hour)
		os.Chtimes(mem, old, old)
		work := b.TempDir()
		port := freePort(b)
		url := fmt.Sprintf("127.0.0.1:%d", port)
		cfg := pipelineConfig{
			dataDir: filepath.Join(work, "data"), inventory: f.inventory(b, work), natsURL: "nats://" + url,
			engine: "native", shareSMBDir: f.id, shareLocal: f.shareDir, smb: smb,
		}.write(b, work)
		nats := newProc(b, "nats", nil, "run", "--roles", "none", "--data", filepath.Join(work, "nats"), "--nats.listen", url, "--metrics", "")
		fetch := newProc(b, "fetcher", nil, "run", "--roles", "fetcher", "--config", cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		nats.start(b)
		waitTCP(ctx, b, url)
		b.StartTimer()
		start := time.Now()
		fetch.start(b)
		for !strings.Contains(fetch.log(), `"message":"dump queued"`) {
			if ctx.Err() != nil {
				b.Fatalf("no copy within 10 minutes:\n%s", fetch.log())
			}
			time.Sleep(200 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		b.ReportMetric(float64(peakRSS(fetch))/(1<<20), "peakMiB")
		b.ReportMetric(4096/elapsed.Seconds(), "MiB/s")
		fetch.stop(30 * time.Second)
		nats.stop(30 * time.Second)
		b.StartTimer()
	}
}

// lastLogTime is the time of the last JSON log line with message msg.
func lastLogTime(log, msg string) time.Time {
	var last time.Time
	re := regexp.MustCompile(`"time":"([^"]+)"`)
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"message":"`+msg+`"`) {
			if m := re.FindStringSubmatch(l); m != nil {
				if t, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
					last = t
				}
			}
		}
	}
	return last
}

// peakRSS reads the running process's peak resident set (VmHWM) from /proc, in bytes.
func peakRSS(p *proc) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}
