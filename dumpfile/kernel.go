package dumpfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf16"
)

var le = binary.LittleEndian

// Kernel header geometry: where the fields of DUMP_HEADER32/64 sit.
type kernelLayout struct {
	headerSize                 int
	ptr                        int // pointer size in the header
	major, minor               int
	dirBase, psLoaded          int
	machine, nproc, code, args int
	kdbg                       int
	physRuns, physPages, run0  int
	maxRuns                    int
	context, exception         int
	dumpType, fields, product  int
	attributes, bootID         int
	uptime, systemTime         int
	triageSize, driverStride   int
	unloadedFirst, unloadedLen int
}

var (
	layout64 = kernelLayout{
		headerSize: 0x2000, ptr: 8, major: 0x8, minor: 0xC, dirBase: 0x10, psLoaded: 0x20,
		machine: 0x30, nproc: 0x34, code: 0x38, args: 0x40, kdbg: 0x80,
		physRuns: 0x88, physPages: 0x90, run0: 0x98, maxRuns: (700 - 16) / 16,
		context: 0x348, exception: 0xF00, dumpType: 0xF98, fields: 0x1038, product: 0x1040,
		attributes: 0x1050, bootID: 0x1054, uptime: 0x1030, systemTime: 0xFA8,
		triageSize: 0x80, driverStride: 0x90, unloadedFirst: 8, unloadedLen: 0x38,
	}
	layout32 = kernelLayout{
		headerSize: 0x1000, ptr: 4, major: 0x8, minor: 0xC, dirBase: 0x10, psLoaded: 0x18,
		machine: 0x20, nproc: 0x24, code: 0x28, args: 0x2C, kdbg: 0x60,
		physRuns: 0x64, physPages: 0x68, run0: 0x6C, maxRuns: (700 - 8) / 8,
		context: 0x320, exception: 0x7D0, dumpType: 0xF88, fields: 0xF8C, product: 0xF94,
		attributes: 0x8A0, bootID: 0x8A4, uptime: 0xFB8, systemTime: 0xFC0,
		triageSize: 0x68, driverStride: 0x4C, unloadedFirst: 4, unloadedLen: 0x28,
	}
)

// TRIAGE_DUMP_* flags of MiniDumpFields: which parts a small memory dump holds.
const (
	triageContext      = 0x1
	triageStack        = 0x20
	triageDriverList   = 0x40
	triageDebuggerData = 0x400
	triageDataBlocks   = 0x800
)

// buf is a bounds-checked little-endian view of bytes already read; out-of-range reads give 0.
type buf []byte

func (b buf) u16(off int) uint16 {
	if off < 0 || off+2 > len(b) {
		return 0
	}
	return le.Uint16(b[off:])
}

func (b buf) u32(off int) uint32 {
	if off < 0 || off+4 > len(b) {
		return 0
	}
	return le.Uint32(b[off:])
}

func (b buf) u64(off int) uint64 {
	if off < 0 || off+8 > len(b) {
		return 0
	}
	return le.Uint64(b[off:])
}

// ptr reads a pointer-sized field.
func (b buf) ptr(off, size int) uint64 {
	if size == 8 {
		return b.u64(off)
	}
	return uint64(b.u32(off))
}

