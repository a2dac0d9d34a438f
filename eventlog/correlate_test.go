package eventlog

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Event constructors for correlation tests; rec is the record id, at the host's clock.
func evBoot(rec uint64, id uint16, at time.Time) Event {
	p := provEventLog
	if id == 12 {
		p = provGeneral
	}
	return Event{ID: id, Record: rec, Time: at, Provider: p, Kind: KindBoot}
}

func evKG12(rec uint64, at time.Time, build string) Event {
	e := evBoot(rec, 12, at)
	e.Fields = []Field{{"MajorVersion", "10"}, {"MinorVersion", "0"}, {"BuildVersion", build}, {"QfeVersion", "1"}}
	return e
}

func evShutdown(rec uint64, id uint16) Event {
	p := provEventLog
	if id == 13 {
		p = provGeneral
	}
	return Event{ID: id, Record: rec, Time: t0, Provider: p, Kind: KindShutdown}
}

func ev41(rec uint64, at time.Time, code string) Event {
	e := Event{ID: 41, Record: rec, Time: at, Provider: provPower, Kind: KindUnexpectedReboot, Version: 8,
		Fields: []Field{{"BugcheckCode", "0"}, {"PowerButtonTimestamp", "0"}}}
	if code != "" {
		e.BugcheckCode, e.Args = code, []string{"0x1", "0x1e00", "0xfffff8057a4fb320", "0x0"}
	}
	return e
}

func ev6008(rec uint64, at, alive time.Time) Event {
	return Event{ID: 6008, Record: rec, Time: at, Provider: provEventLog, Kind: KindUnexpectedShutdown, LastAlive: alive, LastAliveLocal: alive.In(time.FixedZone("UTC+02:00", 7200))}
}

func ev1001(rec uint64, at time.Time, code, dump, report string) Event {
	return Event{ID: 1001, Record: rec, Time: at, Provider: provWER, Kind: KindBugcheck, BugcheckCode: code,
		Args: []string{"0x1", "0x2", "0x3", "0x4"}, DumpPath: dump, ReportID: report}
}

func evFail(rec uint64, prov string, id uint16) Event {
	k, _ := kindOf(prov, "", id)
	e := Event{ID: id, Record: rec, Time: t0, Provider: prov, Kind: k}
	e.interpret()
	return e
}

// crashLine is a Crash in one line, for exact comparison.
func crashLine(c Crash) string {
	s := fmt.Sprintf("%s boot=%d rec=%d time=%s", c.Kind, c.Boot, c.Record, c.Time.Format("15:04:05"))
	for _, kv := range [][2]string{{"code", c.BugcheckCode}, {"path", c.DumpPath}, {"report", c.ReportID}, {"reason", c.Reason}, {"os", c.OSVersion}} {
		if kv[1] != "" {
			s += " " + kv[0] + "=" + kv[1]
		}
	}
	if c.Dump != nil {
		s += " dump=" + c.Dump.Path + "@" + c.Dump.ModTime.Format("15:04:05")
	}
	if !c.PowerButton.IsZero() {
		s += " power_button"
	}
	if c.Pending {
		s += " pending"
	}
	return s
}

