package eventlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// want is one expected crash-related event of a real log: ../shared/evtx/README.md, and
// for times to the 100 ns the rendering of python-evtx (Debian python3-evtx, evtx_dump.py).
type want struct {
	record    uint64
	id        uint16
	kind      Kind
	provider  string
	time      string // RFC 3339, UTC
	version   uint8
	bugcheck  string
	args      []string
	dumpPath  string
	reportID  string
	lastAlive string // 6008: UTC
	localLast string // 6008: the host's clock with its offset
	fields    int    // raw fields: 41 v2 has 7, 1001 3, 6008 seven strings and Binary
}

var zeroArgs = []string{"0x0", "0x0", "0x0", "0x0"}

// sampleLogs are the five real logs and what each must give.
var sampleLogs = []struct {
	file     string
	records  int    // records walked (python-evtx's evtx_dump.py counts the same)
	last     uint64 // highest record id
	crash    []want // 1001, 41, 6008 (and dump events) in record order
	warnings []string
	cleared  []uint64 // 104 records
}{
	{
		file: "python-evtx__tests_data__system.evtx", records: 1601, last: 13649,
		crash: []want{
			{record: 13388, id: 6008, fields: 8, kind: KindUnexpectedShutdown, provider: "EventLog", time: "2012-04-06T14:07:44Z",
				lastAlive: "2012-04-06T13:59:13.029Z", localLast: "2012-04-06T09:59:13.029-04:00"},
			{record: 13392, id: 41, fields: 7, kind: KindUnexpectedReboot, provider: provPower, time: "2012-04-06T14:07:06.625Z", version: 2,
				bugcheck: "0x10001", args: zeroArgs},
			{record: 13423, id: 1001, fields: 3, kind: KindBugcheck, provider: provWER, time: "2012-04-06T14:07:52Z",
				bugcheck: "0x10001", args: zeroArgs, dumpPath: `C:\Windows\MEMORY.DMP`, reportID: "040612-50390-01"},
			{record: 13530, id: 6008, fields: 8, kind: KindUnexpectedShutdown, provider: "EventLog", time: "2012-04-06T19:12:08Z",
				lastAlive: "2012-04-06T19:09:23.331Z", localLast: "2012-04-06T15:09:23.331-04:00"},
			{record: 13534, id: 41, fields: 7, kind: KindUnexpectedReboot, provider: provPower, time: "2012-04-06T19:11:29.96875Z", version: 2},
		},
	},
	{
		file: "plaso__test_data_evtx__System.evtx", records: 5009, last: 5009,
		crash: []want{
			{record: 325, id: 41, fields: 7, kind: KindUnexpectedReboot, provider: provPower, time: "2015-08-08T18:08:30.46875Z", version: 2},
			{record: 1041, id: 6008, fields: 8, kind: KindUnexpectedShutdown, provider: "EventLog", time: "2015-08-25T13:41:19Z",
				lastAlive: "2015-08-25T13:34:44.796Z", localLast: "2015-08-25T13:34:44.796Z"},
			{record: 1046, id: 41, fields: 7, kind: KindUnexpectedReboot, provider: provPower, time: "2015-08-25T15:40:40.453125Z", version: 2},
		},
	},
	{file: "omerbenamram-evtx__samples__system.evtx", records: 1881, last: 1881, cleared: []uint64{1847, 1848}},
	{file: "omerbenamram-evtx__samples__2-vss_7-System.evtx", records: 1160, last: 1422},
	{
		file: "plaso__test_data_evtx__System2.evtx", records: 194, last: 284,
		warnings: []string{"chunk 2 (offset 135168, records 195–284): the file ends inside it; skipped"},
	},
}

func crashKind(k Kind) bool {
	switch k {
	case KindBugcheck, KindUnexpectedReboot, KindUnexpectedShutdown, KindDumpNotSaved, KindDumpFailed:
		return true
	}
	return false
}