func readKernel(s *src, is64 bool) (*Dump, error) {
	L, format := layout32, FormatKernel32
	if is64 {
		L, format = layout64, FormatKernel64
	}
	if s.size < int64(L.headerSize) {
		return nil, fmt.Errorf("%w: file is %d bytes, shorter than the 0x%x-byte %s header", ErrTruncated, s.size, L.headerSize, format)
	}
	raw, err := s.read(0, L.headerSize, "kernel dump header")
	if err != nil {
		return nil, err
	}
	h := buf(raw)
	d := &Dump{Format: format, is64: is64}
	d.Checked = h.u32(L.major) == 0xC
	if b := h.u32(L.minor); b != pageFill32 && b < 1_000_000 {
		d.Build = int(b)
	}
	d.DirectoryBase = h.ptr(L.dirBase, L.ptr)
	d.PsLoadedModules = h.ptr(L.psLoaded, L.ptr)
	d.KdDebuggerData = h.ptr(L.kdbg, L.ptr)
	d.Machine = h.u32(L.machine)
	d.Arch = machineArch(d.Machine)
	if n := h.u32(L.nproc); n != pageFill32 && n <= 1<<16 {
		d.Processors = int(n)
	}
	d.BugcheckCode = h.u32(L.code)
	for i := range d.BugcheckParams {
		d.BugcheckParams[i] = h.ptr(L.args+i*L.ptr, L.ptr)
	}
	d.DumpTypeCode = h.u32(L.dumpType)
	d.SystemTime = fileTime(h.u64(L.systemTime))
	if up := h.u64(L.uptime); up != pageFill64 && up < math.MaxInt64/100 {
		d.Uptime = durationOf100ns(up)
	}
	d.MiniDumpFields = h.u32(L.fields)
	if p := h.u32(L.product); p != pageFill32 {
		d.ProductType = p
	}
	if a := h.u32(L.attributes); a != pageFill32 {
		d.Attributes, d.HasAttributes = a, true
	}
	if b := h.u32(L.bootID); b != pageFill32 {
		d.BootID, d.HasBootID = b, true
	}
	d.Exception = kernelException(h, L)

	var tail error // a truncation found after the header was understood
	switch d.DumpTypeCode {
	case 1:
		d.DumpType = "full"
		tail = checkFull(s, d, h, L)
	case 2:
		d.DumpType = "summary"
	case 3:
		d.DumpType = "header"
	case 4:
		d.DumpType = "triage"
		if err := readTriage(s, d, h, L); err != nil {
			return partial(d, err)
		}
	case 5, 6:
		tail = checkBitmap(s, d, L)
	case 7:
		d.DumpType = "automatic"
	case 8, 9, 10:
		d.DumpType = [...]string{"rdmp kernel", "rdmp kernel+active", "rdmp full"}[d.DumpTypeCode-8]
		tail = checkRDMP(s, L)
	case pageFill32:
		return partial(d, fmt.Errorf("%w: the header was never finalized (DumpType still holds the PAGE fill)", ErrTruncated))
	default:
		return nil, fmt.Errorf("%w: unknown kernel DumpType 0x%x", ErrCorrupt, d.DumpTypeCode)
	}
	if tail != nil {
		return partial(d, tail)
	}
	if !d.HasContext {
		d.ContextPC, d.ContextSP, d.HasContext = contextRegs(h, L.context, d.Machine)
	}
	if d.HasAttributes && d.Attributes&AttrEncryptedDumpData != 0 && d.Attributes&AttrDecryptedDump == 0 {
		d.Warnings = append(d.Warnings, "memory pages are encrypted (EncryptedDumpData)")
	}
	if d.HasAttributes && d.Attributes&AttrInsufficientSize != 0 {
		return d, fmt.Errorf("%w: Windows marked the dump as cut short (InsufficientDumpfileSize: the page file was too small)", ErrTruncated)
	}
	return d, nil
}

// partial returns the header's Dump with a truncation error (the bugcheck is still worth
// reporting) and nothing with any other error.
func partial(d *Dump, err error) (*Dump, error) {
	if isTruncated(err) {
		d.Drivers, d.UnloadedDrivers, d.Stack = nil, nil, nil
		return d, err
	}
	return nil, err
}

func durationOf100ns(v uint64) time.Duration { return time.Duration(v) * 100 }

func isTruncated(err error) bool { return errors.Is(err, ErrTruncated) }

func machineArch(m uint32) string {
	switch m {
	case 0x14C:
		return "x86"
	case 0x8664:
		return "x64"
	case 0x1C4, 0x1C0:
		return "arm"
	case 0xAA64:
		return "arm64"
	}
	return ""
}

