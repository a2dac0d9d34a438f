// Package dumpfile reads Windows crash dump files natively, without a debugger: kernel dumps
// (PAGEDUMP / PAGEDU64 headers of every dump type, with the driver list of small "triage"
// dumps from C:\Windows\Minidump) and user-mode minidumps (MDMP). It uses the standard
// library only and reads through an io.ReaderAt, checking every offset and count against the
// file before it reads or allocates, so a cut, fuzzed or foreign file gives an error and never
// a panic. On a MEMORY.DMP of many GiB it reads only the header pages.
//
// Layouts follow the bytes of real dumps (see the project's dump-format notes): where a
// public header disagrees with the bytes, the bytes win.
package dumpfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Errors that callers tell apart with errors.Is. Every error Read returns wraps one of them,
// except I/O errors of the underlying reader.
var (
	// ErrNotWindowsDump: the file is no Windows crash dump (text, a Linux or macOS
	// minidump, an unknown container).
	ErrNotWindowsDump = errors.New("not a Windows crash dump")
	// ErrTruncated: the file is shorter than its own headers say, or Windows marked it as
	// cut short. It may still be being written.
	ErrTruncated = errors.New("truncated or incomplete dump")
	// ErrCorrupt: the signature is right but the structure is not (impossible counts,
	// overlapping tables, an unknown dump type).
	ErrCorrupt = errors.New("corrupt dump")
	// ErrCompressedCAB: the file is a CAB archive (WER and .dump /b write them); bsodwatch
	// does not unpack CABs (LZX has no standard-library decoder).
	ErrCompressedCAB = errors.New("compressed CAB: extract it first (e.g. expand -F:* FILE.cab DIR, or cabextract)")
)

// Formats, as the signature at offset 0 names them.
const (
	FormatKernel32 = "PAGEDUMP" // 32-bit kernel dump (x86, ARM)
	FormatKernel64 = "PAGEDU64" // 64-bit kernel dump (x64, ARM64)
	FormatMinidump = "MDMP"     // user-mode minidump
	FormatUserDump = "USERDUMP" // legacy user-mode full dump (header only)
)

// Dump is what a dump file holds. Addresses are as the dump records them (32-bit dumps keep
// 32-bit values). Fields a dump type does not carry are zero.
type Dump struct {
	Format string // one of the Format* constants
	// DumpType says which kind of dump: "triage" (small memory dump), "full", "bitmap kernel",
	// "bitmap complete", "summary", "header", "rdmp kernel", "rdmp kernel+active",
	// "rdmp full", "minidump", "legacy user dump".
	DumpType     string
	DumpTypeCode uint32 // the raw DumpType field of kernel dumps
	Machine      uint32 // IMAGE_FILE_MACHINE_* (kernel) or PROCESSOR_ARCHITECTURE_* (minidump)
	Arch         string // x86, x64, arm, arm64, or "" when unknown
	Processors   int

	Build      int    // Windows build number
	OSVersion  string // "10.0.19042" (minidumps carry major.minor; kernel dumps only the build)
	CSDVersion string // service pack text of minidumps
	NtBuildLab string // "19041.1.amd64fre.vb_release.191206-1406", from a triage dump's KDBG copy
	Checked    bool   // kernel: a checked (debug) build

	BugcheckCode   uint32
	BugcheckParams [4]uint64

	SystemTime time.Time     // when the dump was written (UTC)
	Uptime     time.Duration // kernel: system uptime at the crash

	Attributes      uint32 // DUMP_FILE_ATTRIBUTES; valid when HasAttributes
	HasAttributes   bool
	BootID          uint32 // valid when HasBootID
	HasBootID       bool
	ProductType     uint32
	MiniDumpFields  uint32 // kernel triage: which parts the dump holds; minidump: MINIDUMP_TYPE flags (low 32 bits)
	MinidumpFlags   uint64
	PlatformID      uint32 // minidump SystemInfo.PlatformId (2 = Windows NT)
	KdDebuggerData  uint64
	DirectoryBase   uint64
	PsLoadedModules uint64

	ContextPC, ContextSP uint64 // program counter and stack pointer of the header or exception context
	HasContext           bool

	// Exception is the exception record: the header's record in a kernel dump (usually the
	// debugger break of KeBugCheck), the exception stream in a minidump. Nil if absent.
	Exception *Exception

	Drivers         []Module   // kernel triage: loaded drivers, kernel first
	UnloadedDrivers []Unloaded // kernel triage
	Modules         []Module   // minidump: loaded modules, main executable first

	// Stack is the raw stack of the crashing thread from a triage dump, starting at the
	// virtual address StackTop (lowest address).
	Stack    []byte
	StackTop uint64

	ProcessID    uint32 // minidump MiscInfo, valid when HasProcessID
	HasProcessID bool
	ThreadCount  int // minidump

	// PagesPresent is the number of 4 KiB memory pages a full or bitmap dump holds.
	PagesPresent uint64

	// Warnings are oddities that did not stop the read (an encrypted bitmap dump, a string
	// that did not decode).
	Warnings []string

	is64 bool
}

