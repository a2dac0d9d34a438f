package dumpshare_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/bsodwatch/bsodwatch/dumpfile/dumpfiletest"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// realMinidumps is the four real kernel minidumps of ../shared, end to end.
func realMinidumps(b *testing.B) []byte {
	dir := sharedtest.Dir(b, "dumps/kernel")
	files, _ := filepath.Glob(filepath.Join(dir, "*.dmp"))
	var out []byte
	for _, f := range files {
		d, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, d...)
	}
	return out
}

// constructedFullDump builds a complete (DumpType 1) x64 MEMORY.DMP of size bytes: the
// dumpfiletest header with one run of physical pages, then pages of four kinds in a fixed
// mix, shuffled with a fixed seed: 40 % zero pages (free and zeroed memory), 30 % pages of
// real kernel memory (the real minidumps' pages: pool, stacks, driver lists, KDBG), 20 % x86-64
// machine code and data (this test binary's own pages), 10 % random bytes (memory holding
// compressed or encrypted data, which no compressor shrinks). No real full dump small enough
// to keep exists (../shared/dumps/README.md), so the mix is this package's assumption; the
// README gives the ratio of each kind too.
func constructedFullDump(b *testing.B, size int) []byte {
	const page = 4096
	k := dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 1, BugcheckCode: 0x50,
		Runs: [][2]uint64{{1, uint64(size/page - 2)}}}
	out := bytes.NewBuffer(k.Bytes())
	kernel := realMinidumps(b)
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(18, 2026))
	noise := make([]byte, page)
	zero := make([]byte, page)
	for out.Len()+page <= size {
		switch n := rnd.IntN(10); {
		case n < 4:
			out.Write(zero)
		case n < 7:
			off := rnd.IntN(len(kernel)/page) * page
			out.Write(kernel[off : off+page])
		case n < 9:
			off := rnd.IntN(len(exe)/page) * page
			out.Write(exe[off : off+page])
		default:
			for i := range noise {
				noise[i] = byte(rnd.Uint32())
			}
			out.Write(noise)
		}
	}
	return out.Bytes()
}

// benchPut puts data into a fresh local share, compressed or not, and reports the ratio.
func benchPut(b *testing.B, data []byte, compressed bool) {
	dir := b.TempDir()
	l, err := dumpshare.NewLocal(dir)
	if err != nil {
		b.Fatal(err)
	}
	rel := "h/20240101T000000Z-MEMORY.DMP"
	if compressed {
		rel += dumpshare.CompressedSuffix
	}
	b.SetBytes(int64(len(data)))
	var stored int64
	for b.Loop() {
		if _, err := l.Put(context.Background(), rel, bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
		fi, err := l.Stat(context.Background(), rel)
		if err != nil {
			b.Fatal(err)
		}
		stored = fi.Size
	}
	b.ReportMetric(float64(len(data))/float64(stored), "ratio")
}

// BenchmarkPut copies dumps into a local share (temporary file, sha256, fsync, rename) as
// they are and zstd-compressed at the fastest level: MiB/s of dump bytes and the ratio.
func BenchmarkPut(b *testing.B) {
	mini := realMinidumps(b)
	full := constructedFullDump(b, 256<<20)
	for _, c := range []struct {
		name string
		data []byte
	}{{"minidumps", mini}, {"full256MiB", full}} {
		b.Run(c.name+"/plain", func(b *testing.B) { benchPut(b, c.data, false) })
		b.Run(c.name+"/zstd", func(b *testing.B) { benchPut(b, c.data, true) })
	}
}

// BenchmarkRestore decompresses the constructed full dump, as the analyzer does before cdb.
func BenchmarkRestore(b *testing.B) {
	full := constructedFullDump(b, 256<<20)
	z := zstdOf(b, full)
	want := sum(full)
	b.SetBytes(int64(len(full)))
	for b.Loop() {
		if err := dumpshare.Restore(context.Background(), &countWriter{}, bytes.NewReader(z), true, int64(len(full)), want); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKinds measures the ratio of each kind of page of the constructed dump.
func BenchmarkKinds(b *testing.B) {
	full := constructedFullDump(b, 64<<20)
	kernel := realMinidumps(b)
	exe, _ := os.ReadFile(os.Args[0])
	noise := make([]byte, 8<<20)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rnd.Uint32())
	}
	for _, c := range []struct {
		name string
		data []byte
	}{{"zero", make([]byte, 8<<20)}, {"kernel-pages", kernel}, {"code", exe[:min(len(exe), 16<<20)]}, {"random", noise}, {"mix", full}} {
		b.Run(c.name, func(b *testing.B) { benchPut(b, c.data, true) })
	}
}