func kernelException(h buf, L kernelLayout) *Exception {
	o := L.exception
	code := h.u32(o)
	if code == pageFill32 {
		return nil
	}
	e := &Exception{Code: code, Flags: h.u32(o + 4)}
	var n uint32
	var info int
	if L.ptr == 8 {
		e.Address, n, info = h.u64(o+0x10), h.u32(o+0x18), o+0x20
	} else {
		e.Address, n, info = uint64(h.u32(o+0xC)), h.u32(o+0x10), o+0x14
	}
	if n > 15 {
		n = 15
	}
	for i := range int(n) {
		e.Params = append(e.Params, h.ptr(info+i*L.ptr, L.ptr))
	}
	return e
}

// contextRegs reads the program counter and stack pointer from a CONTEXT record at off.
func contextRegs(h buf, off int, machine uint32) (pc, sp uint64, ok bool) {
	switch machine {
	case 0x8664:
		pc, sp = h.u64(off+0xF8), h.u64(off+0x98)
	case 0xAA64:
		pc, sp = h.u64(off+0x108), h.u64(off+0x100)
	case 0x14C:
		pc, sp = uint64(h.u32(off+0xB8)), uint64(h.u32(off+0xC4))
	case 0x1C4, 0x1C0:
		// Bit 0 of the ARM PC is the Thumb state, not part of the address.
		pc, sp = uint64(h.u32(off+0x40))&^1, uint64(h.u32(off+0x38))
	default:
		return 0, 0, false
	}
	if pc == 0 || pc == pageFill32 || pc == pageFill64 {
		return 0, 0, false
	}
	return pc, sp, true
}

// checkFull checks an old-style complete dump: the physical memory runs must add up and the
// pages must all be in the file.
func checkFull(s *src, d *Dump, h buf, L kernelLayout) error {
	runs := h.u32(L.physRuns)
	pages := h.ptr(L.physPages, L.ptr)
	if runs == pageFill32 || runs > uint32(L.maxRuns) {
		return fmt.Errorf("%w: full dump with %d physical memory runs", ErrCorrupt, runs)
	}
	var sum uint64
	for i := range int(runs) {
		c := h.ptr(L.run0+i*2*L.ptr+L.ptr, L.ptr)
		if sum+c < sum {
			return fmt.Errorf("%w: physical memory run sizes overflow", ErrCorrupt)
		}
		sum += c
	}
	if sum != pages {
		return fmt.Errorf("%w: physical memory runs hold %d pages, header says %d", ErrCorrupt, sum, pages)
	}
	d.PagesPresent = pages
	return needPages(s, uint64(L.headerSize), pages, "full dump")
}

// needPages checks that pages of 4 KiB starting at first are inside the file.
func needPages(s *src, first, pages uint64, what string) error {
	if pages > (math.MaxInt64-first)/4096 {
		return fmt.Errorf("%w: %s claims %d pages", ErrCorrupt, what, pages)
	}
	if want := first + pages*4096; want > uint64(s.size) {
		return fmt.Errorf("%w: %s needs %d bytes (%d pages from 0x%x), the file has %d", ErrTruncated, what, want, pages, first, s.size)
	}
	return nil
}

