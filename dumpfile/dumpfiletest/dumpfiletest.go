// Package dumpfiletest builds synthetic Windows kernel dump files for tests: the layouts no
// small real file exists for (x86 small memory dumps, bitmap and full MEMORY.DMP headers).
// The bytes follow the same documented offsets the reader uses; tests that want independent
// ground truth use the real dumps in ../shared.
package dumpfiletest

import (
	"encoding/binary"
	"io"
	"unicode/utf16"
)

var le = binary.LittleEndian

// Machine types.
const (
	MachineX86   = 0x14C
	MachineX64   = 0x8664
	MachineARM   = 0x1C4
	MachineARM64 = 0xAA64
)

// Driver is a loaded driver of a synthetic triage dump.
type Driver struct {
	Path      string
	Base      uint64
	Size      uint32
	Timestamp uint32
	Checksum  uint32
}

// Unloaded is an unloaded driver of a synthetic triage dump.
type Unloaded struct {
	Name       string
	Start, End uint64
}

// Kernel describes a synthetic kernel dump. Fields left zero are written as zero, except
// Attributes, which holds the PAGE fill unless HasAttributes.
type Kernel struct {
	Is64          bool
	Machine       uint32
	Processors    uint32
	Build         uint32
	DumpType      uint32
	BugcheckCode  uint32
	Params        [4]uint64
	SystemTime    uint64 // FILETIME
	Uptime        uint64 // 100 ns
	Attributes    uint32
	HasAttributes bool
	ContextPC     uint64
	ContextSP     uint64

	// Triage (DumpType 4).
	Drivers    []Driver
	Unloaded   []Unloaded
	StackTop   uint64
	Stack      []uint64 // pointer-sized values from StackTop up
	NtBuildLab string
	OmitMarker bool // leave out the TRGD marker

	// Bitmap (DumpType 5/6): "SDMP" or "FDMP", the first page's offset and the pages present.
	BitmapSig  string
	FirstPage  uint64
	Pages      uint64
	BitmapBits uint64
	// Full (DumpType 1): physical memory runs {BasePage, PageCount}.
	Runs [][2]uint64
}

func (k Kernel) headerSize() int {
	if k.Is64 {
		return 0x2000
	}
	return 0x1000
}

func (k Kernel) ptrSize() int {
	if k.Is64 {
		return 8
	}
	return 4
}

func putPtr(b []byte, off, size int, v uint64) {
	if size == 8 {
		le.PutUint64(b[off:], v)
	} else {
		le.PutUint32(b[off:], uint32(v))
	}
}

