package fetcher_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	evt "github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/dirsource"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// writeLog puts a System.evtx where Windows keeps it below a host's folder.
func writeLog(t *testing.T, hostDir string, b []byte) {
	t.Helper()
	dir := filepath.Join(hostDir, "System32", "winevt", "Logs")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "System.evtx"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// crashBoot is what a host writes when it comes back from a blue screen (code 0: a power
// loss) that saved no dump: 6008, the boot, and Kernel-Power 41.
func crashBoot(rec uint64, alive time.Time, code uint32) []evt.Event {
	up := alive.Add(2 * time.Minute)
	evs := append([]evt.Event{evt.UnexpectedShutdown(rec, up, alive)}, evt.Boot(rec+1, up)...)
	return append(evs, evt.KernelPower41(rec+4, up, 8, code, [4]uint64{1, 2, 3, 4}))
}

// eventJobs are the queued jobs without a dump, as "record/kind/code" lines.
func eventJobs(jobs []pipeline.Job) []string {
	var out []string
	for _, j := range jobs {
		if j.NoDump() {
			out = append(out, fmt.Sprintf("%s %d/%s/%s", j.Host, j.Event.Record, j.Event.Kind, j.Event.BugcheckCode))
		}
	}
	slices.Sort(out)
	return out
}

func (r *rig) fetcherAt(t *testing.T, o fetcher.Options, inv fetcher.Inventory, src fetcher.Source, now func() time.Time) *fetcher.Fetcher {
	t.Helper()
	if o.StableAfter == 0 {
		o.StableAfter = 50 * time.Millisecond
	}
	f, err := fetcher.New(o, fetcher.Deps{Inventory: inv, Source: src, Share: r.share, State: r.state, Publisher: r.pub,
		Log: zerolog.New(r.logs), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestEventLogCrashes: a host whose System log holds a blue screen without a dump (0x133,
// page file too small), one whose minidump is there (0x7e) and a power loss. One sweep
// queues a job without a dump for the first and the last, and the minidump's job carries the
// log's facts; sweeping again, or after a restart, queues nothing and costs two small reads;
// a later crash is queued once; a cleared log is read again from its start.
func TestEventLogCrashes(t *testing.T) {
	store := t.TempDir()
	r := newRig(t, store)
	fleet := t.TempDir()
	writeLog(t, filepath.Join(fleet, "web01"), evt.CrashHistory())
	dumpAt := time.Date(2024, 5, 1, 7, 14, 0, 0, time.UTC)
	miniSum := writeRandom(t, filepath.Join(fleet, "web01", "Minidump", "050124-12345-01.dmp"), 64<<10, dumpAt)
	writeRandom(t, filepath.Join(fleet, "web02", "MEMORY.DMP"), 64<<10, dumpAt)
	src, err := dirsource.New(fleet)
	if err != nil {
		t.Fatal(err)
	}
	// Every sweep reads the logs (the default interval is 5m).
	o := fetcher.Options{EventLog: fetcher.EventLogOptions{Interval: time.Nanosecond}}
	f := r.fetcher(t, o, src, src)

	rep := sweep(t, f)
	if !rep.OK() || rep.EventLogs != 1 || len(rep.Copied) != 2 || len(rep.Crashes) != 2 {
		t.Fatalf("first sweep: %+v", rep)
	}
	jobs := r.jobs(t)
	if got, want := eventJobs(jobs), []string{"web01 205/no_dump/0x133", "web01 316/unexpected_reboot/"}; !slices.Equal(got, want) {
		t.Fatalf("jobs without a dump %q, want %q", got, want)
	}
	crash1 := time.Date(2024, 5, 1, 3, 12, 0, 0, time.UTC)
	for _, j := range jobs {
		switch {
		case j.NoDump() && j.Event.Record == 205:
			ev := j.Event
			if j.SharePath != "" || j.SHA256 != "" || j.SourcePath != `ADMIN$\System32\winevt\Logs\System.evtx` || j.Submitter != "fetcher" ||
				!ev.Time.Equal(crash1) || ev.LocalTime.Format("15:04 -07:00") != "05:12 +02:00" || ev.DumpSaved ||
				ev.Reason != "page file too small (volmgr 49)" || ev.OSVersion != "10.0.19045.4291" || ev.Computer != "WEB01.corp.example" ||
				!slices.Equal(ev.EventIDs, []int{6008, 41}) || !slices.Equal(ev.Args, []string{"0x1", "0x1e00", "0xfffff8057a4fb320", "0x0"}) {
				t.Errorf("no-dump job %+v event %+v", j, *ev)
			}
		case j.Host == "web01" && !j.NoDump():
			ev := j.Event
			if j.SHA256 != miniSum || ev == nil || ev.Kind != analysis.EventDump || !ev.DumpSaved || ev.Record != 310 ||
				ev.ReportID != "cdc03408-1c74-42d1-ad9c-caae62d7edc3" || ev.DumpPath != `C:\WINDOWS\Minidump\050124-12345-01.dmp` || ev.BugcheckCode != "0x7e" {
				t.Errorf("the minidump's job does not carry its crash: %+v event %+v", j, ev)
			}
		case j.Host == "web02":
			if j.Event != nil {
				t.Errorf("a host without a log got event facts: %+v", j.Event)
			}
		}
	}
	if n := strings.Count(r.logs.String(), "no System event log there"); n != 1 {
		t.Errorf("web02's missing log said %d times, want once", n)
	}

	// Nothing new: the unchanged log costs two chunk-header reads.
	rep = sweep(t, f)
	if !rep.OK() || len(rep.Crashes) != 0 || rep.EventLogReads != 2 || rep.EventLogBytes != 256 || len(r.jobs(t)) != 4 {
		t.Fatalf("second sweep: crashes %v, %d reads, %d bytes, %d jobs", rep.Crashes, rep.EventLogReads, rep.EventLogBytes, len(r.jobs(t)))
	}
	if n := strings.Count(r.logs.String(), "no System event log there"); n != 1 {
		t.Errorf("web02's missing log said %d times after two sweeps, want once", n)
	}

	// A restarted fetcher (same state bucket) reads nothing again.
	f = r.fetcherAt(t, o, src, src, nil)
	rep = sweep(t, f)
	if !rep.OK() || len(rep.Crashes) != 0 || rep.EventLogReads != 2 || len(r.jobs(t)) != 4 {
		t.Fatalf("after a restart: crashes %v, %d reads, %d jobs", rep.Crashes, rep.EventLogReads, len(r.jobs(t)))
	}

	// The host blue-screens again (0x9f, no dump): one job, once.
	evs := append(evt.CrashHistoryEvents(), crashBoot(321, time.Date(2024, 5, 2, 9, 0, 0, 0, time.UTC), 0x9f)...)
	writeLog(t, filepath.Join(fleet, "web01"), evt.Log(evs, evt.Options{Dirty: true, NextRecord: 5, Chunks: 1, Slots: 2}))
	rep = sweep(t, f)
	if !rep.OK() || len(rep.Crashes) != 1 || rep.Crashes[0].Record != 321 || rep.Crashes[0].BugcheckCode != "0x9f" {
		t.Fatalf("after a new crash: %+v", rep.Crashes)
	}
	if rep = sweep(t, f); len(rep.Crashes) != 0 || len(r.jobs(t)) != 5 {
		t.Fatalf("the new crash came back: %+v, %d jobs", rep.Crashes, len(r.jobs(t)))
	}

	// The log is cleared (record ids start again) and the host crashes: the new log is
	// read from its start, its crash queued though its record id was reported before.
	cleared := append(evt.Boot(1, time.Date(2024, 5, 3, 8, 0, 0, 0, time.UTC)), evt.Noise(4, 400, time.Date(2024, 5, 3, 8, 1, 0, 0, time.UTC))...)
	cleared = append(cleared, crashBoot(404, time.Date(2024, 5, 3, 10, 0, 0, 0, time.UTC), 0xd1)...)
	writeLog(t, filepath.Join(fleet, "web01"), evt.Log(cleared, evt.Options{}))
	rep = sweep(t, f)
	if !rep.OK() || len(rep.Crashes) != 1 || rep.Crashes[0].Record != 404 || rep.Crashes[0].BugcheckCode != "0xd1" {
		t.Fatalf("after a clear: %+v", rep.Crashes)
	}
	if n := strings.Count(r.logs.String(), "the event log was cleared or replaced"); n != 1 {
		t.Errorf("the clear was logged %d times, want once", n)
	}
	if rep = sweep(t, f); len(rep.Crashes) != 0 || len(r.jobs(t)) != 6 || strings.Count(r.logs.String(), "cleared or replaced") != 1 {
		t.Fatalf("after the clear, again: %+v, %d jobs", rep.Crashes, len(r.jobs(t)))
	}
	// Two crashes with one record id in two logs are two jobs.
	var ids []string
	for _, j := range r.jobs(t) {
		if j.NoDump() {
			ids = append(ids, j.ID)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 4 {
		t.Errorf("job ids %v", ids)
	}
	if got := counter(t, r.reg, "bsodwatch_fetcher_eventlog_read_bytes_total"); got <= 0 {
		t.Errorf("eventlog bytes metric %v", got)
	}
}

// A blue screen in the latest boot with no dump report yet waits Settle: WER may still log
// its dump. Many boots between two reads are all reported.
func TestEventLogSettleAndManyBoots(t *testing.T) {
	r := newRig(t, t.TempDir())
	fleet := t.TempDir()
	start := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	evs := append(evt.Boot(1, start), evt.Noise(4, 10, start)...)
	evs = append(evs, crashBoot(14, start.Add(time.Hour), 0x133)...)
	writeLog(t, filepath.Join(fleet, "db01"), evt.Log(evs, evt.Options{}))
	src, _ := dirsource.New(fleet)
	now := start.Add(time.Hour + 5*time.Minute) // the 41 was logged 3 minutes ago
	clock := func() time.Time { return now }
	f := r.fetcherAt(t, fetcher.Options{}, src, src, clock)
	if rep := sweep(t, f); !rep.OK() || len(rep.Crashes) != 0 {
		t.Fatalf("an unsettled crash was reported: %+v", rep.Crashes)
	}
	now = now.Add(10 * time.Minute)
	f = r.fetcherAt(t, fetcher.Options{}, src, src, clock) // the interval has passed too
	rep := sweep(t, f)
	if !rep.OK() || len(rep.Crashes) != 1 || rep.Crashes[0].Record != 14 {
		t.Fatalf("the settled crash: %+v", rep.Crashes)
	}
	// A crash loop: five boots, each after a blue screen, before the next read.
	rec := uint64(19)
	for i := range 5 {
		evs = append(evs, crashBoot(rec, start.Add(time.Duration(2+i)*time.Hour), 0x7b)...)
		rec += 5
	}
	writeLog(t, filepath.Join(fleet, "db01"), evt.Log(evs, evt.Options{}))
	now = start.Add(10 * time.Hour)
	f = r.fetcherAt(t, fetcher.Options{}, src, src, clock)
	rep = sweep(t, f)
	var got []uint64
	for _, c := range rep.Crashes {
		got = append(got, c.Record)
	}
	if !rep.OK() || !slices.Equal(got, []uint64{19, 24, 29, 34, 39}) {
		t.Fatalf("crash loop: reported %v", got)
	}
}

// The event log turned on after the dumps were collected: a crash whose dump was copied
// before and is gone now is not reported again; one whose dump was never copied is.
func TestEventLogDumpCopiedBefore(t *testing.T) {
	r := newRig(t, t.TempDir())
	fleet := t.TempDir()
	writeLog(t, filepath.Join(fleet, "web01"), evt.CrashHistory())
	mini := filepath.Join(fleet, "web01", "Minidump", "050124-12345-01.dmp")
	writeRandom(t, mini, 4096, time.Date(2024, 5, 1, 8, 14, 0, 0, time.UTC))
	src, _ := dirsource.New(fleet)
	off := false
	inv := &staticInv{hosts: []fetcher.Host{{Name: "web01", EventLog: &off}}}
	f := r.fetcher(t, fetcher.Options{}, inv, src)
	if rep := sweep(t, f); !rep.OK() || len(rep.Copied) != 1 || rep.EventLogs != 0 {
		t.Fatalf("with the log off: %+v", rep)
	}
	if err := os.Remove(mini); err != nil {
		t.Fatal(err)
	}
	inv.set(fetcher.Host{Name: "web01"})
	rep := sweep(t, f)
	var kinds []string
	for _, c := range rep.Crashes {
		kinds = append(kinds, fmt.Sprintf("%d/%s", c.Record, c.Kind))
	}
	if !rep.OK() || !slices.Equal(kinds, []string{"205/no_dump", "316/unexpected_reboot"}) {
		t.Fatalf("reported %v, want the crashes without the copied dump's", kinds)
	}
	// Without that copy the same crash is a dump that is gone.
	r2 := newRig(t, t.TempDir())
	f2 := r2.fetcher(t, fetcher.Options{}, &staticInv{hosts: []fetcher.Host{{Name: "web01"}}}, src)
	rep = sweep(t, f2)
	kinds = nil
	for _, c := range rep.Crashes {
		kinds = append(kinds, fmt.Sprintf("%d/%s", c.Record, c.Kind))
	}
	if !slices.Equal(kinds, []string{"205/no_dump", "310/dump_missing", "316/unexpected_reboot"}) {
		t.Fatalf("without a copy: %v", kinds)
	}
	for _, j := range r2.jobs(t) {
		if j.Event.Record == 310 && (!j.Event.DumpSaved || j.Event.ReportID == "" || j.ID != intake.EventJobID("web01", 310, j.Event.Time)) {
			t.Errorf("dump_missing job %+v", j.Event)
		}
	}
}

// Off in the options, the log is never opened; a dry run reports what it would queue and
// queues and records nothing.
func TestEventLogOffAndDryRun(t *testing.T) {
	r := newRig(t, t.TempDir())
	fleet := t.TempDir()
	writeLog(t, filepath.Join(fleet, "web01"), evt.CrashHistory())
	src, _ := dirsource.New(fleet)
	off := false
	f := r.fetcher(t, fetcher.Options{EventLog: fetcher.EventLogOptions{Enabled: &off}}, src, src)
	if rep := sweep(t, f); !rep.OK() || rep.EventLogs != 0 || len(r.jobs(t)) != 0 {
		t.Fatalf("log off: %+v", rep)
	}
	// Sweeping twice: the second reports the same, as the first recorded nothing.
	dry, err := fetcher.New(fetcher.Options{EventLog: fetcher.EventLogOptions{Interval: time.Nanosecond}}, fetcher.Deps{Inventory: src, Source: src, DryRun: true, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rep := sweep(t, dry)
		// no minidump in this fleet: the 0x7e's dump is gone
		if !rep.OK() || len(rep.Crashes) != 3 || len(r.jobs(t)) != 0 {
			t.Fatalf("dry run: %+v", rep)
		}
	}
}

func TestEventLogOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    fetcher.EventLogOptions
		want string
	}{
		{fetcher.EventLogOptions{Interval: -time.Second}, "eventlog.interval: -1s: must not be negative"},
		{fetcher.EventLogOptions{Path: `System32\winevt\Logs\System.evtx`}, `eventlog.path: "System32\\winevt\\Logs\\System.evtx": a file below the admin share, '/'-separated, without '..' or wildcards`},
		{fetcher.EventLogOptions{Path: "../System.evtx", Settle: -time.Minute}, `eventlog.settle: -1m0s: must not be negative; eventlog.path: "../System.evtx": a file below the admin share, '/'-separated, without '..' or wildcards`},
	} {
		err := fetcher.Options{EventLog: tc.o}.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v:\n got %v\nwant %s", tc.o, err, tc.want)
		}
	}
	d := fetcher.Options{}.WithDefaults().EventLog
	if !d.On() || d.Interval != 5*time.Minute || d.Settle != 10*time.Minute || d.Path != fetcher.EventLogPath {
		t.Errorf("defaults %+v", d)
	}
}

// The event log has its own interval: between two dump sweeps an hour apart, a log read
// every 50ms queues a new crash at once, while a new dump waits for the next dump sweep.
func TestEventLogIntervalIndependentOfDumpSweeps(t *testing.T) {
	r := newRig(t, t.TempDir())
	fleet := t.TempDir()
	start := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	evs := append(evt.Boot(1, start), evt.Noise(4, 10, start)...)
	writeLog(t, filepath.Join(fleet, "db01"), evt.Log(evs, evt.Options{}))
	src, _ := dirsource.New(fleet)
	f := r.fetcher(t, fetcher.Options{Interval: time.Hour, EventLog: fetcher.EventLogOptions{Interval: 50 * time.Millisecond}}, src, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20s", what)
			}
		}
	}
	waitFor("the first sweep", func() bool { return strings.Contains(r.logs.String(), `"message":"sweep done"`) })
	writeRandom(t, filepath.Join(fleet, "db01", "MEMORY.DMP"), 4096, start)
	writeLog(t, filepath.Join(fleet, "db01"), evt.Log(append(evs, crashBoot(14, start.Add(time.Hour), 0x133)...), evt.Options{}))
	waitFor("the crash", func() bool { return len(eventJobs(r.jobs(t))) == 1 })
	time.Sleep(300 * time.Millisecond)
	if jobs := r.jobs(t); len(jobs) != 1 || !jobs[0].NoDump() || jobs[0].Event.Record != 14 {
		t.Fatalf("jobs %+v, want only the crash (the dump waits for the next dump sweep)", jobs)
	}
}