// checkBitmap checks a Windows 8+ bitmap dump (MEMORY.DMP): its SDMP/FDMP header and that
// the present pages are all in the file.
func checkBitmap(s *src, d *Dump, L kernelLayout) error {
	raw, err := s.read(int64(L.headerSize), 0x38, "bitmap dump header")
	if err != nil {
		return err
	}
	b := buf(raw)
	switch {
	case hasPrefix(b, "SDMP"):
		d.DumpType = "bitmap kernel"
	case hasPrefix(b, "FDMP"):
		d.DumpType = "bitmap complete"
	default:
		return fmt.Errorf("%w: bitmap dump header signature %q", ErrCorrupt, printable(b[:4]))
	}
	if string(b[4:8]) != "DUMP" {
		return fmt.Errorf("%w: bitmap dump header is not marked valid", ErrCorrupt)
	}
	if d.DumpTypeCode == 6 {
		d.DumpType += " (live)"
	}
	first, pages, bits := b.u64(0x20), b.u64(0x28), b.u64(0x30)
	start := uint64(L.headerSize) + 0x38
	if first < start {
		return fmt.Errorf("%w: bitmap dump pages start at 0x%x, inside the headers", ErrCorrupt, first)
	}
	if bits < pages {
		return fmt.Errorf("%w: bitmap dump has %d pages present but a bitmap of %d bits", ErrCorrupt, pages, bits)
	}
	if bits/8 > first-start {
		d.Warnings = append(d.Warnings, fmt.Sprintf("bitmap of %d bits does not fit before the first page at 0x%x", bits, first))
	}
	d.PagesPresent = pages
	return needPages(s, first, pages, "bitmap dump")
}

// checkRDMP checks the header of a WinDbg-written (.dump /k, /ka, /f) dump.
func checkRDMP(s *src, L kernelLayout) error {
	raw, err := s.read(int64(L.headerSize), 0x20, "RDMP header")
	if err != nil {
		return err
	}
	b := buf(raw)
	if string(b[4:8]) != "RDMP" || string(b[8:12]) != "DUMP" {
		return fmt.Errorf("%w: RDMP header signature %q", ErrCorrupt, printable(b[4:12]))
	}
	if first := b.u64(0x18); first > uint64(s.size) {
		return fmt.Errorf("%w: RDMP pages start at 0x%x, past the end of the file (%d bytes)", ErrTruncated, first, s.size)
	}
	return nil
}

