package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	evt "github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRead: no input makes the reader panic, hang or return an error other than ErrNotEVTX;
// what it returns is ordered and complete, and reading again from its mark finds nothing
// new. Each input is read as it is and, because a mutated chunk rarely keeps its checksums,
// once more with every chunk's checksums repaired (small inputs become the records area of
// one chunk), so the mutations reach the binary XML decoder.
func FuzzRead(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, data := range [][]byte{b, repair(b)} {
			ctx := context.Background()
			l, err := Read(ctx, bytes.NewReader(data), int64(len(data)))
			if err != nil {
				if !errors.Is(err, ErrNotEVTX) {
					t.Fatalf("error %v is not ErrNotEVTX", err)
				}
				continue
			}
			for i, e := range l.Events {
				if e.Kind == "" || (i > 0 && e.Record <= l.Events[i-1].Record) {
					t.Fatalf("event %d: kind %q, record %d after %d", i, e.Kind, e.Record, l.Events[max(i-1, 0)].Record)
				}
			}
			again, err := ReadSince(ctx, bytes.NewReader(data), int64(len(data)), l.Mark)
			if err != nil {
				t.Fatalf("again from %+v: %v", l.Mark, err)
			}
			if len(again.Events) != 0 {
				t.Fatalf("again from %+v: %d events (first %d)", l.Mark, len(again.Events), again.Events[0].Record)
			}
			Correlate(l.Events, []Dump{{Path: "MEMORY.DMP", ModTime: time.Now()}}, Options{Now: time.Now()})
		}
	})
}

// repair gives b valid chunk checksums, or wraps a small b as one chunk's records.
func repair(b []byte) []byte {
	if len(b) < fileHeaderSize+chunkDataStart {
		c := make([]byte, chunkSize)
		copy(c, chunkMagic)
		n := copy(c[chunkDataStart:], b)
		le := binary.LittleEndian
		le.PutUint64(c[24:], 1)
		le.PutUint64(c[32:], 1<<20)
		le.PutUint32(c[48:], uint32(chunkDataStart+n))
		evt.FixChunkSums(c)
		return evt.Assemble([][]byte{c}, evt.Options{}, 2)
	}
	out := bytes.Clone(b)
	for off := fileHeaderSize; off+chunkSize <= len(out); off += chunkSize {
		c := out[off : off+chunkSize]
		if string(c[:8]) == string(chunkMagic) {
			if free := binary.LittleEndian.Uint32(c[48:]); free < chunkDataStart || free > chunkSize {
				binary.LittleEndian.PutUint32(c[48:], chunkSize)
			}
			evt.FixChunkSums(c)
		}
	}
	return out
}

func fuzzSeeds() [][]byte {
	one := []evt.Event{
		evt.KernelPower41(1, t0, 8, 0x133, [4]uint64{1, 2, 3, 4}),
		{Record: 2, Time: t0, Provider: provEventLog, ID: 6008, Data: []evt.Field{evt.Strings("", "a", "", "")}, Binary: evt.LastAliveBinary(t0, time.UTC)},
		{Record: 3, Time: t0, Provider: provWER, Source: "BugCheck", ID: 1001, Inline: true, Data: []evt.Field{evt.Str("param1", "0x1 (0x2, 0x3, 0x4, 0x5)"), evt.Str("param2", `C:\Windows\MEMORY.DMP`), evt.Str("param3", "00000000-0000-0000-0000-000000000000")}},
		{Record: 4, Time: t0, Provider: provVolmgr, ID: 49, Data: []evt.Field{evt.Str("", `\Device\HarddiskVolume2`)}, Binary: []byte{1}},
		{Record: 5, Time: t0, Provider: provEventLog, ID: 6005},
	}
	small := evt.Log(one, evt.Options{})
	c := small[fileHeaderSize:]
	free := binary.LittleEndian.Uint32(c[48:])
	seeds := [][]byte{small, small[:fileHeaderSize+chunkDataStart+200], c[chunkDataStart:free], crashLog(evt.Options{Dirty: true})[:3*chunkSize]}
	root := os.Getenv("BSODWATCH_SHARED")
	if root == "" {
		root = "../../shared"
	}
	if b, err := os.ReadFile(filepath.Join(root, "evtx", "python-evtx__tests_data__system.evtx")); err == nil {
		seeds = append(seeds, b[:fileHeaderSize+2*chunkSize])
	}
	return seeds
}