// Is64 reports whether the dump comes from a 64-bit kernel or process.
func (d *Dump) Is64() bool { return d.is64 }

// Live reports whether the dump was taken from a running system (a live kernel dump, e.g.
// LiveKernelReports or a debugger's .dump), so the machine did not crash.
func (d *Dump) Live() bool { return d.HasAttributes && d.Attributes&AttrLiveDump != 0 }

// Kernel reports whether this is a kernel dump (a blue screen or a live kernel dump).
func (d *Dump) Kernel() bool { return d.Format == FormatKernel32 || d.Format == FormatKernel64 }

// Exception is an exception record.
type Exception struct {
	ThreadID uint32
	Code     uint32
	Flags    uint32
	Address  uint64
	Params   []uint64
}

// Module is a loaded driver (kernel) or module (minidump).
type Module struct {
	Path           string // as recorded: \SystemRoot\system32\ntoskrnl.exe, C:\app\app.exe
	Base           uint64
	Size           uint32
	Timestamp      uint32 // PE TimeDateStamp
	Checksum       uint32
	FileVersion    string // minidump: from VS_FIXEDFILEINFO, "10.0.19041.1"
	ProductVersion string
}

// Name is the module's file name without its directory.
func (m Module) Name() string { return baseName(m.Path) }

// End is the first address past the module.
func (m Module) End() uint64 { return m.Base + uint64(m.Size) }

// Unloaded is a driver that was loaded and unloaded before the crash. Windows keeps only the
// first 12 characters of the name.
type Unloaded struct {
	Name       string
	Start, End uint64
}

// DUMP_FILE_ATTRIBUTES bits of a kernel dump header.
const (
	AttrHiberCrash         = 1 << 0
	AttrPowerOff           = 1 << 1
	AttrInsufficientSize   = 1 << 2 // the page file was too small: Windows wrote a cut dump
	AttrKernelTriage       = 1 << 3
	AttrLiveDump           = 1 << 4 // taken from a running system: not a crash
	AttrGeneratedOffline   = 1 << 5
	AttrFilterDump         = 1 << 6
	AttrEarlyBootCrash     = 1 << 7
	AttrEncryptedDumpData  = 1 << 8 // memory is unreadable without the key
	AttrDecryptedDump      = 1 << 9
	pageFill32             = 0x45474150         // "PAGE": a header field never written
	pageFill64             = 0x4547415045474150 // "PAGEPAGE"
	maxDrivers             = 4096
	maxUnloaded            = 1024
	maxModules             = 65536
	maxStreams             = 65536
	maxDataBlocks          = 1 << 20
	maxStack               = 1 << 20
	maxStringPool          = 8 << 20
	maxNameChars           = 1024
	maxMinidumpStringBytes = 64 << 10
)