// readTriage reads the TRIAGE_DUMP that follows the header of a small memory dump and what it
// points to: drivers, unloaded drivers, the crashing thread's stack, NtBuildLab.
func readTriage(s *src, d *Dump, h buf, L kernelLayout) error {
	hs := int64(L.headerSize)
	raw, err := s.read(hs, L.triageSize, "triage header")
	if err != nil {
		return err
	}
	t := buf(raw)
	sizeOfDump := int64(t.u32(0x04))
	valid := int64(t.u32(0x08))
	ctxOff := int64(t.u32(0x0C))
	unloadedOff := int64(t.u32(0x18))
	stackOff, stackLen := int64(t.u32(0x28)), t.u32(0x2C)
	driversOff, driverCount := int64(t.u32(0x30)), t.u32(0x34)
	poolOff, poolSize := int64(t.u32(0x38)), t.u32(0x3C)
	var dbgOff, blocksOff int64
	var dbgSize, blockCount uint32
	if L.ptr == 8 {
		d.StackTop = t.u64(0x48)
		dbgOff, dbgSize, blocksOff, blockCount = int64(t.u32(0x70)), t.u32(0x74), int64(t.u32(0x78)), t.u32(0x7C)
	} else {
		d.StackTop = uint64(t.u32(0x48))
		dbgOff, dbgSize, blocksOff, blockCount = int64(t.u32(0x58)), t.u32(0x5C), int64(t.u32(0x60)), t.u32(0x64)
	}

	end := hs + int64(L.triageSize)
	if sizeOfDump < end+4 {
		return fmt.Errorf("%w: triage SizeOfDump 0x%x is smaller than its headers", ErrCorrupt, sizeOfDump)
	}
	if sizeOfDump > s.size {
		return fmt.Errorf("%w: small memory dump says it is %d bytes, the file has %d", ErrTruncated, sizeOfDump, s.size)
	}
	if valid < end || valid > sizeOfDump-4 {
		return fmt.Errorf("%w: triage ValidOffset 0x%x outside the dump", ErrCorrupt, valid)
	}
	marker, err := s.readWithin(valid, 4, sizeOfDump, "triage validity marker")
	if err != nil {
		return err
	}
	if string(marker) != "TRGD" {
		return fmt.Errorf("%w: triage validity marker TRGD missing at 0x%x", ErrTruncated, valid)
	}
	lim := sizeOfDump
	fields := d.MiniDumpFields
	if fields == pageFill32 {
		fields = 0xFFFF
	}

	if fields&triageContext != 0 && ctxOff > 0 && ctxOff < hs {
		d.ContextPC, d.ContextSP, d.HasContext = contextRegs(h, int(ctxOff), d.Machine)
	}

	var pool buf
	if poolSize > 0 {
		if poolSize > maxStringPool {
			return fmt.Errorf("%w: string pool of %d bytes", ErrCorrupt, poolSize)
		}
		if pool, err = s.readWithin(poolOff, int(poolSize), lim, "driver name pool"); err != nil {
			return err
		}
	}
	if fields&triageDriverList != 0 && driverCount > 0 {
		if driverCount > maxDrivers {
			return fmt.Errorf("%w: %d drivers in the driver list (at most %d)", ErrCorrupt, driverCount, maxDrivers)
		}
		raw, err := s.readWithin(driversOff, int(driverCount)*L.driverStride, lim, "driver list")
		if err != nil {
			return err
		}
		list := buf(raw)
		d.Drivers = make([]Module, 0, driverCount)
		for i := range int(driverCount) {
			e := i * L.driverStride
			m := Module{}
			if L.ptr == 8 {
				m.Base, m.Size, m.Checksum, m.Timestamp = list.u64(e+0x38), list.u32(e+0x48), list.u32(e+0x80), list.u32(e+0x88)
			} else {
				m.Base, m.Size, m.Checksum, m.Timestamp = uint64(list.u32(e+0x1C)), list.u32(e+0x24), list.u32(e+0x44), list.u32(e+0x48)
			}
			name, err := dumpString(s, int64(list.u32(e)), lim, pool, poolOff)
			if err != nil {
				return fmt.Errorf("driver %d name: %w", i, err)
			}
			m.Path = name
			d.Drivers = append(d.Drivers, m)
		}
	}

	if unloadedOff > 0 {
		if err := readUnloaded(s, d, unloadedOff, lim, L); err != nil {
			return err
		}
	}

	if fields&triageStack != 0 && stackLen > 0 {
		if stackLen > maxStack {
			return fmt.Errorf("%w: stack of %d bytes", ErrCorrupt, stackLen)
		}
		if d.Stack, err = s.readWithin(stackOff, int(stackLen), lim, "call stack"); err != nil {
			return err
		}
	}

	if fields&triageDebuggerData != 0 && fields&triageDataBlocks != 0 && dbgOff > 0 && dbgSize >= 0x210 && blockCount > 0 {
		if blockCount > maxDataBlocks {
			return fmt.Errorf("%w: %d data blocks", ErrCorrupt, blockCount)
		}
		lab, err := ntBuildLab(s, dbgOff, blocksOff, blockCount, lim, L.ptr == 4)
		if err != nil {
			return err
		}
		d.NtBuildLab = lab
	}
	return nil
}

// dumpString reads a DUMP_STRING (u32 length in UTF-16 units, the units, a NUL) at off,
// from the already-read string pool when it lies there.
func dumpString(s *src, off, lim int64, pool buf, poolOff int64) (string, error) {
	var b buf
	if off >= poolOff && off+4 <= poolOff+int64(len(pool)) {
		b = pool[off-poolOff:]
	} else {
		raw, err := s.readWithin(off, 4, lim, "driver name")
		if err != nil {
			return "", err
		}
		n := le.Uint32(raw)
		if n > maxNameChars {
			return "", fmt.Errorf("%w: name of %d characters at 0x%x", ErrCorrupt, n, off)
		}
		if raw, err = s.readWithin(off, 4+2*int(n), lim, "driver name"); err != nil {
			return "", err
		}
		b = raw
	}
	n := b.u32(0)
	if n > maxNameChars || 4+2*int(n) > len(b) {
		return "", fmt.Errorf("%w: name of %d characters at 0x%x runs out of its table", ErrCorrupt, n, off)
	}
	return utf16String(b[4 : 4+2*int(n)]), nil
}

