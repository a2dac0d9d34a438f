package dumpfile_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bsodwatch/bsodwatch/dumpfile"
	"github.com/bsodwatch/bsodwatch/dumpfile/dumpfiletest"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// boundedReader fails the test on any read outside the file.
type boundedReader struct {
	t    *testing.T
	data []byte
}

func (b boundedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(b.data)) {
		b.t.Fatalf("read of %d bytes at %d outside a %d-byte file", len(p), off, len(b.data))
	}
	return copy(p, b.data[off:]), nil
}

func FuzzRead(f *testing.F) {
	x64 := x86Triage()
	x64.Is64, x64.Machine = true, dumpfiletest.MachineX64
	for _, k := range []dumpfiletest.Kernel{x86Triage(), x64} {
		f.Add(k.Bytes())
	}
	f.Add([]byte("MDMP\x93\xa7\x00\x00\x01\x00\x00\x00\x20\x00\x00\x00" + string(make([]byte, 16)) + "\x07\x00\x00\x00\x38\x00\x00\x00\x2c\x00\x00\x00"))
	// Real small dumps as seeds when ../shared is there (the fuzzer must not skip without it).
	for _, p := range sharedSeeds() {
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := dumpfile.Read(boundedReader{t, data}, int64(len(data)))
		if err != nil {
			for _, e := range []error{dumpfile.ErrNotWindowsDump, dumpfile.ErrTruncated, dumpfile.ErrCorrupt, dumpfile.ErrCompressedCAB} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("error of no known kind: %v", err)
		}
		if len(d.Drivers) > 4096 || len(d.Modules) > 65536 || len(d.Stack) > len(data) {
			t.Fatalf("more than the file can hold: %d drivers, %d modules, %d stack bytes", len(d.Drivers), len(d.Modules), len(d.Stack))
		}
		c := d.ProbableCause()
		if c.Confidence == "" || c.Reason == "" {
			t.Fatalf("cause without confidence or reason: %+v", c)
		}
	})
}

func sharedSeeds() []string {
	root := os.Getenv("BSODWATCH_SHARED")
	if root == "" {
		root = "../../shared"
	}
	var out []string
	for _, sub := range []string{"user", "malformed", "other-os"} {
		m, _ := filepath.Glob(filepath.Join(root, "dumps", sub, "*"))
		out = append(out, m...)
	}
	return out
}

func BenchmarkTriageKernelMinidump(b *testing.B) {
	dir := sharedtest.Dir(b, "dumps")
	data, err := os.ReadFile(filepath.Join(dir, "kernel", "triage-x64-win10-19041-bc1000007e.dmp"))
	if err != nil {
		b.Fatal(err)
	}
	benchRead(b, data)
}

func BenchmarkTriageSyntheticX86(b *testing.B) { benchRead(b, x86Triage().Bytes()) }

func BenchmarkReadMinidump(b *testing.B) {
	dir := sharedtest.Dir(b, "dumps")
	data, err := os.ReadFile(filepath.Join(dir, "user", "rizin-calc-x64-win7.dmp"))
	if err != nil {
		b.Fatal(err)
	}
	benchRead(b, data)
}

// benchRead measures a full triage: read the dump and work out the probable cause.
func benchRead(b *testing.B, data []byte) {
	var r io.ReaderAt = bytes.NewReader(data)
	b.ReportAllocs()
	for b.Loop() {
		d, err := dumpfile.Read(r, int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		if d.ProbableCause().Reason == "" {
			b.Fatal("no cause")
		}
	}
}