// Bytes returns the file: the whole file for a triage dump; for bitmap and full dumps only
// the headers (the page data would be FileSize bytes: use Sparse or a sparse file).
func (k Kernel) Bytes() []byte {
	hs := k.headerSize()
	h := make([]byte, hs)
	for i := 0; i+4 <= hs; i += 4 {
		copy(h[i:], "PAGE") // unwritten fields hold the fill pattern, as Windows leaves them
	}
	p := k.ptrSize()
	var dumpType, fields, attr, uptime, systime, ctx, exc, physRuns, physPages, run0 int
	if k.Is64 {
		copy(h, "PAGEDU64")
		le.PutUint32(h[0x30:], k.Machine)
		le.PutUint32(h[0x34:], k.Processors)
		le.PutUint32(h[0x38:], k.BugcheckCode)
		for i, v := range k.Params {
			le.PutUint64(h[0x40+8*i:], v)
		}
		dumpType, fields, attr, uptime, systime, ctx, exc = 0xF98, 0x1038, 0x1050, 0x1030, 0xFA8, 0x348, 0xF00
		physRuns, physPages, run0 = 0x88, 0x90, 0x98
	} else {
		copy(h, "PAGEDUMP")
		le.PutUint32(h[0x20:], k.Machine)
		le.PutUint32(h[0x24:], k.Processors)
		le.PutUint32(h[0x28:], k.BugcheckCode)
		for i, v := range k.Params {
			le.PutUint32(h[0x2C+4*i:], uint32(v))
		}
		dumpType, fields, attr, uptime, systime, ctx, exc = 0xF88, 0xF8C, 0x8A0, 0xFB8, 0xFC0, 0x320, 0x7D0
		physRuns, physPages, run0 = 0x64, 0x68, 0x6C
	}
	le.PutUint32(h[0x8:], 0xF)
	le.PutUint32(h[0xC:], k.Build)
	le.PutUint32(h[dumpType:], k.DumpType)
	le.PutUint32(h[fields:], 0xCFF)
	le.PutUint64(h[uptime:], k.Uptime)
	le.PutUint64(h[systime:], k.SystemTime)
	if k.HasAttributes {
		le.PutUint32(h[attr:], k.Attributes)
	}
	// Exception record: the debugger break KeBugCheck raises.
	clear(h[exc : exc+0x50])
	le.PutUint32(h[exc:], 0x80000003)
	// CONTEXT: zero, then PC and SP where the machine keeps them.
	clear(h[ctx : ctx+0x400])
	regs := map[uint32][2]int{ // CONTEXT offsets of PC and SP
		MachineX64: {0xF8, 0x98}, MachineARM64: {0x108, 0x100}, MachineX86: {0xB8, 0xC4}, MachineARM: {0x40, 0x38},
	}[k.Machine]
	pcOff, spOff := regs[0], regs[1]
	if pcOff != 0 {
		putPtr(h, ctx+pcOff, p, k.ContextPC)
		putPtr(h, ctx+spOff, p, k.ContextSP)
	}
	if k.DumpType == 1 {
		clear(h[physRuns : physRuns+700])
		le.PutUint32(h[physRuns:], uint32(len(k.Runs)))
		var total uint64
		for i, r := range k.Runs {
			putPtr(h, run0+2*p*i, p, r[0])
			putPtr(h, run0+2*p*i+p, p, r[1])
			total += r[1]
		}
		putPtr(h, physPages, p, total)
	}
	switch k.DumpType {
	case 4:
		return k.triage(h, ctx, exc)
	case 5, 6:
		b := make([]byte, 0x38)
		copy(b, k.BitmapSig)
		copy(b[4:], "DUMP")
		le.PutUint64(b[0x20:], k.FirstPage)
		le.PutUint64(b[0x28:], k.Pages)
		le.PutUint64(b[0x30:], k.BitmapBits)
		return append(h, b...)
	case 8, 9, 10:
		b := make([]byte, 0x30)
		le.PutUint32(b, 0x40)
		copy(b[4:], "RDMP")
		copy(b[8:], "DUMP")
		le.PutUint64(b[0x18:], k.FirstPage)
		return append(h, b...)
	}
	return h
}

// FileSize is the size the whole dump must have: the headers plus every page it holds.
func (k Kernel) FileSize() int64 {
	switch k.DumpType {
	case 1:
		var n uint64
		for _, r := range k.Runs {
			n += r[1]
		}
		return int64(k.headerSize()) + int64(n)*4096
	case 5, 6:
		return int64(k.FirstPage + k.Pages*4096)
	case 8, 9, 10:
		return max(int64(k.FirstPage), int64(len(k.Bytes())))
	}
	return int64(len(k.Bytes()))
}

