package eventlog

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sort"
	"time"
)

// Mark is what a reader remembers of one log between reads: the fetcher keeps one per host
// in its state. The zero Mark reads the whole log. Its JSON form is stable.
type Mark struct {
	// Record is the highest record id read (every record up to it has been looked at).
	Record uint64 `json:"record"`
	// First is the lowest record id the log held; a lower one later means it was cleared.
	First uint64 `json:"first"`
	// Size is the file size at that read.
	Size int64 `json:"size"`
	// Tail is the file offset of the chunk holding Record, TailSum a fingerprint of its
	// header; Next and NextSum the same for the chunk after it in ring order (it is where
	// the next records go once Tail is full). Tail 0 means the next read scans every chunk.
	Tail    int64  `json:"tail,omitempty"`
	TailSum uint64 `json:"tail_sum,omitempty"`
	Next    int64  `json:"next,omitempty"`
	NextSum uint64 `json:"next_sum,omitempty"`
	// Newest is the written time of record Record (the host's clock, which may jump): a
	// later read that finds that record with another time knows the log was replaced.
	Newest time.Time `json:"newest,omitzero"`
}

// Reset says that the log's record ids did not continue from the mark.
type Reset string

const (
	// ResetCleared: record ids went backwards (the log was cleared or replaced); the whole
	// log was read again.
	ResetCleared Reset = "cleared"
	// ResetRolledOver: the oldest record is newer than the mark + 1: the records in between
	// were overwritten (the log wrapped) before this read; they are lost (see Log.Lost).
	ResetRolledOver Reset = "rolled_over"
)

// Log is what one read found.
type Log struct {
	Header Header // what the file header claims (never trusted)
	// Events are the crash-related events with a record id above the mark, in record order.
	Events []Event
	// Mark is what to remember for the next read.
	Mark Mark
	// Unchanged is true when the chunk headers showed nothing new (the cheap check).
	Unchanged bool
	// Reset and Lost say when record ids did not continue from the mark; Lost is the range
	// of record ids lost to a roll-over, [from, to].
	Reset Reset
	Lost  [2]uint64
	// Warnings are one-line notes on damaged, torn or truncated parts: what could not be
	// read is said here, what could be read is in Events.
	Warnings []string
	Stats    Stats
}

// Stats count what a read did.
type Stats struct {
	Chunks      int    // chunk slots in the file
	ChunksRead  int    // chunks whose records were read
	Records     int    // records walked
	BadRecords  int    // records that could not be decoded
	Reads       int    // ReadAt calls
	BytesRead   int64  // bytes read
	FirstRecord uint64 // lowest and highest record ids in the chunk headers
	LastRecord  uint64
}

// Read reads every crash-related event of a saved log.
func Read(ctx context.Context, r io.ReaderAt, size int64) (*Log, error) {
	return ReadSince(ctx, r, size, Mark{})
}

// ReadSince reads what is new since a mark, from a log that may be written while it is read
// (a live System.evtx over SMB). The file header is not trusted: every 64 KiB chunk is
// found by its own header, whose checksum is verified; chunks whose last record id is at
// or below the mark are not read further. An unchanged log costs two 128-byte reads (the
// chunk holding the mark's record and the one after it). A chunk whose header or records
// checksum fails is read once more (it may have been caught mid-write), then skipped with
// a warning; a chunk skipped that way is not passed by the new mark when it holds the
// newest records, so its records come with the next read. The error is ErrNotEVTX (the
// input is not an event log), a read error, or ctx's.
func ReadSince(ctx context.Context, r io.ReaderAt, size int64, since Mark) (*Log, error) {
	s := &scan{ctx: ctx, r: r, size: size, log: &Log{}}
	if size < int64(len(fileMagic)) {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotEVTX, size)
	}
	if since.fastCheck(size) {
		same, err := s.unchanged(since)
		if err != nil {
			return nil, err
		}
		if same {
			s.log.Unchanged, s.log.Mark = true, since
			return s.log, nil
		}
	}
	return s.full(since)
}

type scan struct {
	ctx    context.Context
	r      io.ReaderAt
	size   int64
	log    *Log
	newest record // the record with the highest id walked
}

// slot is one chunk position in the file.
type slot struct {
	n       int
	off     int64
	head    chunkHead
	state   chunkState
	sum     uint64 // fingerprint of the first 128 bytes
	partial bool   // the file ends inside it
	data    []byte // the whole chunk, while it is needed
	good    bool   // its records were read and their checksum verified
}

func (m Mark) fastCheck(size int64) bool {
	return m.Record > 0 && m.Tail >= fileHeaderSize && m.Size == size
}

func fingerprint(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b[:min(len(b), chunkHeaderSize)])
	return h.Sum64()
}

func (s *scan) read(p []byte, off int64) (int, error) {
	s.log.Stats.Reads++
	n, err := readFull(s.r, p, off)
	s.log.Stats.BytesRead += int64(n)
	return n, err
}

