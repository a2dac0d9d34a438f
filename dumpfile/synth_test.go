package dumpfile_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bsodwatch/bsodwatch/dumpfile"
	"github.com/bsodwatch/bsodwatch/dumpfile/dumpfiletest"
)

// x86Triage is a 32-bit x86 small memory dump (no real one small enough exists): a
// DRIVER_IRQL_NOT_LESS_OR_EQUAL whose P4 points into a third-party driver.
func x86Triage() dumpfiletest.Kernel {
	return dumpfiletest.Kernel{
		Machine: dumpfiletest.MachineX86, Processors: 2, Build: 7601, DumpType: 4,
		BugcheckCode: 0xD1, Params: [4]uint64{0x28, 2, 0, 0x8f2a1234},
		SystemTime: 0x01d41d41b482b936, Uptime: 600_000_000,
		ContextPC: 0x82c5e000 + 0x1000, ContextSP: 0x8078a000,
		Drivers: []dumpfiletest.Driver{
			{Path: `\SystemRoot\system32\ntkrnlpa.exe`, Base: 0x82c00000, Size: 0x410000, Timestamp: 0x4ce7951a, Checksum: 0x3c8e5a},
			{Path: `\SystemRoot\system32\halmacpi.dll`, Base: 0x82a00000, Size: 0x49000, Timestamp: 0x4ce788d6},
			{Path: `\SystemRoot\system32\DRIVERS\netio.sys`, Base: 0x8f000000, Size: 0x40000, Timestamp: 0x4ce79451},
			{Path: `\??\C:\Windows\system32\drivers\vendornet.sys`, Base: 0x8f2a0000, Size: 0x8000, Timestamp: 0x5a1b2c3d},
		},
		Unloaded:   []dumpfiletest.Unloaded{{Name: "dump_storport.sys", Start: 0x90000000, End: 0x9000a000}},
		StackTop:   0x8078a000,
		Stack:      []uint64{0x82c60000, 0, 0x12345678, 0x8f012345, 0x8f2a1000, 0x82c61000},
		NtBuildLab: "7601.17514.x86fre.win7sp1_rtm.101119-1850",
	}
}

func TestSyntheticX86Triage(t *testing.T) {
	k := x86Triage()
	data := k.Bytes()
	d, err := dumpfile.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Format != dumpfile.FormatKernel32 || d.Arch != "x86" || d.Is64() || d.DumpType != "triage" || d.Build != 7601 || d.Processors != 2 {
		t.Errorf("header: %s %s is64=%v %s build %d cpus %d", d.Format, d.Arch, d.Is64(), d.DumpType, d.Build, d.Processors)
	}
	if d.BugcheckCode != 0xD1 || d.BugcheckParams != k.Params || dumpfile.BugcheckName(d.BugcheckCode) != "DRIVER_IRQL_NOT_LESS_OR_EQUAL" {
		t.Errorf("bugcheck 0x%x %x", d.BugcheckCode, d.BugcheckParams)
	}
	if got := d.SystemTime.Format("2006-01-02T15:04:05Z"); got != "2018-07-16T20:15:13Z" {
		t.Errorf("time %s", got)
	}
	if d.Uptime.Seconds() != 60 {
		t.Errorf("uptime %v", d.Uptime)
	}
	if len(d.Drivers) != len(k.Drivers) {
		t.Fatalf("%d drivers, want %d", len(d.Drivers), len(k.Drivers))
	}
	for i, w := range k.Drivers {
		g := d.Drivers[i]
		if g.Path != w.Path || g.Base != w.Base || g.Size != w.Size || g.Timestamp != w.Timestamp || g.Checksum != w.Checksum {
			t.Errorf("driver %d = %+v, want %+v", i, g, w)
		}
	}
	if len(d.UnloadedDrivers) != 1 || d.UnloadedDrivers[0].Name != "dump_storpor" || d.UnloadedDrivers[0].End != 0x9000a000 {
		t.Errorf("unloaded = %+v (names keep 12 characters)", d.UnloadedDrivers)
	}
	if d.NtBuildLab != k.NtBuildLab {
		t.Errorf("NtBuildLab %q", d.NtBuildLab)
	}
	if !d.HasContext || d.ContextPC != k.ContextPC {
		t.Errorf("context PC 0x%x", d.ContextPC)
	}
	if seq := strings.Join(dumpfile.ModuleSequence(d.StackHits(), 12), ","); seq != "ntkrnlpa.exe,netio.sys,vendornet.sys,ntkrnlpa.exe" {
		t.Errorf("stack sequence %s", seq)
	}
	c := d.ProbableCause()
	if c.Location() != "vendornet.sys+0x1234" || c.Confidence != dumpfile.High || !strings.Contains(c.Reason, "parameter 4") {
		t.Errorf("cause %s %s %q", c.Location(), c.Confidence, c.Reason)
	}
}

