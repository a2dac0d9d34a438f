package dumpfile

import (
	"fmt"
	"math"
	"time"
)

// Minidump stream types that are read.
const (
	streamThreadList   = 3
	streamModuleList   = 4
	streamMemoryList   = 5
	streamException    = 6
	streamSystemInfo   = 7
	streamMemory64List = 9
	streamMiscInfo     = 15
)

const (
	minidumpHeaderSize = 32
	moduleEntrySize    = 108
)

type location struct {
	size uint32
	rva  uint32
}

func readMinidump(s *src) (*Dump, error) {
	if s.size < minidumpHeaderSize {
		return nil, fmt.Errorf("%w: file is %d bytes, shorter than the minidump header", ErrTruncated, s.size)
	}
	raw, err := s.read(0, minidumpHeaderSize, "minidump header")
	if err != nil {
		return nil, err
	}
	h := buf(raw)
	if h.u16(4) != 0xA793 {
		return nil, fmt.Errorf("%w: MDMP with unknown version 0x%x", ErrNotWindowsDump, h.u32(4))
	}
	n, dirRVA := h.u32(8), int64(h.u32(12))
	d := &Dump{Format: FormatMinidump, DumpType: "minidump", MinidumpFlags: h.u64(0x18)}
	d.MiniDumpFields = uint32(d.MinidumpFlags)
	if ts := h.u32(0x14); ts != 0 {
		d.SystemTime = time.Unix(int64(ts), 0).UTC()
	}
	if n > 0 && dirRVA < minidumpHeaderSize {
		return nil, fmt.Errorf("%w: stream directory at 0x%x overlaps the header", ErrCorrupt, dirRVA)
	}
	if int64(n)*12 > s.size-dirRVA || dirRVA > s.size {
		return nil, fmt.Errorf("%w: stream directory (%d entries at 0x%x) runs past the end of the file (%d bytes)", ErrTruncated, n, dirRVA, s.size)
	}
	if n > maxStreams {
		return nil, fmt.Errorf("%w: %d streams", ErrCorrupt, n)
	}
	raw, err = s.read(dirRVA, int(n)*12, "stream directory")
	if err != nil {
		return nil, err
	}
	dir := buf(raw)
	streams := map[uint32]location{}
	for i := range int(n) {
		typ, loc := dir.u32(i*12), location{size: dir.u32(i*12 + 4), rva: dir.u32(i*12 + 8)}
		if typ == 0 {
			continue // unused entries pad the directory
		}
		if int64(loc.rva)+int64(loc.size) > s.size {
			return nil, fmt.Errorf("%w: stream %d (type 0x%x, %d bytes at 0x%x) runs past the end of the file (%d bytes)", ErrTruncated, i, typ, loc.size, loc.rva, s.size)
		}
		if _, dup := streams[typ]; !dup {
			streams[typ] = loc
		}
	}

	if loc, ok := streams[streamSystemInfo]; ok {
		if err := readSystemInfo(s, d, loc); err != nil {
			return nil, err
		}
	}
	if loc, ok := streams[streamMemory64List]; ok {
		if err := checkMemory64(s, loc); err != nil {
			return nil, err
		}
	}
	if loc, ok := streams[streamMemoryList]; ok {
		if err := checkMemoryList(s, loc); err != nil {
			return nil, err
		}
	}
	if loc, ok := streams[streamException]; ok {
		if d.Exception, err = readException(s, loc); err != nil {
			return nil, err
		}
		if ctx, ok := contextLocation(s, loc); ok {
			raw, err := s.read(int64(ctx.rva), int(ctx.size), "exception context")
			if err != nil {
				return nil, err
			}
			d.ContextPC, d.ContextSP, d.HasContext = contextRegs(raw, 0, minidumpMachine(d.Machine, ctx.size))
		}
	}
	if loc, ok := streams[streamModuleList]; ok {
		if d.Modules, err = readModules(s, loc); err != nil {
			return nil, err
		}
	}
	if loc, ok := streams[streamThreadList]; ok && loc.size >= 4 {
		raw, err := s.read(int64(loc.rva), 4, "thread list")
		if err != nil {
			return nil, err
		}
		if c := le.Uint32(raw); uint64(c)*48 <= uint64(loc.size-4) {
			d.ThreadCount = int(c)
		} else {
			return nil, fmt.Errorf("%w: thread list of %d threads in %d bytes", ErrCorrupt, c, loc.size)
		}
	}
	if loc, ok := streams[streamMiscInfo]; ok && loc.size >= 24 {
		raw, err := s.read(int64(loc.rva), 24, "misc info")
		if err != nil {
			return nil, err
		}
		m := buf(raw)
		if m.u32(4)&1 != 0 {
			d.ProcessID, d.HasProcessID = m.u32(8), true
		}
	}
	return d, nil
}