// unchanged reads the 128-byte headers of the mark's tail chunk and the chunk after it.
func (s *scan) unchanged(m Mark) (bool, error) {
	var b [chunkHeaderSize]byte
	for _, c := range [][2]uint64{{uint64(m.Tail), m.TailSum}, {uint64(m.Next), m.NextSum}} {
		if c[0] == 0 {
			continue
		}
		if _, err := s.read(b[:], int64(c[0])); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return false, nil
			}
			return false, fmt.Errorf("read chunk header at %d: %w", c[0], err)
		}
		if fingerprint(b[:]) != c[1] {
			return false, nil
		}
	}
	return true, nil
}

func (s *scan) warn(f string, a ...any) {
	s.log.Warnings = append(s.log.Warnings, fmt.Sprintf(f, a...))
}

func (s *scan) full(since Mark) (*Log, error) {
	var hb [chunkHeaderSize]byte
	n, err := s.read(hb[:], 0)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read file header: %w", err)
	}
	h, ok := parseFileHeader(hb[:n])
	s.log.Header = h
	if !ok || !h.Valid {
		follows := false
		if s.size >= fileHeaderSize+int64(len(chunkMagic)) {
			var cb [8]byte
			_, err := s.read(cb[:], fileHeaderSize)
			follows = err == nil && string(cb[:]) == string(chunkMagic)
		}
		switch {
		case !follows && ok:
			return nil, fmt.Errorf("%w: the file header's checksum fails and no chunk follows it", ErrNotEVTX)
		case !follows:
			return nil, ErrNotEVTX
		}
		s.warn("the file header is damaged; reading the chunks without it")
	}
	slots := s.slots()
	s.log.Stats.Chunks = len(slots)
	if len(slots) == 0 {
		s.warn("the file ends after its header (%d bytes): no chunk to read", s.size)
		s.log.Mark = Mark{Size: s.size}
		return s.log, nil
	}
	// Pass 1: every chunk's header (the whole chunk at once when everything will be read).
	whole := since.Record == 0
	for i := range slots {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.loadHeader(&slots[i], whole); err != nil {
			return nil, err
		}
	}
	first, last := idRange(slots)
	s.log.Stats.FirstRecord, s.log.Stats.LastRecord = first, last
	if since.Record > 0 && last > 0 {
		switch {
		case last < since.Record || (since.First > 0 && first < since.First) || s.replaced(slots, since):
			s.log.Reset, since = ResetCleared, Mark{}
		case first > since.Record+1:
			s.log.Reset, s.log.Lost = ResetRolledOver, [2]uint64{since.Record + 1, first - 1}
		}
	}
	// Pass 2: the records of every chunk holding records above the mark.
	seen := map[uint64]bool{}
	damaged := false
	s.newest = record{id: since.Record, written: since.Newest}
	for i := range slots {
		sl := &slots[i]
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		switch sl.state {
		case chunkEmpty:
			continue
		case chunkNoSig:
			damaged = true
			s.warn("chunk %d (offset %d): no chunk signature; skipped", sl.n, sl.off)
			continue
		case chunkBadSum, chunkBadHdr:
			damaged = true
			s.warn("chunk %d (offset %d): header checksum fails after a re-read; skipped", sl.n, sl.off)
			continue
		}
		if sl.head.lastRecord <= since.Record {
			continue
		}
		ok, err := s.loadData(sl)
		if err != nil {
			return nil, err
		}
		if !ok {
			damaged = true
			what := "event records checksum fails after a re-read"
			if sl.partial {
				what = "the file ends inside it"
			}
			s.warn("chunk %d (offset %d, records %d–%d): %s; skipped", sl.n, sl.off, sl.head.firstRecord, sl.head.lastRecord, what)
			continue
		}
		s.log.Stats.ChunksRead++
		sl.good = true
		s.events(sl, since.Record, seen)
		sl.data = nil
	}
	sort.Slice(s.log.Events, func(i, j int) bool { return s.log.Events[i].Record < s.log.Events[j].Record })
	s.log.Mark = s.mark(slots, since, first, damaged)
	return s.log, nil
}

// replaced reports whether the mark's own record is in the log with another written time: a
// log cleared (ids restart at 1) and refilled past the mark before this read. It reads the
// chunk holding that record.
func (s *scan) replaced(slots []slot, m Mark) bool {
	if m.Newest.IsZero() {
		return false
	}
	for i := range slots {
		sl := &slots[i]
		if sl.state != chunkOK || m.Record < sl.head.firstRecord || m.Record > sl.head.lastRecord {
			continue
		}
		if ok, err := s.loadData(sl); err != nil || !ok {
			return false
		}
		found := false
		records(sl.data, sl.head, func(r record) bool {
			if r.id == m.Record {
				found = !r.written.Equal(m.Newest)
				return false
			}
			return true
		})
		return found
	}
	return false
}

// slots lists the chunk positions: every full 64 KiB after the header, and a last partial
// one when at least a chunk header's worth is there.
func (s *scan) slots() []slot {
	var out []slot
	for off := int64(fileHeaderSize); off+chunkDataStart <= s.size; off += chunkSize {
		out = append(out, slot{n: len(out), off: off, partial: off+chunkSize > s.size})
	}
	return out
}