func TestSyntheticCauseRules(t *testing.T) {
	base := x86Triage()
	tests := []struct {
		name   string
		edit   func(k *dumpfiletest.Kernel)
		out    dumpfile.Outcome
		loc    string
		conf   dumpfile.Confidence
		reason string
	}{
		{"param in kernel, context PC in driver", func(k *dumpfiletest.Kernel) {
			k.Params[3] = 0x82c00100
			k.ContextPC = 0x8f2a0042
		}, dumpfile.OutcomeModule, "vendornet.sys+0x42", dumpfile.Medium, "program counter"},
		{"context PC and stack agree", func(k *dumpfiletest.Kernel) {
			k.BugcheckCode, k.Params, k.ContextPC = 0x133, [4]uint64{1, 0x1e00, 0, 0}, 0x8f012000
		}, dumpfile.OutcomeModule, "netio.sys+0x12000", dumpfile.Medium, "program counter"},
		{"stack only", func(k *dumpfiletest.Kernel) {
			k.BugcheckCode, k.Params, k.ContextPC = 0x133, [4]uint64{1, 0x1e00, 0, 0}, 0x82c00100
		}, dumpfile.OutcomeModule, "netio.sys+0x12345", dumpfile.Low, "first driver on the stack"},
		{"nothing but the kernel", func(k *dumpfiletest.Kernel) {
			k.BugcheckCode, k.Params, k.ContextPC, k.Stack = 0x133, [4]uint64{}, 0x82c00100, []uint64{0x82c60000}
		}, dumpfile.OutcomeModule, "ntkrnlpa.exe+0x100", dumpfile.Low, "no driver outside the kernel"},
		{"unloaded driver", func(k *dumpfiletest.Kernel) {
			k.BugcheckCode, k.Params = 0xD1, [4]uint64{0, 2, 0, 0x90000010}
			k.ContextPC, k.Stack = 0x82c00100, nil
		}, dumpfile.OutcomeModule, "dump_storpor+0x10", dumpfile.High, "unloaded"},
		{"hardware", func(k *dumpfiletest.Kernel) { k.BugcheckCode = 0x124 }, dumpfile.OutcomeHardware, "hardware", dumpfile.Medium, "WHEA"},
		{"machine check", func(k *dumpfiletest.Kernel) { k.BugcheckCode = 0x9C }, dumpfile.OutcomeHardware, "hardware", dumpfile.Medium, "hardware"},
		{"manual", func(k *dumpfiletest.Kernel) { k.BugcheckCode = 0xDEADDEAD }, dumpfile.OutcomeManual, "", dumpfile.High, "manually initiated"},
		{"live attribute", func(k *dumpfiletest.Kernel) { k.Attributes, k.HasAttributes = dumpfile.AttrLiveDump, true }, dumpfile.OutcomeLive, "", dumpfile.High, "live dump"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := base
			k.Params = base.Params
			tt.edit(&k)
			data := k.Bytes()
			d, err := dumpfile.Read(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			c := d.ProbableCause()
			if c.Outcome != tt.out || c.Location() != tt.loc || c.Confidence != tt.conf || !strings.Contains(c.Reason, tt.reason) {
				t.Errorf("cause = %s %q %s %q, want %s %q %s …%q…", c.Outcome, c.Location(), c.Confidence, c.Reason, tt.out, tt.loc, tt.conf, tt.reason)
			}
		})
	}
}

