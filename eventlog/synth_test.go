package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	evt "github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2024, 5, 1, 3, 12, 0, 0, time.UTC)

func readBytes(t *testing.T, b []byte) *Log {
	t.Helper()
	l, err := Read(context.Background(), bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func only(t *testing.T, l *Log) Event {
	t.Helper()
	if len(l.Events) != 1 {
		t.Fatalf("%d events, want 1: %+v (warnings %q)", len(l.Events), l.Events, l.Warnings)
	}
	return l.Events[0]
}

func TestKernelPower41Versions(t *testing.T) {
	p := [4]uint64{0x1, 0x1e00, 0xfffff8057a4fb320, 0}
	for _, v := range []uint8{2, 3, 5, 6, 8, 10, 11} {
		for _, code := range []uint32{0x133, 0} {
			t.Run(fmt.Sprintf("v%d/0x%x", v, code), func(t *testing.T) {
				ev := evt.KernelPower41(7, t0, v, code, p)
				if v == 11 {
					// A version not seen yet, with a field no manifest here names.
					ev.Data = append(ev.Data, evt.Str("SomethingNew", "x"))
				}
				e := only(t, readBytes(t, evt.Log([]evt.Event{ev}, evt.Options{})))
				wantCode, wantArgs := "0x133", []string{"0x1", "0x1e00", "0xfffff8057a4fb320", "0x0"}
				if code == 0 {
					wantCode, wantArgs = "", nil
				}
				if e.Kind != KindUnexpectedReboot || e.Version != v || e.BugcheckCode != wantCode || !cmp.Equal(e.Args, wantArgs) || e.BlueScreen() != (code != 0) {
					t.Errorf("got kind %s v%d code %q args %v", e.Kind, e.Version, e.BugcheckCode, e.Args)
				}
				if len(e.Fields) != len(ev.Data) {
					t.Errorf("%d raw fields, want %d", len(e.Fields), len(ev.Data))
				}
				if s, _ := e.Field("SleepInProgress"); (v < 3 && s != "false") || (v >= 3 && s != "0") {
					t.Errorf("SleepInProgress %q", s)
				}
			})
		}
	}
}

func TestBugcheck1001(t *testing.T) {
	for _, tc := range []struct {
		name, param1, param2, param3 string
		code, report                 string
		args                         []string
	}{
		{"windows 7", "0x0000009f (0x0000000000000003, 0xfffffa8004a6a060, 0xfffff80000b9c518, 0xfffffa8006d2e010)",
			`C:\Windows\MEMORY.DMP`, "040612-50390-01", "0x9f", "040612-50390-01", []string{"0x3", "0xfffffa8004a6a060", "0xfffff80000b9c518", "0xfffffa8006d2e010"}},
		{"windows 10 report guid", "0x00000133 (0x0000000000000001, 0x0000000000001e00, 0xfffff8057a4fb320, 0x0000000000000000)",
			`C:\WINDOWS\Minidump\050124-12345-01.dmp`, "cdc03408-1c74-42d1-ad9c-caae62d7edc3", "0x133", "cdc03408-1c74-42d1-ad9c-caae62d7edc3", []string{"0x1", "0x1e00", "0xfffff8057a4fb320", "0x0"}},
		{"braces and upper case", "0x0000007e (0xffffffffc0000005, 0xfffff80312345678, 0xffffd000a1b2c3d8, 0xffffd000a1b2c5f0)",
			`C:\Windows\MEMORY.DMP`, "{CDC03408-1C74-42D1-AD9C-CAAE62D7EDC3}", "0x7e", "cdc03408-1c74-42d1-ad9c-caae62d7edc3", []string{"0xffffffffc0000005", "0xfffff80312345678", "0xffffd000a1b2c3d8", "0xffffd000a1b2c5f0"}},
		{"no report", "0x000000d1 (0x0000000000000000, 0x0000000000000002, 0x0000000000000000, 0xfffff80112345678)",
			`C:\Windows\MEMORY.DMP`, "00000000-0000-0000-0000-000000000000", "0xd1", "", []string{"0x0", "0x2", "0x0", "0xfffff80112345678"}},
		{"unparsable bugcheck string", "garbage", `C:\Windows\MEMORY.DMP`, "x", "", "x", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := evt.Event{Record: 9, Time: t0, Provider: provWER, GUID: "{ABCE23E7-DE45-4366-8631-84FA6C525952}", Source: "BugCheck", ID: 1001, Qualifiers: 16384,
				Computer: "WEB01", Data: []evt.Field{evt.Str("param1", tc.param1), evt.Str("param2", tc.param2), evt.Str("param3", tc.param3)}}
			for _, inline := range []bool{false, true} {
				ev.Inline = inline
				e := only(t, readBytes(t, evt.Log([]evt.Event{ev}, evt.Options{})))
				if e.Kind != KindBugcheck || e.BugcheckCode != tc.code || !cmp.Equal(e.Args, tc.args) || e.DumpPath != tc.param2 || e.ReportID != tc.report {
					t.Errorf("inline %v: got %s %q %v %q %q", inline, e.Kind, e.BugcheckCode, e.Args, e.DumpPath, e.ReportID)
				}
			}
		})
	}
}

func TestDumpFailureEvents(t *testing.T) {
	classic := func(prov string, id uint16, data ...evt.Field) evt.Event {
		return evt.Event{Record: 3, Time: t0, Provider: prov, ID: id, Qualifiers: 0xc004, Computer: "WEB01", Data: data, Binary: []byte{0, 0, 0, 0}}
	}
	for _, tc := range []struct {
		ev     evt.Event
		kind   Kind
		reason string
	}{
		{classic(provVolmgr, 45, evt.Str("", `\Device\HarddiskVolume2`)), KindDumpFailed, "the crash dump driver could not be loaded (volmgr 45)"},
		{classic(provVolmgr, 46), KindDumpFailed, "crash dump initialization failed (volmgr 46)"},
		{classic(provVolmgr, 49, evt.Str("", `\Device\HarddiskVolume2`)), KindDumpFailed, "page file too small (volmgr 49)"},
		{classic(provVolmgr, 161, evt.Str("", `\Device\HarddiskVolume2`), evt.Str("", "0xc0000010")), KindDumpFailed, "dump file creation failed during the dump (volmgr 161), BugCheckProgress 0xc0000010"},
		{classic(provVolmgr, 164), KindDumpFailed, "the dedicated dump file could not be configured (volmgr 164)"},
		{classic(provWER, 1000), KindDumpNotSaved, "a full dump was not saved (WER 1000)"},
		{classic(provWER, 1004), KindDumpFailed, "the dump could not be moved from its temporary place (WER 1004)"},
		{classic(provWER, 1005), KindDumpFailed, "no minidump could be made from the full dump (WER 1005)"},
		{classic(provWER, 1006), KindDumpNotSaved, "no dump was saved (WER 1006)"},
	} {
		t.Run(fmt.Sprintf("%s %d", tc.ev.Provider, tc.ev.ID), func(t *testing.T) {
			e := only(t, readBytes(t, evt.Log([]evt.Event{tc.ev}, evt.Options{})))
			if e.Kind != tc.kind || e.Reason != tc.reason {
				t.Errorf("got %s %q, want %s %q", e.Kind, e.Reason, tc.kind, tc.reason)
			}
		})
	}
	// The same ids from other providers are not crash events.
	other := classic("Microsoft-Windows-Something", 49)
	if l := readBytes(t, evt.Log([]evt.Event{other, withProvider(evt.KernelPower41(4, t0, 2, 0, [4]uint64{}), "Microsoft-Windows-Other")}, evt.Options{})); len(l.Events) != 0 {
		t.Errorf("events from other providers: %+v", l.Events)
	}
}

func withProvider(e evt.Event, p string) evt.Event { e.Provider = p; return e }

func TestUnexpectedShutdown6008(t *testing.T) {
	alive := time.Date(2024, 5, 1, 3, 10, 7, 250e6, time.UTC)
	ev := evt.Event{Record: 2, Time: t0, Provider: provEventLog, ID: 6008, Qualifiers: 32768, Computer: "WEB01",
		Data:   []evt.Field{evt.Strings("", "\u200e5:10:07 AM", "\u200e5/\u200e1/\u200e2024", "", "", "42", "", "")},
		Binary: evt.LastAliveBinary(alive, time.FixedZone("CEST", 2*3600))}
	e := only(t, readBytes(t, evt.Log([]evt.Event{ev}, evt.Options{})))
	if fmtTime(e.LastAlive) != "2024-05-01T03:10:07.25Z" || fmtTime(e.LastAliveLocal) != "2024-05-01T05:10:07.25+02:00" {
		t.Errorf("last alive %s / %s", fmtTime(e.LastAlive), fmtTime(e.LastAliveLocal))
	}
	if len(e.Fields) != 8 || e.Fields[0].Value != "\u200e5:10:07 AM" || e.Fields[7].Name != "Binary" {
		t.Errorf("fields %q", e.Fields)
	}
	// A Binary too short or not a time leaves the times zero.
	ev.Binary = []byte{1, 2, 3}
	if e := only(t, readBytes(t, evt.Log([]evt.Event{ev}, evt.Options{}))); !e.LastAlive.IsZero() {
		t.Errorf("last alive from 3 bytes: %v", e.LastAlive)
	}
}

// crashLog is a log of several chunks with a 41 with a bugcheck at record 500 and a 1001 at 900.
func crashLog(o evt.Options) []byte {
	evs := evt.Noise(1, 499, t0.Add(time.Duration(1)*time.Second))
	evs = append(evs, evt.KernelPower41(500, t0, 2, 0x133, [4]uint64{1}))
	evs = append(evs, evt.Noise(501, 399, t0.Add(time.Duration(501)*time.Second))...)
	evs = append(evs, evt.Event{Record: 900, Time: t0, Provider: provWER, Source: "BugCheck", ID: 1001, Computer: "WEB01",
		Data: []evt.Field{evt.Str("param1", "0x00000133 (0x1, 0x0, 0x0, 0x0)"), evt.Str("param2", `C:\Windows\MEMORY.DMP`), evt.Str("param3", "")}})
	evs = append(evs, evt.Noise(901, 300, t0.Add(time.Duration(901)*time.Second))...)
	return evt.Log(evs, o)
}

func chunkOffsets(b []byte) []int {
	var out []int
	for off := fileHeaderSize; off+chunkDataStart <= len(b); off += chunkSize {
		if string(b[off:off+8]) == string(chunkMagic) {
			out = append(out, off)
		}
	}
	return out
}

func records2(l *Log) string {
	var s []string
	for _, e := range l.Events {
		s = append(s, fmt.Sprintf("%d/%d", e.Record, e.ID))
	}
	return strings.Join(s, " ")
}

// TestDamagedInput: each damage gives what could be read and the exact warning, or the
// exact error for input that is not an event log.
func TestDamagedInput(t *testing.T) {
	good := crashLog(evt.Options{Dirty: true, NextRecord: 12, Chunks: 1})
	offs := chunkOffsets(good)
	if len(offs) < 3 {
		t.Fatalf("crash log has %d chunks, want at least 3", len(offs))
	}
	which := func(rec uint64) int { // the chunk holding a record
		for i, off := range offs {
			h, _ := parseChunkHeader(good[off:])
			if h.firstRecord <= rec && rec <= h.lastRecord {
				return i
			}
		}
		t.Fatalf("record %d in no chunk", rec)
		return -1
	}
	c41, c1001 := which(500), which(900)
	if c41 == c1001 {
		t.Fatalf("41 and 1001 share chunk %d; the test needs them apart", c41)
	}
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	h41, _ := parseChunkHeader(good[offs[c41]:])
	for _, tc := range []struct {
		name     string
		b        []byte
		events   string
		warnings []string
		err      string
	}{
		{name: "intact (dirty header that lags)", b: good, events: "500/41 900/1001"},
		{name: "records checksum fails", b: edit(func(b []byte) { b[offs[c41]+chunkDataStart+100] ^= 0xff }), events: "900/1001",
			warnings: []string{fmt.Sprintf("chunk %d (offset %d, records %d–%d): event records checksum fails after a re-read; skipped", c41, offs[c41], h41.firstRecord, h41.lastRecord)}},
		{name: "header checksum fails", b: edit(func(b []byte) { b[offs[c41]+200] ^= 0xff }), events: "900/1001",
			warnings: []string{fmt.Sprintf("chunk %d (offset %d): header checksum fails after a re-read; skipped", c41, offs[c41])}},
		{name: "chunk overwritten with garbage", b: edit(func(b []byte) {
			for i := range chunkSize {
				b[offs[c41]+i] = byte(i*7 + 3)
			}
		}), events: "900/1001", warnings: []string{fmt.Sprintf("chunk %d (offset %d): no chunk signature; skipped", c41, offs[c41])}},
		{name: "chunk zeroed (a hole, as in a shadow copy)", b: edit(func(b []byte) { clear(b[offs[c41] : offs[c41]+chunkSize]) }), events: "900/1001"},
		{name: "file header zeroed", b: edit(func(b []byte) { clear(b[:fileHeaderSize]) }), events: "500/41 900/1001",
			warnings: []string{"the file header is damaged; reading the chunks without it"}},
		{name: "cut inside the last chunk", b: good[:offs[len(offs)-1]+1000], events: "500/41 900/1001",
			warnings: []string{fmt.Sprintf("chunk %d (offset %d, records %d–%d): the file ends inside it; skipped", len(offs)-1, offs[len(offs)-1], lastChunkFirst(good), 1200)}},
		{name: "cut after the header", b: good[:fileHeaderSize+100], warnings: []string{"the file ends after its header (4196 bytes): no chunk to read"}},
		{name: "a record's XML broken", b: edit(func(b []byte) {
			p := findRecord(b[offs[c41]:], 500)
			b[offs[c41]+p+recordHeader+4] = 0x77 // the template instance token
			evt.FixChunkSums(b[offs[c41] : offs[c41]+chunkSize])
		}), events: "900/1001"},
		{name: "a record's size broken", b: edit(func(b []byte) {
			p := findRecord(b[offs[c41]:], 500)
			binary.LittleEndian.PutUint32(b[offs[c41]+p+4:], 1)
			evt.FixChunkSums(b[offs[c41] : offs[c41]+chunkSize])
		}), events: "900/1001", warnings: []string{fmt.Sprintf("chunk %d (offset %d): record at chunk offset %d: bad size 1; the rest of the chunk is skipped", c41, offs[c41], findRecord(good[offs[c41]:], 500))}},
		{name: "empty", b: nil, err: "not an EVTX event log: 0 bytes"},
		{name: "text", b: []byte("this is not an event log at all, just text\n"), err: "not an EVTX event log"},
		{name: "a dump file", b: append([]byte("PAGEDU64"), make([]byte, 8192)...), err: "not an EVTX event log"},
		{name: "header with a bad checksum and nothing after", b: edit(func(b []byte) { b[50] ^= 1 })[:fileHeaderSize], err: "not an EVTX event log: the file header's checksum fails and no chunk follows it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Read(context.Background(), bytes.NewReader(tc.b), int64(len(tc.b)))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errors.Is(err, ErrNotEVTX) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := crashRecords(l); got != tc.events {
				t.Errorf("events %q, want %q", got, tc.events)
			}
			if !cmp.Equal(l.Warnings, tc.warnings) {
				t.Errorf("warnings %q, want %q", l.Warnings, tc.warnings)
			}
		})
	}
}