// loadHeader reads and checks a chunk's header (512 bytes, or the whole chunk), once more
// when its checksum fails.
func (s *scan) loadHeader(sl *slot, whole bool) error {
	n := chunkDataStart
	if whole {
		n = chunkSize
	}
	for try := 0; try < 2; try++ {
		b := make([]byte, min(int64(n), s.size-sl.off))
		if _, err := s.read(b, sl.off); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("read chunk %d: %w", sl.n, err)
		}
		sl.head, sl.state = parseChunkHeader(b)
		sl.sum = fingerprint(b)
		if whole {
			sl.data = b
		}
		if sl.state != chunkBadSum {
			return nil
		}
	}
	return nil
}

// loadData reads the whole chunk (unless pass 1 did) and checks the records checksum,
// reading once more when it fails. ok is false when it still fails.
func (s *scan) loadData(sl *slot) (bool, error) {
	for try := 0; try < 2; try++ {
		if sl.data == nil || try > 0 {
			b := make([]byte, min(int64(chunkSize), s.size-sl.off))
			if _, err := s.read(b, sl.off); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return false, fmt.Errorf("read chunk %d: %w", sl.n, err)
			}
			sl.data = b
			h, st := parseChunkHeader(b)
			if st != chunkOK {
				continue
			}
			sl.head, sl.sum = h, fingerprint(b)
		}
		if sl.head.dataOK(sl.data) {
			return true, nil
		}
	}
	sl.data = nil
	return false, nil
}

// events decodes the wanted records of a verified chunk.
func (s *scan) events(sl *slot, above uint64, seen map[uint64]bool) {
	d := newDecoder(sl.data)
	err := records(sl.data, sl.head, func(r record) bool {
		s.log.Stats.Records++
		if r.id > s.newest.id {
			s.newest = r
		}
		if r.id <= above || seen[r.id] {
			return true
		}
		ev, ok, err := d.event(r)
		if err != nil {
			s.log.Stats.BadRecords++
			return true
		}
		if ok {
			seen[r.id] = true
			s.log.Events = append(s.log.Events, ev)
		}
		return true
	})
	if err != nil {
		s.warn("chunk %d (offset %d): %v; the rest of the chunk is skipped", sl.n, sl.off, err)
	}
}

// event decodes one record: the EventID and provider come from the template's value array
// without rendering, and only wanted events are rendered.
func (d *decoder) event(r record) (Event, bool, error) {
	c := &cur{b: d.b, p: r.start, end: r.end}
	n, inst := d.fragment(c, 0)
	if c.err != nil {
		return Event{}, false, c.err
	}
	if inst != nil {
		if inst.t.id.ok {
			if v, ok := inst.t.id.number(inst.vals); !ok || v > 0xffff || !wanted[uint16(v)] {
				return Event{}, false, nil
			}
		}
		n = &inst.t.root
	}
	var vals []value
	if inst != nil {
		vals = inst.vals
	}
	d.budget = maxRendered
	root, err := d.render(n, vals, 0)
	if err != nil {
		return Event{}, false, err
	}
	if len(root) != 1 {
		return Event{}, false, nil
	}
	ev, ok := eventOf(root[0], r)
	return ev, ok, nil
}

func idRange(slots []slot) (first, last uint64) {
	for _, sl := range slots {
		if sl.state != chunkOK {
			continue
		}
		if first == 0 || sl.head.firstRecord < first {
			first = sl.head.firstRecord
		}
		last = max(last, sl.head.lastRecord)
	}
	return first, last
}

// mark computes what to remember: the highest record id of the chunks whose records are
// known good (a damaged chunk with newer records holds the mark below it), the chunk holding
// it and the one after it in ring order. After damage the next read scans every chunk.
func (s *scan) mark(slots []slot, since Mark, first uint64, damaged bool) Mark {
	m := Mark{Record: since.Record, First: first, Size: s.size}
	tail := -1
	for i, sl := range slots {
		if sl.state != chunkOK || sl.head.lastRecord <= m.Record {
			continue
		}
		if !sl.good {
			continue
		}
		m.Record, tail = sl.head.lastRecord, i
	}
	if s.newest.id > m.Record { // a verified chunk held records past its header's count
		m.Record = s.newest.id
	}
	if s.newest.id == m.Record {
		m.Newest = s.newest.written
	} else if m.Record == since.Record {
		m.Newest = since.Newest
	}
	if tail < 0 {
		for i, sl := range slots {
			if sl.state == chunkOK && sl.head.firstRecord <= m.Record && m.Record <= sl.head.lastRecord {
				tail = i
			}
		}
	}
	if tail < 0 || damaged {
		return m
	}
	m.Tail, m.TailSum = slots[tail].off, slots[tail].sum
	if next := (tail + 1) % len(slots); next != tail && !slots[next].partial {
		m.Next, m.NextSum = slots[next].off, slots[next].sum
	}
	return m
}