// Open reads the dump file at path.
func Open(path string) (*Dump, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Read(f, st.Size())
}

// Read reads a dump of size bytes from r. The error wraps ErrNotWindowsDump, ErrTruncated,
// ErrCorrupt or ErrCompressedCAB for bad files. When Windows itself marked a kernel dump as
// cut short, or a full/bitmap dump is shorter than its header says, Read returns both the
// header's Dump and an ErrTruncated error, since the bugcheck is still worth reporting.
func Read(r io.ReaderAt, size int64) (*Dump, error) {
	s := &src{r: r, size: size}
	if size <= 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrTruncated)
	}
	magic, err := s.read(0, int(min(size, 8)), "signature")
	if err != nil {
		return nil, err
	}
	if size < 8 {
		// A few bytes of a known signature: a dump whose writing has just begun.
		for _, sig := range []string{"PAGEDU64", "PAGEDUMP", "MDMP", "MSCF", "USERDUMP", "USERDU64"} {
			if k := min(len(magic), len(sig)); k < len(sig) && string(magic[:k]) == sig[:k] {
				return nil, fmt.Errorf("%w: file is %d bytes, cut inside the %s signature", ErrTruncated, size, sig)
			}
		}
	}
	switch {
	case hasPrefix(magic, "PAGEDU64"):
		return readKernel(s, true)
	case hasPrefix(magic, "PAGEDUMP"):
		return readKernel(s, false)
	case hasPrefix(magic, "MDMP"):
		return readMinidump(s)
	case hasPrefix(magic, "MSCF"):
		return nil, ErrCompressedCAB
	case hasPrefix(magic, "USERDUMP"), hasPrefix(magic, "USERDU64"):
		return &Dump{Format: FormatUserDump, DumpType: "legacy user dump", is64: magic[7] == '4'}, nil
	case hasPrefix(magic, "PK\x03\x04"):
		return nil, fmt.Errorf("%w: ZIP archive (extract it first)", ErrNotWindowsDump)
	case hasPrefix(magic, "PAGE"):
		return nil, fmt.Errorf("%w: kernel dump signature %q not finalized", ErrCorrupt, printable(magic))
	}
	return nil, fmt.Errorf("%w: unknown signature %q", ErrNotWindowsDump, printable(magic))
}

// src reads bounded ranges of the file; every read is checked against the size first.
type src struct {
	r    io.ReaderAt
	size int64
}

// read returns n bytes at off, or ErrTruncated if they are not all inside the file.
func (s *src) read(off int64, n int, what string) ([]byte, error) {
	return s.readWithin(off, n, s.size, what)
}

// readWithin is read with a tighter limit (the dump's own SizeOfDump).
func (s *src) readWithin(off int64, n int, limit int64, what string) ([]byte, error) {
	if limit > s.size {
		limit = s.size
	}
	if off < 0 || n < 0 || off > limit || int64(n) > limit-off {
		return nil, fmt.Errorf("%w: %s (%d bytes at 0x%x) runs past the end of the dump (0x%x bytes)", ErrTruncated, what, n, off, limit)
	}
	b := make([]byte, n)
	got, err := s.r.ReadAt(b, off)
	if got == n {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s at 0x%x: file ended early", ErrTruncated, what, off)
	}
	return nil, fmt.Errorf("read %s at 0x%x: %w", what, off, err)
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		} else {
			out = append(out, '.')
		}
	}
	return string(out)
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '\\' || p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// fileTime converts a Windows FILETIME (100 ns since 1601) to UTC; zero for unset values.
func fileTime(ft uint64) time.Time {
	const epochDiff = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns
	if ft == 0 || ft == pageFill64 || ft < epochDiff || ft > 1<<62 {
		return time.Time{}
	}
	d := ft - epochDiff
	return time.Unix(int64(d/1e7), int64(d%1e7)*100).UTC()
}
