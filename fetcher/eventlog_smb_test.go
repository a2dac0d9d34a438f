package fetcher_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/eventlog"
	evt "github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/dirsource"
	"github.com/bsodwatch/bsodwatch/fetcher/smbsource"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// putLog writes a System.evtx where Windows keeps it below a host's share root.
func putLog(t *testing.T, root string, b []byte) string {
	t.Helper()
	dir := filepath.Join(root, "System32", "winevt", "Logs")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "System.evtx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// countingFile counts the reads through a log file.
type countingFile struct {
	fetcher.LogFile
	reads atomic.Int64
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.LogFile.ReadAt(p, off)
}

func crashList(l *eventlog.Log) string {
	s := ""
	for _, e := range l.Events {
		switch e.Kind {
		case eventlog.KindBugcheck, eventlog.KindUnexpectedReboot, eventlog.KindUnexpectedShutdown, eventlog.KindDumpNotSaved, eventlog.KindDumpFailed:
			s += fmt.Sprintf("%d/%d/%s ", e.Record, e.ID, e.BugcheckCode)
		}
	}
	return s
}

// openLog opens a session's event log and reads it from a mark.
func openLog(t *testing.T, sess fetcher.Session, m eventlog.Mark) (*eventlog.Log, int64) {
	t.Helper()
	eo, ok := sess.(fetcher.EventLogOpener)
	if !ok {
		t.Fatalf("%T does not open event logs", sess)
	}
	f, err := eo.OpenEventLog(context.Background(), fetcher.EventLogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &countingFile{LogFile: f}
	l, err := eventlog.ReadSince(context.Background(), c, f.Size(), m)
	if err != nil {
		t.Fatal(err)
	}
	return l, c.reads.Load()
}

// TestSMBEventLog reads a real System log from the test Samba's ADMIN$ (put there at test
// time from ../shared/evtx), as a local read does, then a log that changes between reads.
func TestSMBEventLog(t *testing.T) {
	e := needSamba(t)
	real, err := os.ReadFile(filepath.Join(sharedtest.Dir(t, "evtx"), "python-evtx__tests_data__system.evtx"))
	if err != nil {
		t.Fatal(err)
	}
	local, err := eventlog.Read(context.Background(), bytesReader(real), int64(len(real)))
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []struct{ name, addr string }{{"default", e.addr}, {"signing required", e.signedAddr}} {
		t.Run(addr.name, func(t *testing.T) {
			name, dir := e.hostDir(t)
			putLog(t, dir, real)
			src, err := smbsource.New(e.options(e.pass))
			if err != nil {
				t.Fatal(err)
			}
			sess, err := src.Open(context.Background(), fetcher.Host{Name: "win-01", Address: addr.addr, Dir: name})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			l, _ := openLog(t, sess, eventlog.Mark{})
			if got, want := crashList(l), crashList(local); got != want || got != "13388/6008/ 13392/41/0x10001 13423/1001/0x10001 13530/6008/ 13534/41/ " {
				t.Errorf("over SMB %q, locally %q", got, want)
			}
			if l.Mark != local.Mark {
				t.Errorf("mark over SMB %+v, locally %+v", l.Mark, local.Mark)
			}
			again, reads := openLog(t, sess, l.Mark)
			if !again.Unchanged || reads != 2 {
				t.Errorf("unchanged log: unchanged %v in %d reads", again.Unchanged, reads)
			}
		})
	}

	t.Run("written while read", func(t *testing.T) {
		name, dir := e.hostDir(t)
		at := time.Date(2024, 5, 1, 3, 0, 0, 0, time.UTC)
		evs := append(evt.Noise(1, 400, at), evt.Event{Record: 401, Time: at, Provider: "EventLog", ID: 6005})
		opts := evt.Options{Dirty: true, NextRecord: 2, Chunks: 1, Total: 6}
		path := putLog(t, dir, evt.Log(evs, opts))
		src, _ := smbsource.New(e.options(e.pass))
		sess, err := src.Open(context.Background(), fetcher.Host{Name: "win-01", Address: e.addr, Dir: name})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		first, _ := openLog(t, sess, eventlog.Mark{})
		// The "EventLog service" keeps the file open and writes new records into it (the
		// same size: preallocated), as a live log grows.
		w, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		evs = append(evs, evt.Noise(402, 300, at.Add(time.Hour))...)
		evs = append(evs, evt.KernelPower41(702, at.Add(2*time.Hour), 8, 0x133, [4]uint64{1, 0x1e00, 0xfffff8057a4fb320, 0}))
		if _, err := w.WriteAt(evt.Log(evs, opts), 0); err != nil {
			t.Fatal(err)
		}
		l, _ := openLog(t, sess, first.Mark)
		if crashList(l) != "702/41/0x133 " || l.Unchanged {
			t.Errorf("after the write: %q (unchanged %v)", crashList(l), l.Unchanged)
		}
		if again, reads := openLog(t, sess, l.Mark); !again.Unchanged || reads != 2 {
			t.Errorf("then: unchanged %v in %d reads", again.Unchanged, reads)
		}
	})

	t.Run("no log", func(t *testing.T) {
		name, _ := e.hostDir(t)
		src, _ := smbsource.New(e.options(e.pass))
		sess, err := src.Open(context.Background(), fetcher.Host{Name: "win-01", Address: e.addr, Dir: name})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		_, err = sess.(fetcher.EventLogOpener).OpenEventLog(context.Background(), fetcher.EventLogPath)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v, want fs.ErrNotExist", err)
		}
		_, err = sess.(fetcher.EventLogOpener).OpenEventLog(context.Background(), "../System.evtx")
		if !errors.Is(err, fetcher.ErrConfig) {
			t.Errorf("error %v, want ErrConfig", err)
		}
	})
}

// TestSMBEventLogSweep: the fetcher reads a host's System log over the test Samba on its
// sweep, queues the blue screen that left no dump and the power loss once, and an unchanged
// log then costs two 128-byte reads per sweep, also after a restart.
func TestSMBEventLogSweep(t *testing.T) {
	e := needSamba(t)
	name, dir := e.hostDir(t)
	putLog(t, dir, evt.CrashHistory())
	r := newRig(t, t.TempDir())
	o := e.options(e.pass)
	o.EventLog.Interval = time.Nanosecond
	src, err := smbsource.New(o)
	if err != nil {
		t.Fatal(err)
	}
	inv := &staticInv{hosts: []fetcher.Host{{Name: "web01", Address: e.addr, Dir: name}}}
	f := r.fetcher(t, o, inv, src)
	rep := sweep(t, f)
	// No minidump on this host: the 0x7e's dump is gone.
	if got, want := eventJobs(r.jobs(t)), []string{"web01 205/no_dump/0x133", "web01 310/dump_missing/0x7e", "web01 316/unexpected_reboot/"}; !rep.OK() || !slices.Equal(got, want) {
		t.Fatalf("over SMB: %q, want %q (%+v)", got, want, rep.Errors)
	}
	for _, j := range r.jobs(t) {
		if j.Event.Record == 205 && j.Event.Reason != "page file too small (volmgr 49)" {
			t.Errorf("reason %q", j.Event.Reason)
		}
	}
	for i := range 2 {
		if i == 1 {
			f = r.fetcherAt(t, o, inv, src, nil) // restarted
		}
		rep = sweep(t, f)
		if !rep.OK() || len(rep.Crashes) != 0 || rep.EventLogReads != 2 || rep.EventLogBytes != 256 || len(r.jobs(t)) != 3 {
			t.Fatalf("sweep %d of the unchanged log: %d crashes, %d reads, %d bytes, %d jobs", i+2, len(rep.Crashes), rep.EventLogReads, rep.EventLogBytes, len(r.jobs(t)))
		}
	}
}

// TestDirSourceEventLog: the fleet folder holds DATA/fleet/<host>/System32/winevt/Logs/System.evtx.
func TestDirSourceEventLog(t *testing.T) {
	root := t.TempDir()
	at := time.Date(2024, 5, 1, 3, 0, 0, 0, time.UTC)
	putLog(t, filepath.Join(root, "web01"), evt.Log(append(evt.Noise(1, 50, at), evt.KernelPower41(51, at, 8, 0x9f, [4]uint64{3})), evt.Options{Total: 4}))
	os.MkdirAll(filepath.Join(root, "web02"), 0o755)
	src, err := dirsource.New(root)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := src.Open(context.Background(), fetcher.Host{Name: "web01"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	l, _ := openLog(t, sess, eventlog.Mark{})
	if crashList(l) != "51/41/0x9f " {
		t.Errorf("events %q", crashList(l))
	}
	if again, reads := openLog(t, sess, l.Mark); !again.Unchanged || reads != 2 {
		t.Errorf("unchanged %v in %d reads", again.Unchanged, reads)
	}
	for _, tc := range []struct {
		host, path string
		want       error
	}{
		{"web02", fetcher.EventLogPath, fs.ErrNotExist},
		{"web01", "../web02/x", fetcher.ErrConfig},
	} {
		s, err := src.Open(context.Background(), fetcher.Host{Name: tc.host})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.(fetcher.EventLogOpener).OpenEventLog(context.Background(), tc.path)
		s.Close()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s %s: %v, want %v", tc.host, tc.path, err, tc.want)
		}
	}
	// A symbolic link out of the host's folder is refused (os.Root).
	os.Symlink("/etc/passwd", filepath.Join(root, "web01", "System32", "winevt", "Logs", "Other.evtx"))
	if _, err := sess.(fetcher.EventLogOpener).OpenEventLog(context.Background(), "System32/winevt/Logs/Other.evtx"); err == nil {
		t.Error("a link out of the host folder was opened")
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func bytesReader(b []byte) io.ReaderAt { return bytesReaderAt(b) }