func TestCorrelate(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2024, 5, 1, h, m, 0, 0, time.UTC) }
	mem := func(h, m int) Dump { return Dump{Path: "MEMORY.DMP", ModTime: at(h, m), Size: 1 << 30} }
	for _, tc := range []struct {
		name   string
		events []Event
		dumps  []Dump
		opts   Options
		want   []string
	}{
		{
			name: "a blue screen and its dump",
			events: []Event{evBoot(1, 6005, at(1, 0)), ev6008(98, at(3, 14), at(3, 12)), evBoot(99, 6009, at(3, 14)), evBoot(100, 6005, at(3, 14)),
				ev41(102, at(3, 14), "0x133"), ev1001(140, at(3, 15), "0x133", `C:\Windows\MEMORY.DMP`, "cdc03408-1c74-42d1-ad9c-caae62d7edc3")},
			dumps: []Dump{mem(3, 15), {Path: "Minidump/050124-1.dmp", ModTime: at(3, 15)}},
			want:  []string{"dump boot=2 rec=98 time=03:12:00 code=0x133 path=C:\\Windows\\MEMORY.DMP report=cdc03408-1c74-42d1-ad9c-caae62d7edc3 dump=MEMORY.DMP@03:15:00"},
		},
		{
			name: "MEMORY.DMP overwritten by the next crash",
			events: []Event{evBoot(10, 6005, at(1, 0)), ev41(11, at(1, 0), "0x50"), ev1001(20, at(1, 1), "0x50", `C:\Windows\MEMORY.DMP`, "a"),
				evBoot(30, 6005, at(2, 0)), ev41(31, at(2, 0), "0x133"), ev1001(40, at(2, 1), "0x133", `C:\Windows\MEMORY.DMP`, "b")},
			dumps: []Dump{mem(2, 0)},
			want: []string{
				"dump_missing boot=1 rec=11 time=01:00:00 code=0x50 path=C:\\Windows\\MEMORY.DMP report=a",
				"dump boot=2 rec=31 time=02:00:00 code=0x133 path=C:\\Windows\\MEMORY.DMP report=b dump=MEMORY.DMP@02:00:00",
			},
		},
		{
			name:   "a minidump matches by name, whatever its mtime",
			events: []Event{evBoot(10, 6005, at(1, 0)), ev41(11, at(1, 0), "0x7e"), ev1001(20, at(1, 1), "0x7e", `C:\WINDOWS\Minidump\050124-12345-01.dmp`, "050124-12345-01")},
			dumps:  []Dump{{Path: "Minidump/050124-12345-01.dmp", ModTime: at(22, 0)}, mem(1, 1)},
			want:   []string{"dump boot=1 rec=11 time=01:00:00 code=0x7e path=C:\\WINDOWS\\Minidump\\050124-12345-01.dmp report=050124-12345-01 dump=Minidump/050124-12345-01.dmp@22:00:00"},
		},
		{
			name:   "a dump elsewhere than the Windows directory is not matched",
			events: []Event{evBoot(10, 6005, at(1, 0)), ev1001(20, at(1, 1), "0x7e", `D:\dumps\MEMORY.DMP`, "r")},
			dumps:  []Dump{mem(1, 1)},
			want:   []string{"dump_missing boot=1 rec=20 time=01:01:00 code=0x7e path=D:\\dumps\\MEMORY.DMP report=r"},
		},
		{
			name: "no dump: the page file was too small in the boot that crashed",
			events: []Event{evKG12(1, at(0, 59), "19045"), evBoot(2, 6005, at(1, 0)), evFail(3, provVolmgr, 49),
				evBoot(100, 6005, at(3, 14)), ev6008(101, at(3, 14), at(3, 12)), ev41(102, at(3, 14), "0x133")},
			want: []string{"no_dump boot=2 rec=101 time=03:12:00 code=0x133 reason=page file too small (volmgr 49) os=10.0.19045.1"},
		},
		{
			name: "no dump: what WER and volmgr said after the crash",
			events: []Event{evBoot(100, 6005, at(3, 14)), ev41(102, at(3, 14), "0x9f"), evFail(103, provVolmgr, 161),
				evFail(110, provWER, 1000), evFail(111, provWER, 1000)},
			want: []string{"no_dump boot=1 rec=102 time=03:14:00 code=0x9f reason=dump file creation failed during the dump (volmgr 161); a full dump was not saved (WER 1000)"},
		},
		{
			name:   "no dump and the log says nothing why",
			events: []Event{evBoot(100, 6005, at(3, 14)), ev41(102, at(3, 14), "0x133")},
			want:   []string{"no_dump boot=1 rec=102 time=03:14:00 code=0x133"},
		},
		{
			name:   "power loss: 41 without a bugcheck, and 6008",
			events: []Event{evBoot(5, 6005, at(1, 0)), evFail(6, provVolmgr, 49), evBoot(100, 6005, at(3, 14)), ev6008(101, at(3, 14), at(3, 2)), ev41(102, at(3, 14), "")},
			want:   []string{"unexpected_reboot boot=2 rec=101 time=03:02:00"},
		},
		{
			name: "a held power button",
			events: []Event{evBoot(100, 6005, at(3, 14)), func() Event {
				e := ev41(102, at(3, 14), "")
				e.Fields[1].Value = "130849833260468750"
				return e
			}()},
			want: []string{"unexpected_reboot boot=1 rec=102 time=03:14:00 power_button"},
		},
		{
			name:   "6008 alone",
			events: []Event{evBoot(100, 6005, at(3, 14)), ev6008(101, at(3, 14), at(3, 1))},
			want:   []string{"unexpected_reboot boot=1 rec=101 time=03:01:00"},
		},
		{
			name:   "clean reboots only",
			events: []Event{evBoot(2, 6009, t0), evBoot(3, 6005, t0), evShutdown(59, 6006), evBoot(66, 6009, t0), evBoot(67, 6005, t0), evShutdown(70, 13), evKG12(71, t0, "7601"), evFail(72, provVolmgr, 49)},
		},
		{
			name: "a crash loop with no shutdown between",
			events: []Event{ev6008(1, at(1, 0), at(0, 50)), evBoot(2, 6009, at(1, 0)), evBoot(3, 6005, at(1, 0)), evKG12(4, at(1, 0), "1"), ev41(5, at(1, 0), "0x7b"),
				ev6008(20, at(1, 5), at(1, 3)), evBoot(21, 6009, at(1, 5)), evBoot(22, 6005, at(1, 5)), evKG12(23, at(1, 5), "1"), ev41(24, at(1, 5), "0x7b")},
			want: []string{"no_dump boot=1 rec=1 time=00:50:00 code=0x7b os=10.0.1.1", "no_dump boot=2 rec=20 time=01:03:00 code=0x7b os=10.0.1.1"},
		},
		{
			name: "the clock jumps back: record order decides",
			events: []Event{evBoot(10, 6005, at(5, 0)), ev41(11, at(5, 0), "0x50"), ev1001(20, at(5, 1), "0x50", `C:\Windows\MEMORY.DMP`, "a"),
				evBoot(30, 6005, at(2, 0)), ev6008(29, at(2, 0), at(1, 59)), ev41(32, at(4, 0), "")},
			want: []string{"dump_missing boot=1 rec=11 time=05:00:00 code=0x50 path=C:\\Windows\\MEMORY.DMP report=a", "unexpected_reboot boot=2 rec=29 time=01:59:00"},
		},
		{
			name:   "latest boot, logged two minutes ago: WER may still log the dump",
			events: []Event{evBoot(100, 6005, at(3, 14)), ev41(102, at(3, 14), "0x133")},
			opts:   Options{Now: at(3, 16)},
			want:   []string{"no_dump boot=1 rec=102 time=03:14:00 code=0x133 pending"},
		},
		{
			name:   "latest boot, logged twenty minutes ago: settled",
			events: []Event{evBoot(100, 6005, at(3, 14)), ev41(102, at(3, 14), "0x133")},
			opts:   Options{Now: at(3, 34)},
			want:   []string{"no_dump boot=1 rec=102 time=03:14:00 code=0x133"},
		},
		{
			name:   "latest boot, a 6008 two minutes ago: its 41 may still come",
			events: []Event{evBoot(100, 6005, at(3, 14)), ev6008(101, at(3, 14), at(3, 1))},
			opts:   Options{Now: at(3, 16)},
			want:   []string{"unexpected_reboot boot=1 rec=101 time=03:01:00 pending"},
		},
		{
			name:   "an earlier boot is settled by the next one",
			events: []Event{evBoot(100, 6005, at(3, 14)), ev41(102, at(3, 14), "0x133"), evShutdown(150, 6006), evBoot(160, 6005, at(3, 15))},
			opts:   Options{Now: at(3, 15)},
			want:   []string{"no_dump boot=1 rec=102 time=03:14:00 code=0x133"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range Correlate(tc.events, tc.dumps, tc.opts) {
				got = append(got, crashLine(c))
			}
			if !cmp.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			// Pure and order-blind: the events reversed give the same answer.
			rev := make([]Event, len(tc.events))
			for i, e := range tc.events {
				rev[len(rev)-1-i] = e
			}
			var again []string
			for _, c := range Correlate(rev, tc.dumps, tc.opts) {
				again = append(again, crashLine(c))
			}
			if !cmp.Equal(again, got) {
				t.Errorf("reversed input gives %q", again)
			}
		})
	}
}