func readSample(t *testing.T, name string) *Log {
	t.Helper()
	path := filepath.Join(sharedtest.Dir(t, "evtx"), name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	l, err := Read(context.Background(), f, fi.Size())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return l
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// TestRealLogs scores every expected field of the crash events of the five real logs.
func TestRealLogs(t *testing.T) {
	total, right := 0, 0
	check := func(t *testing.T, what string, got, want any) {
		t.Helper()
		total++
		if fmt.Sprint(got) == fmt.Sprint(want) {
			right++
			return
		}
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
	for _, s := range sampleLogs {
		t.Run(s.file, func(t *testing.T) {
			l := readSample(t, s.file)
			check(t, "records", l.Stats.Records, s.records)
			check(t, "last record", l.Stats.LastRecord, s.last)
			check(t, "warnings", l.Warnings, s.warnings)
			var crash []Event
			var cleared []uint64
			for _, e := range l.Events {
				if crashKind(e.Kind) {
					crash = append(crash, e)
				}
				if e.Kind == KindLogCleared {
					cleared = append(cleared, e.Record)
				}
			}
			check(t, "log cleared records", cleared, s.cleared)
			check(t, "crash events", len(crash), len(s.crash))
			for i := range min(len(crash), len(s.crash)) {
				g, w := crash[i], s.crash[i]
				at := fmt.Sprintf("record %d", w.record)
				check(t, at+" record", g.Record, w.record)
				check(t, at+" id", g.ID, w.id)
				check(t, at+" kind", g.Kind, w.kind)
				check(t, at+" provider", g.Provider, w.provider)
				check(t, at+" time", fmtTime(g.Time), w.time)
				check(t, at+" version", g.Version, w.version)
				check(t, at+" bugcheck", g.BugcheckCode, w.bugcheck)
				check(t, at+" args", g.Args, w.args)
				check(t, at+" dump path", g.DumpPath, w.dumpPath)
				check(t, at+" report id", g.ReportID, w.reportID)
				check(t, at+" last alive", fmtTime(g.LastAlive), w.lastAlive)
				check(t, at+" last alive local", fmtTime(g.LastAliveLocal), w.localLast)
				check(t, at+" raw fields", len(g.Fields), w.fields)
			}
		})
	}
	t.Logf("real logs score: %d/%d fields right", right, total)
	fmt.Printf("eventlog real logs score: %d/%d fields (%.1f %%)\n", right, total, 100*float64(right)/float64(max(total, 1)))
}

// TestRealLogHeaderLags: the python-evtx log's header is dirty and says the next record is
// 13528, but the chunks go on to 13649; the last crash (13530, 13534) lies past it.
func TestRealLogHeaderLags(t *testing.T) {
	l := readSample(t, "python-evtx__tests_data__system.evtx")
	if !l.Header.Dirty || l.Header.NextRecord != 13528 {
		t.Errorf("header %+v, want dirty with next record 13528", l.Header)
	}
	var past []string
	for _, e := range l.Events {
		if e.Record >= l.Header.NextRecord && crashKind(e.Kind) {
			past = append(past, fmt.Sprintf("%d/%d", e.Record, e.ID))
		}
	}
	if got := strings.Join(past, " "); got != "13530/6008 13534/41" {
		t.Errorf("crash events past the header's count: %q, want 13530/6008 13534/41", got)
	}
}

// TestRealLogPowerButton: plaso's second 41 carries PowerButtonTimestamp, a FILETIME.
func TestRealLogPowerButton(t *testing.T) {
	l := readSample(t, "plaso__test_data_evtx__System.evtx")
	crashes := Correlate(l.Events, nil, Options{})
	if len(crashes) != 2 {
		t.Fatalf("%d crashes, want 2: %+v", len(crashes), crashes)
	}
	c := crashes[1]
	if c.Kind != CrashUnexpectedReboot || fmtTime(c.PowerButton) != "2015-08-25T13:35:26.046875Z" || fmtTime(c.Time) != "2015-08-25T13:34:44.796Z" {
		t.Errorf("second crash %s, power button %s, time %s", c.Kind, fmtTime(c.PowerButton), fmtTime(c.Time))
	}
}

func sampleBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedtest.Dir(t, "evtx"), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