func TestSyntheticErrors(t *testing.T) {
	triage := x86Triage().Bytes()
	x64 := x86Triage()
	x64.Is64, x64.Machine = true, dumpfiletest.MachineX64
	noMarker := x86Triage()
	noMarker.OmitMarker = true
	insufficient := x86Triage()
	insufficient.Attributes, insufficient.HasAttributes = dumpfile.AttrInsufficientSize, true
	bitmap := dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 5, BugcheckCode: 0x50, BitmapSig: "SDMP", FirstPage: 0x3000, Pages: 16, BitmapBits: 64}
	full32 := dumpfiletest.Kernel{Machine: dumpfiletest.MachineX86, DumpType: 1, BugcheckCode: 0x7F, Runs: [][2]uint64{{1, 4}, {16, 8}}}
	rdmp := dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 8, BugcheckCode: 0xEF, FirstPage: 0x3000}
	tests := []struct {
		name string
		data []byte
		size int64 // 0: len(data)
		want error
		what string
	}{
		{"empty", nil, 0, dumpfile.ErrTruncated, "empty"},
		{"text", []byte("hello, this is not a dump at all"), 0, dumpfile.ErrNotWindowsDump, "signature"},
		{"zip", []byte("PK\x03\x04xxxxxxxx"), 0, dumpfile.ErrNotWindowsDump, "ZIP"},
		{"cab", []byte("MSCF\x00\x00\x00\x00rest"), 0, dumpfile.ErrCompressedCAB, "extract"},
		{"signature begun", []byte("PAGED"), 0, dumpfile.ErrTruncated, "signature"},
		{"header cut", triage[:0x800], 0, dumpfile.ErrTruncated, "header"},
		{"triage cut", triage[:len(triage)-10], 0, dumpfile.ErrTruncated, "says it is"},
		{"no TRGD", noMarker.Bytes(), 0, dumpfile.ErrTruncated, "TRGD"},
		{"insufficient size", insufficient.Bytes(), 0, dumpfile.ErrTruncated, "InsufficientDumpfileSize"},
		{"64-bit triage cut", x64.Bytes()[:0x2040], 0, dumpfile.ErrTruncated, ""},
		{"unfinalized DumpType", withU32(triage, 0xF88, 0x45474150), 0, dumpfile.ErrTruncated, "never finalized"},
		{"unknown DumpType", withU32(triage, 0xF88, 77), 0, dumpfile.ErrCorrupt, "DumpType"},
		{"absurd driver count", withU32(triage, 0x1034, 1<<30), 0, dumpfile.ErrCorrupt, "drivers"},
		{"driver list past the end", withU32(triage, 0x1030, 0x7ffffff0), 0, dumpfile.ErrTruncated, "driver list"},
		{"bitmap short", bitmap.Bytes(), bitmap.FileSize() - 1, dumpfile.ErrTruncated, "bitmap dump needs"},
		{"bitmap bad signature", withU32(bitmap.Bytes(), 0x2000, 0x41414141), bitmap.FileSize(), dumpfile.ErrCorrupt, "signature"},
		{"bitmap absurd pages", withU64(bitmap.Bytes(), 0x2028, 1<<62), 1 << 40, dumpfile.ErrCorrupt, "pages"},
		{"full short", full32.Bytes(), full32.FileSize() - 4096, dumpfile.ErrTruncated, "full dump needs"},
		{"full runs disagree", withU32(full32.Bytes(), 0x68, 13), full32.FileSize(), dumpfile.ErrCorrupt, "runs"},
		{"rdmp past the end", rdmp.Bytes(), 0x2100, dumpfile.ErrTruncated, "RDMP"},
		{"minidump header cut", []byte("MDMP\x93\xa7\x00\x00\x01\x00\x00\x00"), 0, dumpfile.ErrTruncated, "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == 0 {
				size = int64(len(tt.data))
			}
			_, err := dumpfile.Read(dumpfiletest.Sparse{Data: tt.data, Size: size}, size)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.what) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.what)
			}
		})
	}
}