// readSystemInfo reads MINIDUMP_SYSTEM_INFO; a minidump of another OS is not a Windows dump.
func readSystemInfo(s *src, d *Dump, loc location) error {
	if loc.size < 0x20 {
		return fmt.Errorf("%w: system info stream of %d bytes", ErrCorrupt, loc.size)
	}
	raw, err := s.read(int64(loc.rva), 0x20, "system info")
	if err != nil {
		return err
	}
	b := buf(raw)
	d.PlatformID = b.u32(0x14)
	switch d.PlatformID {
	case 0, 1, 2: // Win32s, Windows 9x, Windows NT
	default:
		return fmt.Errorf("%w: minidump from %s", ErrNotWindowsDump, platformName(d.PlatformID))
	}
	d.Machine = uint32(b.u16(0))
	d.Arch = processorArch(b.u16(0))
	d.is64 = d.Arch == "x64" || d.Arch == "arm64"
	d.Processors = int(raw[6])
	d.ProductType = uint32(raw[7])
	major, minor, build := b.u32(8), b.u32(0xC), b.u32(0x10)
	d.OSVersion = fmt.Sprintf("%d.%d.%d", major, minor, build)
	if build < 1_000_000 {
		d.Build = int(build)
	}
	if rva := b.u32(0x18); rva != 0 {
		csd, err := minidumpString(s, int64(rva))
		if err != nil {
			return fmt.Errorf("service pack name: %w", err)
		}
		d.CSDVersion = csd
	}
	return nil
}

func platformName(id uint32) string {
	switch id {
	case 0x8101:
		return "macOS"
	case 0x8102:
		return "iOS"
	case 0x8201:
		return "Linux"
	case 0x8202:
		return "Solaris"
	case 0x8203:
		return "Android"
	case 0x8204:
		return "PS3"
	case 0x8205:
		return "NaCl"
	case 0x8206:
		return "Fuchsia"
	}
	return fmt.Sprintf("platform 0x%x", id)
}

func processorArch(a uint16) string {
	switch a {
	case 0:
		return "x86"
	case 5:
		return "arm"
	case 9:
		return "x64"
	case 12:
		return "arm64"
	}
	return ""
}

// minidumpMachine maps a processor architecture and context size to the machine type that
// contextRegs understands.
func minidumpMachine(arch uint32, ctxSize uint32) uint32 {
	switch arch {
	case 0:
		if ctxSize >= 0xC8 {
			return 0x14C
		}
	case 9:
		if ctxSize >= 0x100 {
			return 0x8664
		}
	case 5:
		if ctxSize >= 0x44 {
			return 0x1C4
		}
	case 12:
		if ctxSize >= 0x110 {
			return 0xAA64
		}
	}
	return 0
}

// minidumpString reads a MINIDUMP_STRING: u32 length in bytes, then UTF-16LE.
func minidumpString(s *src, rva int64) (string, error) {
	raw, err := s.read(rva, 4, "string")
	if err != nil {
		return "", err
	}
	n := le.Uint32(raw)
	if n > maxMinidumpStringBytes {
		return "", fmt.Errorf("%w: string of %d bytes at 0x%x", ErrCorrupt, n, rva)
	}
	raw, err = s.read(rva+4, int(n&^1), "string")
	if err != nil {
		return "", err
	}
	return utf16String(raw), nil
}

func readException(s *src, loc location) (*Exception, error) {
	if loc.size < 0xA0 {
		return nil, fmt.Errorf("%w: exception stream of %d bytes", ErrCorrupt, loc.size)
	}
	raw, err := s.read(int64(loc.rva), 0xA0, "exception stream")
	if err != nil {
		return nil, err
	}
	b := buf(raw)
	e := &Exception{ThreadID: b.u32(0), Code: b.u32(8), Flags: b.u32(0xC), Address: b.u64(0x18)}
	n := b.u32(0x20)
	if n > 15 {
		n = 15
	}
	for i := range int(n) {
		e.Params = append(e.Params, b.u64(0x28+8*i))
	}
	return e, nil
}

// contextLocation returns the exception thread's context when it is inside the file.
func contextLocation(s *src, exc location) (location, bool) {
	if exc.size < 0xA8 {
		return location{}, false
	}
	raw, err := s.read(int64(exc.rva)+0xA0, 8, "exception context location")
	if err != nil {
		return location{}, false
	}
	l := location{size: le.Uint32(raw), rva: le.Uint32(raw[4:])}
	if l.size == 0 || l.size > 0x10000 || int64(l.rva)+int64(l.size) > s.size {
		return location{}, false
	}
	return l, true
}