// TestBootsOrders: the orders in which the real logs write a boot's events.
func TestBootsOrders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []Event
		want   []int
	}{
		{"windows 10 1803: 6006, then 6009 6005 13 12", []Event{evShutdown(364, 6006), evBoot(371, 6009, t0), evBoot(372, 6005, t0), evShutdown(375, 13), evKG12(376, t0, "1")}, []int{0, 1, 1, 1, 1}},
		{"windows 7 after a crash: 12 6008 6009 6005 41", []Event{evKG12(13386, t0, "1"), ev6008(13388, t0, t0), evBoot(13389, 6009, t0), evBoot(13390, 6005, t0), ev41(13392, t0, "0x10001"), ev1001(13423, t0, "0x10001", "", "")}, []int{1, 1, 1, 1, 1, 1}},
		{"windows 7 clean: 6006 … 6009 6005 … 13 12, 28 records apart", []Event{evShutdown(12141, 6006), evBoot(12152, 6009, t0), evBoot(12153, 6005, t0), evShutdown(12178, 13), evKG12(12180, t0, "1")}, []int{0, 1, 1, 1, 1}},
		{"12 first, after a 1001 of the boot before", []Event{evBoot(1, 6005, t0), ev1001(40, t0, "0x1", "", ""), ev6008(97, t0, t0), evBoot(98, 6009, t0), evBoot(99, 6005, t0)}, []int{1, 1, 2, 2, 2}},
		{"no 6005 at all: 6009 anchors", []Event{evBoot(5, 6009, t0), ev41(6, t0, ""), evBoot(50, 6009, t0)}, []int{1, 1, 2}},
		{"a boot-time event far from any anchor goes with the boot before it", []Event{evBoot(5, 6005, t0), ev41(500, t0, "")}, []int{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Boots(tc.events); !cmp.Equal(got, tc.want) {
				t.Errorf("boots %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCorrelateRealLog: the python-evtx log's two crashes: the blue screen 0x10001 with its
// MEMORY.DMP, then a reboot without a bugcheck.
func TestCorrelateRealLog(t *testing.T) {
	l := readSample(t, "python-evtx__tests_data__system.evtx")
	dump := Dump{Path: "MEMORY.DMP", ModTime: time.Date(2012, 4, 6, 14, 7, 40, 0, time.UTC), Size: 262144}
	var got []string
	for _, c := range Correlate(l.Events, []Dump{dump}, Options{}) {
		got = append(got, crashLine(c)+" last_alive="+fmtTime(c.Time)+" local="+fmtTime(c.LocalTime))
	}
	want := []string{
		`dump boot=4 rec=13388 time=13:59:13 code=0x10001 path=C:\Windows\MEMORY.DMP report=040612-50390-01 os=6.1.7601.17727 dump=MEMORY.DMP@14:07:40 last_alive=2012-04-06T13:59:13.029Z local=2012-04-06T09:59:13.029-04:00`,
		`unexpected_reboot boot=5 rec=13530 time=19:09:23 os=6.1.7601.17727 last_alive=2012-04-06T19:09:23.331Z local=2012-04-06T15:09:23.331-04:00`,
	}
	if !cmp.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestLastBoots(t *testing.T) {
	evs := []Event{evBoot(1, 6005, t0), ev41(2, t0, "0x1"), evBoot(10, 6005, t0), ev41(11, t0, "0x2"), evBoot(20, 6005, t0), ev1001(30, t0, "0x3", "", "")}
	var got []uint64
	for _, e := range LastBoots(evs, 2) {
		got = append(got, e.Record)
	}
	if !cmp.Equal(got, []uint64{10, 11, 20, 30}) {
		t.Errorf("kept %v", got)
	}
}

// Compact keeps what Correlate reads: the same crashes from the compacted events.
func TestCompact(t *testing.T) {
	l := readSample(t, "python-evtx__tests_data__system.evtx")
	dump := Dump{Path: "MEMORY.DMP", ModTime: time.Date(2012, 4, 6, 14, 7, 40, 0, time.UTC), Size: 262144}
	power := ev41(200000, t0, "")
	power.Fields[1].Value = "130849833260468750"
	evs := append(l.Events, evBoot(199999, 6005, t0), power)
	small := Compact(evs)
	var full, compact []string
	for _, c := range Correlate(evs, []Dump{dump}, Options{}) {
		full = append(full, crashLine(c))
	}
	for _, c := range Correlate(small, []Dump{dump}, Options{}) {
		compact = append(compact, crashLine(c))
	}
	if !cmp.Equal(full, compact) || len(full) != 3 {
		t.Errorf("full\n  %s\ncompacted\n  %s", strings.Join(full, "\n  "), strings.Join(compact, "\n  "))
	}
	before, after := 0, 0
	for i := range evs {
		before += len(evs[i].Fields)
		after += len(small[i].Fields)
	}
	if after*4 > before {
		t.Errorf("fields kept: %d of %d", after, before)
	}
	if len(evs[len(evs)-1].Fields) != 2 {
		t.Error("Compact changed its input")
	}
}