func withU32(b []byte, off int, v uint32) []byte {
	c := bytes.Clone(b)
	c[off], c[off+1], c[off+2], c[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return c
}

func withU64(b []byte, off int, v uint64) []byte {
	return withU32(withU32(b, off, uint32(v)), off+4, uint32(v>>32))
}

func TestSyntheticBigDumps(t *testing.T) {
	tests := []struct {
		name, dumpType string
		k              dumpfiletest.Kernel
	}{
		{"bitmap kernel 64", "bitmap kernel", dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 5, BugcheckCode: 0x3B, BitmapSig: "SDMP", FirstPage: 0x3000, Pages: 8, BitmapBits: 64}},
		{"bitmap complete 64", "bitmap complete", dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineARM64, DumpType: 5, BugcheckCode: 0x3B, BitmapSig: "FDMP", FirstPage: 0x3000, Pages: 8, BitmapBits: 64}},
		{"live bitmap", "bitmap kernel (live)", dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 6, BitmapSig: "SDMP", FirstPage: 0x3000, Pages: 8, BitmapBits: 64, HasAttributes: true, Attributes: dumpfile.AttrLiveDump}},
		{"bitmap 32", "bitmap kernel", dumpfiletest.Kernel{Machine: dumpfiletest.MachineX86, DumpType: 5, BugcheckCode: 0x3B, BitmapSig: "SDMP", FirstPage: 0x2000, Pages: 8, BitmapBits: 64}},
		{"full 32", "full", dumpfiletest.Kernel{Machine: dumpfiletest.MachineX86, DumpType: 1, BugcheckCode: 0x3B, Runs: [][2]uint64{{1, 158}, {256, 1000}}}},
		{"full 64", "full", dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 1, BugcheckCode: 0x3B, Runs: [][2]uint64{{1, 158}}}},
		{"rdmp full", "rdmp full", dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 10, BugcheckCode: 0x3B, FirstPage: 0x4000}},
		{"header only", "header", dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 3, BugcheckCode: 0x3B}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := max(tt.k.FileSize(), int64(len(tt.k.Bytes())))
			d, err := dumpfile.Read(dumpfiletest.Sparse{Data: tt.k.Bytes(), Size: size}, size)
			if err != nil {
				t.Fatal(err)
			}
			if d.DumpType != tt.dumpType || d.BugcheckCode != tt.k.BugcheckCode || d.DumpTypeCode != tt.k.DumpType {
				t.Errorf("got %q 0x%x type %d", d.DumpType, d.BugcheckCode, d.DumpTypeCode)
			}
			if tt.k.DumpType == 6 && d.ProbableCause().Outcome != dumpfile.OutcomeLive {
				t.Errorf("live bitmap dump not reported as live")
			}
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *os.File
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// TestLargeSparseMemoryDump proves that a MEMORY.DMP of many GiB costs only header I/O.
func TestLargeSparseMemoryDump(t *testing.T) {
	const size = 8 << 30
	for _, k := range []dumpfiletest.Kernel{
		{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 5, BugcheckCode: 0x50, BitmapSig: "SDMP", FirstPage: 0x10000, Pages: (size - 0x10000) / 4096, BitmapBits: 1 << 21},
		{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 1, BugcheckCode: 0x50, Runs: [][2]uint64{{1, 0x9e}, {0x100, (size-0x2000)/4096 - 0x9e}}},
	} {
		path := filepath.Join(t.TempDir(), "MEMORY.DMP")
		if err := os.WriteFile(path, k.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		c := &countingReader{r: f}
		d, err := dumpfile.Read(c, size)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if d.BugcheckCode != 0x50 || d.PagesPresent == 0 {
			t.Errorf("%s: bugcheck 0x%x, %d pages", d.DumpType, d.BugcheckCode, d.PagesPresent)
		}
		if n := c.n.Load(); n > 64<<10 {
			t.Errorf("%s: read %d bytes of an 8 GiB dump, want <= 64 KiB", d.DumpType, n)
		} else {
			t.Logf("%s: %d bytes read of 8 GiB", d.DumpType, n)
		}
	}
}
