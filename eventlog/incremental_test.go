package eventlog

import (
	"bytes"
	"context"
	evt "github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// countingReader counts the reads and bytes through it.
type countingReader struct {
	r            io.ReaderAt
	reads, bytes atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.reads.Add(1)
	c.bytes.Add(int64(n))
	return n, err
}

func since(t *testing.T, b []byte, m Mark) (*Log, *countingReader) {
	t.Helper()
	c := &countingReader{r: bytes.NewReader(b)}
	l, err := ReadSince(context.Background(), c, int64(len(b)), m)
	if err != nil {
		t.Fatal(err)
	}
	if int64(l.Stats.Reads) != c.reads.Load() || l.Stats.BytesRead != c.bytes.Load() {
		t.Errorf("stats say %d reads / %d bytes, the reader saw %d / %d", l.Stats.Reads, l.Stats.BytesRead, c.reads.Load(), c.bytes.Load())
	}
	return l, c
}

// live is a log as Windows keeps it: records in chunks, the rest of the file preallocated.
func live(evs []evt.Event) []byte {
	return evt.Log(evs, evt.Options{Dirty: true, NextRecord: 2, Chunks: 1, Total: 8})
}

func TestIncremental(t *testing.T) {
	evs1 := append(evt.Noise(1, 299, t0.Add(time.Duration(1)*time.Second)), evt.KernelPower41(300, t0, 2, 0x133, [4]uint64{1}))
	evs1 = append(evs1, evt.Noise(301, 300, t0.Add(time.Duration(301)*time.Second))...) // to 600
	log1 := live(evs1)

	first, _ := since(t, log1, Mark{})
	if crashRecords(first) != "300/41" || first.Mark.Record != 600 || first.Mark.First != 1 || first.Mark.Tail == 0 || first.Mark.Next == 0 {
		t.Fatalf("first read: events %q mark %+v", crashRecords(first), first.Mark)
	}

	t.Run("unchanged costs two chunk-header reads", func(t *testing.T) {
		l, c := since(t, log1, first.Mark)
		if !l.Unchanged || len(l.Events) != 0 || l.Mark != first.Mark {
			t.Errorf("unchanged %v, %d events, mark %+v", l.Unchanged, len(l.Events), l.Mark)
		}
		if c.reads.Load() != 2 || c.bytes.Load() != 2*chunkHeaderSize {
			t.Errorf("%d reads, %d bytes of a %d-byte log; want 2 reads of %d bytes", c.reads.Load(), c.bytes.Load(), len(log1), chunkHeaderSize)
		}
	})

	// More records: the tail chunk fills and the next one begins; the file size is the same.
	evs2 := append(append(evs1, evt.Noise(601, 100, t0.Add(time.Duration(601)*time.Second))...), evt.Event{Record: 701, Time: t0, Provider: provEventLog, ID: 6008, Computer: "WEB01",
		Data: []evt.Field{evt.Strings("", "", "")}, Binary: evt.LastAliveBinary(t0, t0.Location())})
	evs2 = append(evs2, evt.KernelPower41(702, t0, 2, 0, [4]uint64{}))
	log2 := live(evs2)
	if len(log2) != len(log1) {
		t.Fatalf("sizes %d and %d: the test wants a preallocated file", len(log1), len(log2))
	}
	second, c2 := since(t, log2, first.Mark)
	t.Run("new records only", func(t *testing.T) {
		if second.Unchanged || crashRecords(second) != "701/6008 702/41" || second.Mark.Record != 702 || second.Reset != "" {
			t.Errorf("unchanged %v, events %q, mark %+v, reset %q", second.Unchanged, crashRecords(second), second.Mark, second.Reset)
		}
		if second.Stats.ChunksRead > 2 || c2.bytes.Load() >= int64(len(log2))/2 {
			t.Errorf("read %d chunks, %d bytes of %d", second.Stats.ChunksRead, c2.bytes.Load(), len(log2))
		}
		if l, c := since(t, log2, second.Mark); !l.Unchanged || c.reads.Load() != 2 {
			t.Errorf("after it: unchanged %v in %d reads", l.Unchanged, c.reads.Load())
		}
	})

	t.Run("the file grew", func(t *testing.T) {
		grown := evt.Log(evs2, evt.Options{Total: 12})
		l, _ := since(t, grown, first.Mark)
		if l.Unchanged || crashRecords(l) != "701/6008 702/41" {
			t.Errorf("unchanged %v, events %q", l.Unchanged, crashRecords(l))
		}
	})

	t.Run("cleared", func(t *testing.T) {
		cleared := live(append([]evt.Event{{Record: 1, Time: t0, Provider: provEvtSvc, ID: 104, Computer: "WEB01",
			Data: []evt.Field{evt.Str("SubjectUserName", "admin"), evt.Str("Channel", "System")}}}, append(evt.Noise(2, 10, t0.Add(time.Duration(2)*time.Second)), evt.KernelPower41(12, t0, 2, 0x9f, [4]uint64{3}))...))
		l, _ := since(t, cleared, second.Mark)
		if l.Reset != ResetCleared || records2(l) != "1/104 12/41" || l.Mark.Record != 12 {
			t.Errorf("reset %q, events %q, mark %+v", l.Reset, records2(l), l.Mark)
		}
	})

	t.Run("cleared and refilled past the mark", func(t *testing.T) {
		// A log that never wrapped (First 1), cleared, and refilled past the mark: only the
		// written time of the mark's own record tells.
		later := t0.Add(48 * time.Hour)
		refilled := live(append(evt.Noise(1, 749, later), evt.KernelPower41(750, later, 2, 0x9f, [4]uint64{3})))
		l, _ := since(t, refilled, second.Mark)
		if l.Reset != ResetCleared || crashRecords(l) != "750/41" {
			t.Errorf("reset %q, events %q", l.Reset, crashRecords(l))
		}
	})

	t.Run("rolled over", func(t *testing.T) {
		rolled := live(append(evt.Noise(2000, 50, t0.Add(time.Duration(2000)*time.Second)), evt.KernelPower41(2050, t0, 2, 0x133, [4]uint64{1})))
		l, _ := since(t, rolled, second.Mark)
		if l.Reset != ResetRolledOver || l.Lost != [2]uint64{703, 1999} || crashRecords(l) != "2050/41" {
			t.Errorf("reset %q, lost %v, events %q", l.Reset, l.Lost, crashRecords(l))
		}
	})

	t.Run("a torn tail chunk waits for the next read", func(t *testing.T) {
		torn := bytes.Clone(log2)
		offs := chunkOffsets(torn)
		tail := offs[len(offs)-1]
		h, _ := parseChunkHeader(torn[tail:])
		torn[tail+chunkDataStart+50] ^= 0xff
		l, _ := since(t, torn, first.Mark)
		// The torn chunk holds 555–702; 555–600 were read before, so the mark stays at 600.
		if want := max(first.Mark.Record, h.firstRecord-1); len(l.Warnings) != 1 || l.Mark.Record != want || l.Mark.Tail != 0 {
			t.Fatalf("warnings %q, mark %+v; want the mark at %d and no fast path", l.Warnings, l.Mark, want)
		}
		got := crashRecords(l)
		l2, _ := since(t, log2, l.Mark)
		if all := got + "|" + crashRecords(l2); all != "|701/6008 702/41" && all != "701/6008|702/41" {
			t.Errorf("torn then good: %q, want each event once", all)
		}
	})
}

// TestIncrementalWrap: a full log wraps: the newest records overwrite the oldest chunk, at
// the start of the file, and are found from a mark in the last chunk.
func TestIncrementalWrap(t *testing.T) {
	evs := append(evt.Noise(1, 1199, t0.Add(time.Duration(1)*time.Second)), evt.KernelPower41(1200, t0, 2, 0x50, [4]uint64{0xfffff80000000000}))
	chunks := evt.Chunks(evs)
	n := len(chunks)
	if n < 3 {
		t.Fatalf("%d chunks", n)
	}
	full := evt.Assemble(chunks[:n-1], evt.Options{}, 0)
	before, _ := since(t, full, Mark{})
	// The next records go into chunk n-1, written over chunk 0.
	wrapped := evt.Assemble(append([][]byte{chunks[n-1]}, chunks[1:n-1]...), evt.Options{}, 0)
	l, _ := since(t, wrapped, before.Mark)
	h0, _ := parseChunkHeader(chunks[1])
	if l.Unchanged || l.Reset != "" || crashRecords(l) != "1200/41" || l.Mark.First != h0.firstRecord || l.Mark.Tail != fileHeaderSize {
		t.Errorf("unchanged %v, reset %q, events %q, mark %+v", l.Unchanged, l.Reset, crashRecords(l), l.Mark)
	}
}

// TestIncrementalRealLog: the dirty python-evtx log, read again, costs two reads.
func TestIncrementalRealLog(t *testing.T) {
	l := readSample(t, "python-evtx__tests_data__system.evtx")
	b := sampleBytes(t, "python-evtx__tests_data__system.evtx")
	again, c := since(t, b, l.Mark)
	if !again.Unchanged || c.reads.Load() != 2 || c.bytes.Load() != 256 {
		t.Errorf("unchanged %v in %d reads, %d bytes", again.Unchanged, c.reads.Load(), c.bytes.Load())
	}
	// From a mark in the middle (after the 1001), only the last crash comes back.
	mid, _ := since(t, b, Mark{Record: 13423, First: 12049})
	if crashRecords(mid) != "13530/6008 13534/41" {
		t.Errorf("since 13423: %q", crashRecords(mid))
	}
}