func utf16String(b []byte) string {
	// Fast path: driver and module names are nearly always ASCII.
	ascii := make([]byte, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := le.Uint16(b[i:])
		if c == 0 {
			return string(ascii)
		}
		if c >= 0x80 {
			ascii = nil
			break
		}
		ascii = append(ascii, byte(c))
	}
	if ascii != nil {
		return string(ascii)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = le.Uint16(b[2*i:])
	}
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	return string(utf16.Decode(u))
}

func readUnloaded(s *src, d *Dump, off, lim int64, L kernelLayout) error {
	raw, err := s.readWithin(off, 4, lim, "unloaded driver count")
	if err != nil {
		return err
	}
	n := le.Uint32(raw)
	if n == 0 {
		return nil
	}
	if n > maxUnloaded {
		return fmt.Errorf("%w: %d unloaded drivers", ErrCorrupt, n)
	}
	raw, err = s.readWithin(off+int64(L.unloadedFirst), int(n)*L.unloadedLen, lim, "unloaded driver list")
	if err != nil {
		return err
	}
	b := buf(raw)
	for i := range int(n) {
		e := i * L.unloadedLen
		var u Unloaded
		var nameAt int
		nameLen := int(b.u16(e)) / 2 // UNICODE_STRING.Length is in bytes
		if L.ptr == 8 {
			nameAt, u.Start, u.End = e+0x10, b.u64(e+0x28), b.u64(e+0x30)
		} else {
			nameAt, u.Start, u.End = e+0x8, uint64(b.u32(e+0x20)), uint64(b.u32(e+0x24))
		}
		if nameLen > 12 {
			nameLen = 12
		}
		u.Name = utf16String(b[nameAt : nameAt+2*nameLen])
		d.UnloadedDrivers = append(d.UnloadedDrivers, u)
	}
	return nil
}

// ntBuildLab finds NtBuildLab: the KDBG copy holds its virtual address, the data blocks map
// kernel addresses to file offsets.
func ntBuildLab(s *src, dbgOff, blocksOff int64, count uint32, lim int64, is32 bool) (string, error) {
	raw, err := s.readWithin(dbgOff, 0x210, lim, "debugger data")
	if err != nil {
		return "", err
	}
	k := buf(raw)
	if string(k[0x10:0x14]) != "KDBG" {
		return "", nil // not decoded: no build lab, nothing wrong with the dump itself
	}
	va := k.u64(0x208)
	raw, err = s.readWithin(blocksOff, int(count)*16, lim, "data blocks")
	if err != nil {
		return "", err
	}
	blocks := buf(raw)
	for _, want := range []uint64{va, uint64(int64(int32(uint32(va))))} {
		for i := range int(count) {
			addr, off, size := blocks.u64(i*16), int64(blocks.u32(i*16+8)), uint64(blocks.u32(i*16+12))
			if is32 && want != va {
				addr = uint64(int64(int32(uint32(addr))))
			}
			if want < addr || want-addr >= size {
				continue
			}
			n := size - (want - addr)
			if n > 128 {
				n = 128
			}
			str, err := s.readWithin(off+int64(want-addr), int(n), lim, "NtBuildLab")
			if err != nil {
				return "", err
			}
			for j, c := range str {
				if c == 0 {
					str = str[:j]
					break
				}
				if c < 0x20 || c > 0x7e {
					return "", nil
				}
			}
			return string(str), nil
		}
		if !is32 {
			break
		}
	}
	return "", nil
}
