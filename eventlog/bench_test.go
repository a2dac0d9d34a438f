package eventlog

import (
	"bytes"
	"context"
	evt "github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// bigLog is a 20 MiB System log: the real chunks of the python-evtx sample (a Windows 7
// machine's own records and templates) repeated with their record ids renumbered and their
// checksums fixed, or, without ../shared, synthetic chunks.
func bigLog(b *testing.B) []byte {
	b.Helper()
	var chunks [][]byte
	root := os.Getenv("BSODWATCH_SHARED")
	if root == "" {
		root = "../../shared"
	}
	if real, err := os.ReadFile(filepath.Join(root, "evtx", "python-evtx__tests_data__system.evtx")); err == nil {
		for off := fileHeaderSize; off+chunkSize <= len(real); off += chunkSize {
			if _, st := parseChunkHeader(real[off:]); st == chunkOK {
				chunks = append(chunks, real[off:off+chunkSize])
			}
		}
	} else {
		b.Logf("../shared/evtx absent (%v): synthetic chunks", err)
		chunks = evt.Chunks(append(evt.Noise(1, 2000, t0.Add(time.Duration(1)*time.Second)), evt.KernelPower41(2001, t0, 2, 0x133, [4]uint64{1})))
	}
	const slots = (20 << 20) / chunkSize
	var out [][]byte
	var delta, span uint64
	for _, c := range chunks {
		h, _ := parseChunkHeader(c)
		span = max(span, h.lastRecord)
	}
	for len(out) < slots {
		for _, c := range chunks {
			if len(out) == slots {
				break
			}
			cc := bytes.Clone(c)
			evt.Renumber(cc, delta)
			out = append(out, cc)
		}
		delta += span
	}
	return evt.Assemble(out, evt.Options{Dirty: true}, 0)
}

// BenchmarkRead20MiB: every crash-related event of a 20 MiB System log (the default
// maximum size), from bytes in memory.
func BenchmarkRead20MiB(b *testing.B) {
	data := bigLog(b)
	b.SetBytes(int64(len(data)))
	var l *Log
	for b.Loop() {
		var err error
		if l, err = Read(context.Background(), bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(l.Events)), "events")
	b.ReportMetric(float64(l.Stats.Records), "records")
}

// BenchmarkUnchanged20MiB: a sweep of an unchanged 20 MiB log; reads/op and bytes/op are
// what it costs in I/O.
func BenchmarkUnchanged20MiB(b *testing.B) {
	data := bigLog(b)
	first, err := Read(context.Background(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	var l *Log
	for b.Loop() {
		if l, err = ReadSince(context.Background(), bytes.NewReader(data), int64(len(data)), first.Mark); err != nil || !l.Unchanged {
			b.Fatalf("unchanged %v, %v", l != nil && l.Unchanged, err)
		}
	}
	b.ReportMetric(float64(l.Stats.Reads), "reads/op")
	b.ReportMetric(float64(l.Stats.BytesRead), "readbytes/op")
}
