package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// The EVTX layout (facts from the libevtx format notes and the Windows samples): a 4096-byte
// file header, then 64 KiB chunks. Each chunk has a 128-byte header, a 256-byte table of
// common strings and a 128-byte table of templates, then event records from offset 512 up to
// the chunk's free-space offset. Multi-byte values are little-endian.
const (
	fileHeaderSize  = 4096
	chunkSize       = 64 << 10
	chunkHeaderSize = 128
	chunkDataStart  = 512 // records begin here
	recordHeader    = 24  // magic, size, record id, written time
	recordMin       = recordHeader + 4
)

var (
	fileMagic  = []byte("ElfFile\x00")
	chunkMagic = []byte("ElfChnk\x00")
)

// Errors a caller can test for with errors.Is.
var (
	// ErrNotEVTX: the input holds neither an EVTX file header nor a chunk at its place.
	ErrNotEVTX = errors.New("not an EVTX event log")
)

// Header is what the file header says. It is written when the EventLog service flushes or
// closes the file, so on a live log it lags the chunks: the reader never trusts it and only
// reports it.
type Header struct {
	Valid      bool   // the signature and checksum are right
	Dirty      bool   // flag 0x1: the file was open for writing (a live or crashed log)
	Full       bool   // flag 0x2: the log has wrapped
	NextRecord uint64 // the next record id the header claims
	Chunks     int    // the chunk count the header claims
	Major      uint16
	Minor      uint16
}

func parseFileHeader(b []byte) (Header, bool) {
	if len(b) < 128 || string(b[:8]) != string(fileMagic) {
		return Header{}, false
	}
	le := binary.LittleEndian
	h := Header{
		NextRecord: le.Uint64(b[24:]),
		Minor:      le.Uint16(b[36:]),
		Major:      le.Uint16(b[38:]),
		Chunks:     int(le.Uint16(b[42:])),
	}
	flags := le.Uint32(b[120:])
	h.Dirty, h.Full = flags&1 != 0, flags&2 != 0
	h.Valid = crc32.ChecksumIEEE(b[:120]) == le.Uint32(b[124:])
	return h, true
}

// chunkHead is a chunk header whose checksum verified.
type chunkHead struct {
	firstRecord uint64 // first event record id
	lastRecord  uint64 // last event record id
	freeSpace   uint32 // end of the records
	dataCRC     uint32
}

// chunkState says what a chunk slot holds.
type chunkState int

const (
	chunkOK     chunkState = iota
	chunkEmpty             // all zeros: never written (preallocated) or wiped
	chunkNoSig             // bytes, but no chunk signature
	chunkBadSum            // signature, but the header checksum fails
	chunkBadHdr            // checksum right, values impossible
)

// parseChunkHeader checks the signature and the header checksum (CRC32 of bytes 0–120 and
// 128–512) of the first 512 bytes of a chunk.
func parseChunkHeader(b []byte) (chunkHead, chunkState) {
	if len(b) < chunkDataStart {
		return chunkHead{}, chunkNoSig
	}
	if string(b[:8]) != string(chunkMagic) {
		if allZero(b[:chunkDataStart]) {
			return chunkHead{}, chunkEmpty
		}
		return chunkHead{}, chunkNoSig
	}
	le := binary.LittleEndian
	sum := crc32.Update(crc32.ChecksumIEEE(b[:120]), crc32.IEEETable, b[128:chunkDataStart])
	if sum != le.Uint32(b[124:]) {
		return chunkHead{}, chunkBadSum
	}
	h := chunkHead{
		firstRecord: le.Uint64(b[24:]),
		lastRecord:  le.Uint64(b[32:]),
		freeSpace:   le.Uint32(b[48:]),
		dataCRC:     le.Uint32(b[52:]),
	}
	if h.freeSpace < chunkDataStart || h.freeSpace > chunkSize || h.lastRecord < h.firstRecord {
		return h, chunkBadHdr
	}
	return h, chunkOK
}

// dataOK checks the event-records checksum: CRC32 of bytes 512 up to the free-space offset.
func (h chunkHead) dataOK(b []byte) bool {
	if len(b) < int(h.freeSpace) {
		return false
	}
	return crc32.ChecksumIEEE(b[chunkDataStart:h.freeSpace]) == h.dataCRC
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// record is one event record inside a chunk.
type record struct {
	id      uint64
	written time.Time
	start   int // offset of the binary XML in the chunk
	end     int
}

// records walks the records of a verified chunk from offset 512 to the free-space offset.
// It stops at the first record whose signature or sizes are wrong and says why.
func records(b []byte, h chunkHead, yield func(record) bool) error {
	le := binary.LittleEndian
	end := int(h.freeSpace)
	for p := chunkDataStart; p+recordMin <= end; {
		if le.Uint32(b[p:]) != 0x00002a2a {
			return fmt.Errorf("record at chunk offset %d: no record signature", p)
		}
		size := int(le.Uint32(b[p+4:]))
		if size < recordMin || p+size > end || le.Uint32(b[p+size-4:]) != uint32(size) {
			return fmt.Errorf("record at chunk offset %d: bad size %d", p, size)
		}
		r := record{id: le.Uint64(b[p+8:]), written: filetime(le.Uint64(b[p+16:])), start: p + recordHeader, end: p + size - 4}
		if !yield(r) {
			return nil
		}
		p += size
	}
	return nil
}

// filetime converts 100-ns intervals since 1601-01-01 UTC.
func filetime(ft uint64) time.Time {
	if ft == 0 {
		return time.Time{}
	}
	const epochDiff = 116444736000000000 // 1601 → 1970 in 100 ns
	if ft < epochDiff {
		return time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(ft/10_000_000) * time.Second)
	}
	d := ft - epochDiff
	return time.Unix(int64(d/10_000_000), int64(d%10_000_000)*100).UTC()
}

// readFull reads len(p) bytes at off; a short read at the end of the input returns what was
// read and io.ErrUnexpectedEOF.
func readFull(r io.ReaderAt, p []byte, off int64) (int, error) {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