func (k Kernel) triage(h []byte, ctx, exc int) []byte {
	hs, p := k.headerSize(), k.ptrSize()
	tsize, stride, unlFirst, unlLen := 0x68, 0x4C, 4, 0x28
	if k.Is64 {
		tsize, stride, unlFirst, unlLen = 0x80, 0x90, 8, 0x38
	}
	f := append(h, make([]byte, tsize)...)
	t := func(off int, v uint32) { le.PutUint32(f[hs+off:], v) }
	align := func() {
		for len(f)%8 != 0 {
			f = append(f, 0)
		}
	}
	t(0x0C, uint32(ctx))
	t(0x10, uint32(exc))
	t(0x44, 0xFFFFFFFF)

	// Unloaded drivers.
	align()
	t(0x18, uint32(len(f)))
	u := make([]byte, unlFirst+unlLen*len(k.Unloaded))
	le.PutUint32(u, uint32(len(k.Unloaded)))
	for i, d := range k.Unloaded {
		e := u[unlFirst+i*unlLen:]
		name := utf16.Encode([]rune(d.Name))
		le.PutUint16(e, uint16(2*len(name)))
		le.PutUint16(e[2:], uint16(2*len(name)))
		nameAt, start, end := 8, 0x20, 0x24
		if k.Is64 {
			nameAt, start, end = 0x10, 0x28, 0x30
		}
		for j, c := range name[:min(12, len(name))] {
			le.PutUint16(e[nameAt+2*j:], c)
		}
		putPtr(e, start, p, d.Start)
		putPtr(e, end, p, d.End)
	}
	f = append(f, u...)

	// Stack.
	align()
	t(0x28, uint32(len(f)))
	t(0x2C, uint32(len(k.Stack)*p))
	if k.Is64 {
		le.PutUint64(f[hs+0x48:], k.StackTop)
	} else {
		le.PutUint32(f[hs+0x48:], uint32(k.StackTop))
	}
	for _, v := range k.Stack {
		b := make([]byte, p)
		putPtr(b, 0, p, v)
		f = append(f, b...)
	}

	// Driver list, then the string pool its names point into.
	align()
	listAt := len(f)
	t(0x30, uint32(listAt))
	t(0x34, uint32(len(k.Drivers)))
	f = append(f, make([]byte, stride*len(k.Drivers))...)
	poolAt := len(f)
	t(0x38, uint32(poolAt))
	for i, d := range k.Drivers {
		e := f[listAt+i*stride:]
		le.PutUint32(e, uint32(len(f)))
		if k.Is64 {
			le.PutUint64(e[0x38:], d.Base)
			le.PutUint32(e[0x48:], d.Size)
			le.PutUint32(e[0x80:], d.Checksum)
			le.PutUint32(e[0x88:], d.Timestamp)
		} else {
			le.PutUint32(e[0x1C:], uint32(d.Base))
			le.PutUint32(e[0x24:], d.Size)
			le.PutUint32(e[0x44:], d.Checksum)
			le.PutUint32(e[0x48:], d.Timestamp)
		}
		name := utf16.Encode([]rune(d.Path))
		s := make([]byte, 4+2*len(name)+2)
		le.PutUint32(s, uint32(len(name)))
		for j, c := range name {
			le.PutUint16(s[4+2*j:], c)
		}
		f = append(f, s...)
	}
	t(0x3C, uint32(len(f)-poolAt))

	// KDBG copy with NtBuildLab's address, a data block holding the string.
	if k.NtBuildLab != "" {
		const labVA = 0x80001000
		align()
		dbg := len(f)
		kd := make([]byte, 0x380)
		copy(kd[0x10:], "KDBG")
		le.PutUint32(kd[0x14:], 0x380)
		le.PutUint64(kd[0x208:], labVA)
		f = append(f, kd...)
		labAt := len(f)
		f = append(f, k.NtBuildLab...)
		f = append(f, 0)
		align()
		blocks := len(f)
		blk := make([]byte, 16)
		le.PutUint64(blk, labVA)
		le.PutUint32(blk[8:], uint32(labAt))
		le.PutUint32(blk[12:], uint32(len(k.NtBuildLab)+1))
		f = append(f, blk...)
		if k.Is64 {
			t(0x70, uint32(dbg))
			t(0x74, 0x380)
			t(0x78, uint32(blocks))
			t(0x7C, 1)
		} else {
			t(0x58, uint32(dbg))
			t(0x5C, 0x380)
			t(0x60, uint32(blocks))
			t(0x64, 1)
		}
	}

	valid := len(f)
	if k.OmitMarker {
		f = append(f, 0, 0, 0, 0)
	} else {
		f = append(f, "TRGD"...)
	}
	t(0x04, uint32(len(f)))
	t(0x08, uint32(valid))
	return f
}

// Sparse is an io.ReaderAt of Size bytes: Data, then zeros — a MEMORY.DMP without its pages.
type Sparse struct {
	Data []byte
	Size int64
}

// ReadAt implements io.ReaderAt.
func (s Sparse) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= s.Size {
		return 0, io.EOF
	}
	n := len(p)
	if rem := s.Size - off; int64(n) > rem {
		n = int(rem)
	}
	clear(p[:n])
	if off < int64(len(s.Data)) {
		copy(p[:n], s.Data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