func crashRecords(l *Log) string {
	var s []string
	for _, e := range l.Events {
		if crashKind(e.Kind) {
			s = append(s, fmt.Sprintf("%d/%d", e.Record, e.ID))
		}
	}
	return strings.Join(s, " ")
}

func lastChunkFirst(b []byte) uint64 {
	offs := chunkOffsets(b)
	h, _ := parseChunkHeader(b[offs[len(offs)-1]:])
	return h.firstRecord
}

// findRecord is the chunk offset of a record.
func findRecord(c []byte, id uint64) int {
	h, _ := parseChunkHeader(c)
	at := -1
	records(c, h, func(r record) bool {
		if r.id == id {
			at = r.start - recordHeader
			return false
		}
		return true
	})
	return at
}

// flakyReader returns a torn copy of one region on its first read of it, as a live file
// caught mid-write would.
type flakyReader struct {
	r     io.ReaderAt
	off   int64
	torn  bool
	reads int
}

func (f *flakyReader) ReadAt(p []byte, off int64) (int, error) {
	f.reads++
	n, err := f.r.ReadAt(p, off)
	if !f.torn && off <= f.off && f.off < off+int64(n) {
		f.torn = true
		p[f.off-off] ^= 0xff
	}
	return n, err
}

// TestTornChunkReread: a chunk read while it was written fails its checksum once and is
// read again.
func TestTornChunkReread(t *testing.T) {
	b := crashLog(evt.Options{})
	offs := chunkOffsets(b)
	for _, part := range []struct {
		name string
		at   int64
	}{{"records", int64(offs[0]) + chunkDataStart + 300}, {"header", int64(offs[0]) + 300}} {
		t.Run(part.name, func(t *testing.T) {
			fr := &flakyReader{r: bytes.NewReader(b), off: part.at}
			l, err := Read(context.Background(), fr, int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if !fr.torn || len(l.Warnings) != 0 || crashRecords(l) != "500/41 900/1001" {
				t.Errorf("torn %v, warnings %q, events %q", fr.torn, l.Warnings, crashRecords(l))
			}
			if want := 1 + len(offs) + 1; l.Stats.Reads != want {
				t.Errorf("%d reads, want %d (file header, each chunk, one re-read)", l.Stats.Reads, want)
			}
		})
	}
}