func readModules(s *src, loc location) ([]Module, error) {
	if loc.size < 4 {
		return nil, fmt.Errorf("%w: module list stream of %d bytes", ErrCorrupt, loc.size)
	}
	raw, err := s.read(int64(loc.rva), 4, "module list")
	if err != nil {
		return nil, err
	}
	n := le.Uint32(raw)
	if n > maxModules || uint64(n)*moduleEntrySize > uint64(loc.size-4) {
		return nil, fmt.Errorf("%w: module list of %d modules in %d bytes", ErrCorrupt, n, loc.size)
	}
	first := int64(loc.rva) + 4
	if uint64(loc.size) == 8+uint64(n)*moduleEntrySize {
		first += 4 // some writers pad after the count
	}
	raw, err = s.read(first, int(n)*moduleEntrySize, "module list")
	if err != nil {
		return nil, err
	}
	b := buf(raw)
	mods := make([]Module, 0, n)
	for i := range int(n) {
		e := i * moduleEntrySize
		m := Module{Base: b.u64(e), Size: b.u32(e + 8), Checksum: b.u32(e + 0xC), Timestamp: b.u32(e + 0x10)}
		if b.u32(e+0x18) == 0xFEEF04BD {
			m.FileVersion = fourPart(b.u32(e+0x20), b.u32(e+0x24))
			m.ProductVersion = fourPart(b.u32(e+0x28), b.u32(e+0x2C))
		}
		if m.Path, err = minidumpString(s, int64(b.u32(e+0x14))); err != nil {
			return nil, fmt.Errorf("module %d name: %w", i, err)
		}
		mods = append(mods, m)
	}
	return mods, nil
}

func fourPart(ms, ls uint32) string {
	return fmt.Sprintf("%d.%d.%d.%d", ms>>16, ms&0xFFFF, ls>>16, ls&0xFFFF)
}

// checkMemory64 checks that the full-memory ranges of a Memory64List are inside the file.
func checkMemory64(s *src, loc location) error {
	if loc.size < 16 {
		return fmt.Errorf("%w: Memory64List of %d bytes", ErrCorrupt, loc.size)
	}
	raw, err := s.read(int64(loc.rva), 16, "Memory64List")
	if err != nil {
		return err
	}
	n, base := le.Uint64(raw), le.Uint64(raw[8:])
	if n > uint64(loc.size-16)/16 {
		return fmt.Errorf("%w: Memory64List claims %d ranges in a %d-byte stream", ErrTruncated, n, loc.size)
	}
	raw, err = s.read(int64(loc.rva)+16, int(n)*16, "Memory64List")
	if err != nil {
		return err
	}
	total := base
	for i := range int(n) {
		sz := le.Uint64(raw[i*16+8:])
		if sz > math.MaxInt64-total {
			return fmt.Errorf("%w: Memory64List ranges claim more than 2^63 bytes", ErrTruncated)
		}
		total += sz
	}
	if total > uint64(s.size) {
		return fmt.Errorf("%w: memory ranges end at 0x%x, past the end of the file (%d bytes)", ErrTruncated, total, s.size)
	}
	return nil
}

// checkMemoryList checks that the memory ranges of a MemoryList are inside the file.
func checkMemoryList(s *src, loc location) error {
	if loc.size < 4 {
		return fmt.Errorf("%w: MemoryList of %d bytes", ErrCorrupt, loc.size)
	}
	raw, err := s.read(int64(loc.rva), 4, "MemoryList")
	if err != nil {
		return err
	}
	n := le.Uint32(raw)
	first := int64(loc.rva) + 4
	if uint64(n)*16 > uint64(loc.size-4) {
		return fmt.Errorf("%w: MemoryList claims %d ranges in a %d-byte stream", ErrTruncated, n, loc.size)
	}
	if uint64(loc.size) == 8+uint64(n)*16 {
		first += 4
	}
	raw, err = s.read(first, int(n)*16, "MemoryList")
	if err != nil {
		return err
	}
	b := buf(raw)
	for i := range int(n) {
		size, rva := int64(b.u32(i*16+8)), int64(b.u32(i*16+12))
		if rva+size > s.size {
			return fmt.Errorf("%w: memory range %d (%d bytes at 0x%x) runs past the end of the file (%d bytes)", ErrTruncated, i, size, rva, s.size)
		}
	}
	return nil
}
