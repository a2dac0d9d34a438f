// Package eventlogtest writes EVTX event logs for tests: the records no public log holds
// (Kernel-Power 41 of Windows 10 and later, 1001 with GUID report ids, volmgr's dump
// failures) and logs shaped like live ones (a dirty header that lags, preallocated space,
// a ring that wrapped). Records are stored as Windows stores them: a template per event
// shape, defined in the chunk on first use and referenced after it, element names stored
// once per chunk, EventData as a nested binary XML value (or inline in the template); chunks
// and the file header carry valid checksums. python-evtx (Debian python3-evtx) reads the
// output and verifies both checksums of every chunk. Tests that want independent ground
// truth use the real logs in ../shared/evtx.
package eventlogtest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
	"unicode/utf16"
)

// The EVTX layout and binary XML codes (see eventlog's sources for where they come from).
const (
	fileHeaderSize  = 4096
	chunkSize       = 64 << 10
	chunkHeaderSize = 128
	chunkDataStart  = 512
	recordHeader    = 24
	recordMin       = recordHeader + 4

	tokEOF        = 0x00
	tokOpenStart  = 0x01
	tokCloseStart = 0x02
	tokCloseEmpty = 0x03
	tokEnd        = 0x04
	tokValue      = 0x05
	tokAttribute  = 0x06
	tokTemplate   = 0x0c
	tokSubst      = 0x0d
	tokOptSubst   = 0x0e
	tokFragment   = 0x0f
	tokFlagMore   = 0x40
)

// Value types of Field.Type.
const (
	TypeNull       = 0x00
	TypeString     = 0x01
	TypeUint8      = 0x04
	TypeUint16     = 0x06
	TypeUint32     = 0x08
	TypeUint64     = 0x0a
	TypeBool       = 0x0d
	TypeBinary     = 0x0e
	TypeGUID       = 0x0f
	TypeFileTime   = 0x11
	TypeHexInt64   = 0x15
	TypeBinXML     = 0x21
	TypeStringList = 0x81
)

var (
	fileMagic  = []byte("ElfFile\x00")
	chunkMagic = []byte("ElfChnk\x00")
)

// ChunkSize is the size of one chunk; FileHeaderSize the size of the file header before
// the first.
const (
	ChunkSize      = chunkSize
	FileHeaderSize = fileHeaderSize
)

// Event is one record to write.
type Event struct {
	Record     uint64
	Time       time.Time
	Provider   string
	GUID       string // "{...}"; empty for a classic provider
	Source     string // EventSourceName
	ID         uint16
	Qualifiers uint16
	Version    uint8
	Computer   string
	Data       []Field
	Binary     []byte
	Inline     bool // EventData inside the System template rather than a BinXml value
}

// Field is one EventData Data element (Name "" for classic unnamed ones).
type Field struct {
	Name string
	Type byte
	Val  []byte
}

func Str(name, v string) Field { return Field{name, TypeString, utf16le(v)} }
func U32(name string, v uint32) Field {
	return Field{name, TypeUint32, binary.LittleEndian.AppendUint32(nil, v)}
}
func U64(name string, v uint64) Field {
	return Field{name, TypeUint64, binary.LittleEndian.AppendUint64(nil, v)}
}
func U8(name string, v uint8) Field { return Field{name, TypeUint8, []byte{v}} }
func Hex64(name string, v uint64) Field {
	return Field{name, TypeHexInt64, binary.LittleEndian.AppendUint64(nil, v)}
}
func Bool(name string, v bool) Field {
	b := uint32(0)
	if v {
		b = 1
	}
	return Field{name, TypeBool, binary.LittleEndian.AppendUint32(nil, b)}
}
func Strings(name string, vs ...string) Field {
	return Field{name, TypeStringList, utf16le(strings.Join(vs, "\x00") + "\x00")}
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func guidBytes(s string) []byte {
	s = strings.Trim(s, "{}")
	var a, b, c uint64
	var d, e string
	fmt.Sscanf(strings.ReplaceAll(s, "-", " "), "%x %x %x %s %s", &a, &b, &c, &d, &e)
	out := binary.LittleEndian.AppendUint32(nil, uint32(a))
	out = binary.LittleEndian.AppendUint16(out, uint16(b))
	out = binary.LittleEndian.AppendUint16(out, uint16(c))
	for _, h := range []string{d, e} {
		for i := 0; i+2 <= len(h); i += 2 {
			var v byte
			fmt.Sscanf(h[i:i+2], "%02x", &v)
			out = append(out, v)
		}
	}
	return out
}

func toFiletime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}

// SystemTime encodes a SYSTEMTIME.
func SystemTime(t time.Time) []byte {
	var b []byte
	for _, v := range []int{t.Year(), int(t.Month()), int(t.Weekday()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond() / 1e6} {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

// chunkWriter fills one 64 KiB chunk.
type chunkWriter struct {
	b           []byte
	p           int
	names       map[string]uint32
	tmpls       map[string]uint32
	first, last uint64
	lastRec     int
	n           int
}

func newChunkWriter() *chunkWriter {
	return &chunkWriter{b: make([]byte, chunkSize), p: chunkDataStart, names: map[string]uint32{}, tmpls: map[string]uint32{}}
}

// bx builds binary XML that will be placed at chunk offset base.
type bx struct {
	w    *chunkWriter
	b    []byte
	base int
}

func (x *bx) pos() int     { return x.base + len(x.b) }
func (x *bx) u8(v byte)    { x.b = append(x.b, v) }
func (x *bx) u16(v uint16) { x.b = binary.LittleEndian.AppendUint16(x.b, v) }
func (x *bx) u32(v uint32) { x.b = binary.LittleEndian.AppendUint32(x.b, v) }
func (x *bx) patch32(at int, v uint32) {
	binary.LittleEndian.PutUint32(x.b[at:], v)
}

// name writes a name reference, storing the name inline the first time in the chunk.
func (x *bx) name(s string) {
	if off, ok := x.w.names[s]; ok {
		x.u32(off)
		return
	}
	off := uint32(x.pos() + 4)
	x.w.names[s] = off
	x.u32(off)
	x.u32(0) // next string
	x.u16(0) // hash (not checked by readers)
	u := utf16le(s)
	x.u16(uint16(len(u) / 2))
	x.b = append(x.b, u...)
	x.u16(0)
}

// node is an element of a template to write: attrs and content are literal strings or
// substitutions.
type node struct {
	name  string
	attrs []nattr
	kids  []node
	text  string
	sub   int // -1: none
	opt   bool
	vt    byte
}

type nattr struct {
	name string
	sub  int
	opt  bool
	vt   byte
	text string
}

func el(name string, kids ...node) node { return node{name: name, kids: kids, sub: -1} }
func subEl(name string, sub int, vt byte, opt bool, attrs ...nattr) node {
	return node{name: name, attrs: attrs, sub: sub, vt: vt, opt: opt}
}

func (x *bx) element(n node) {
	tok := byte(tokOpenStart)
	if len(n.attrs) > 0 {
		tok |= tokFlagMore
	}
	x.u8(tok)
	x.u16(0xffff)
	sizeAt := len(x.b)
	x.u32(0)
	x.name(n.name)
	if len(n.attrs) > 0 {
		listAt := len(x.b)
		x.u32(0)
		for i, a := range n.attrs {
			t := byte(tokAttribute)
			if i < len(n.attrs)-1 {
				t |= tokFlagMore
			}
			x.u8(t)
			x.name(a.name)
			if a.sub >= 0 {
				x.subst(a.sub, a.vt, a.opt)
			} else {
				x.text(a.text)
			}
		}
		x.patch32(listAt, uint32(len(x.b)-listAt-4))
	}
	if len(n.kids) == 0 && n.sub < 0 && n.text == "" {
		x.u8(tokCloseEmpty)
	} else {
		x.u8(tokCloseStart)
		for _, k := range n.kids {
			x.element(k)
		}
		if n.sub >= 0 {
			x.subst(n.sub, n.vt, n.opt)
		} else if n.text != "" {
			x.text(n.text)
		}
		x.u8(tokEnd)
	}
	x.patch32(sizeAt, uint32(len(x.b)-sizeAt-4))
}

func (x *bx) subst(id int, vt byte, opt bool) {
	t := byte(tokSubst)
	if opt {
		t = tokOptSubst
	}
	x.u8(t)
	x.u16(uint16(id))
	x.u8(vt)
}

func (x *bx) text(s string) {
	x.u8(tokValue)
	x.u8(TypeString)
	u := utf16le(s)
	x.u16(uint16(len(u) / 2))
	x.b = append(x.b, u...)
}

type val struct {
	vt byte
	b  []byte
	// nested, when set, is written as a BinXml value at its final place.
	nested func(x *bx)
}

// instance writes a template instance: the template (inline the first time its key is seen
// in the chunk) and its values; a nested value must be the last.
func (x *bx) instance(key string, root node, vals []val) {
	x.u8(tokTemplate)
	x.u8(1)
	x.u32(crc32.ChecksumIEEE([]byte(key)))
	if off, ok := x.w.tmpls[key]; ok {
		x.u32(off)
	} else {
		off := uint32(x.pos() + 4)
		x.w.tmpls[key] = off
		x.u32(off)
		x.u32(0)                                                                                                          // next template
		x.b = append(x.b, guidBytes(fmt.Sprintf("%08x-0000-0000-0000-000000000000", crc32.ChecksumIEEE([]byte(key))))...) // GUID
		sizeAt := len(x.b)
		x.u32(0)
		start := len(x.b)
		x.b = append(x.b, tokFragment, 1, 1, 0)
		x.element(root)
		x.u8(tokEOF)
		x.patch32(sizeAt, uint32(len(x.b)-start))
	}
	x.u32(uint32(len(vals)))
	// Place the values: the nested one (last) is built at its final chunk offset.
	descAt := len(x.b)
	x.b = append(x.b, make([]byte, 4*len(vals))...)
	for i, v := range vals {
		b := v.b
		if v.nested != nil {
			nx := &bx{w: x.w, base: x.pos()}
			v.nested(nx)
			b = nx.b
		}
		binary.LittleEndian.PutUint16(x.b[descAt+4*i:], uint16(len(b)))
		x.b[descAt+4*i+2] = v.vt
		x.b = append(x.b, b...)
	}
}

// systemTemplate is the System part; EventData follows as substitution 10, a BinXml value
// right inside Event (as Windows writes it), or, when inline, as Data substitutions from 10
// on inside the template.
func systemTemplate(ev Event) (string, node) {
	sys := el("System",
		subEl("Provider", -1, 0, false, nattr{name: "Name", sub: 0, vt: TypeString}, nattr{name: "Guid", sub: 1, vt: TypeGUID, opt: true}, nattr{name: "EventSourceName", sub: 2, vt: TypeString, opt: true}),
		subEl("EventID", 3, TypeUint16, false, nattr{name: "Qualifiers", sub: 4, vt: TypeUint16, opt: true}),
		subEl("Version", 5, TypeUint8, true),
		subEl("Level", 6, TypeUint8, true),
		subEl("TimeCreated", -1, 0, false, nattr{name: "SystemTime", sub: 7, vt: TypeFileTime, opt: true}),
		subEl("EventRecordID", 8, TypeUint64, true),
		node{name: "Channel", text: "System", sub: -1},
		subEl("Computer", 9, TypeString, false),
	)
	root := el("Event", sys)
	root.attrs = []nattr{{name: "xmlns", sub: -1, text: "http://schemas.microsoft.com/win/2004/08/events/event"}}
	if ev.Inline {
		ed, k := dataTemplate(ev, 10)
		root.kids = append(root.kids, ed)
		return "system+" + k, root
	}
	root.sub, root.vt, root.opt = 10, TypeBinXML, true
	return "system", root
}

// dataTemplate is an EventData element of Data substitutions from base on.
func dataTemplate(ev Event, base int) (node, string) {
	ed := el("EventData")
	key := "data"
	for i, f := range ev.Data {
		n := subEl("Data", base+i, f.Type, true)
		if f.Name != "" {
			n.attrs = []nattr{{name: "Name", sub: -1, text: f.Name}}
		}
		ed.kids = append(ed.kids, n)
		key += fmt.Sprintf("|%s:%x", f.Name, f.Type)
	}
	if ev.Binary != nil {
		ed.kids = append(ed.kids, subEl("Binary", base+len(ev.Data), TypeBinary, true))
		key += "|bin"
	}
	return ed, key
}

func (ev Event) values() []val {
	opt := func(vt byte, b []byte) val {
		if len(b) == 0 {
			return val{vt: TypeNull}
		}
		return val{vt: vt, b: b}
	}
	vs := []val{
		{vt: TypeString, b: utf16le(ev.Provider)},
		opt(TypeGUID, func() []byte {
			if ev.GUID == "" {
				return nil
			}
			return guidBytes(ev.GUID)
		}()),
		opt(TypeString, utf16le(ev.Source)),
		{vt: TypeUint16, b: binary.LittleEndian.AppendUint16(nil, ev.ID)},
		opt(TypeUint16, func() []byte {
			if ev.Qualifiers == 0 {
				return nil
			}
			return binary.LittleEndian.AppendUint16(nil, ev.Qualifiers)
		}()),
		{vt: TypeUint8, b: []byte{ev.Version}},
		{vt: TypeUint8, b: []byte{2}},
		{vt: TypeFileTime, b: binary.LittleEndian.AppendUint64(nil, toFiletime(ev.Time))},
		{vt: TypeUint64, b: binary.LittleEndian.AppendUint64(nil, ev.Record)},
		{vt: TypeString, b: utf16le(ev.Computer)},
	}
	data := func() []val {
		var out []val
		for _, f := range ev.Data {
			out = append(out, val{vt: f.Type, b: f.Val})
		}
		if ev.Binary != nil {
			out = append(out, val{vt: TypeBinary, b: ev.Binary})
		}
		return out
	}
	if ev.Inline {
		return append(vs, data()...)
	}
	ed, key := dataTemplate(ev, 0)
	return append(vs, val{vt: TypeBinXML, nested: func(x *bx) {
		x.b = append(x.b, tokFragment, 1, 1, 0)
		x.instance(key, ed, data())
		x.u8(tokEOF)
	}})
}

// add appends a record; false when the chunk is full.
func (w *chunkWriter) add(ev Event) bool {
	x := &bx{w: w, base: w.p + recordHeader}
	names, tmpls := len(w.names), len(w.tmpls)
	x.b = append(x.b, tokFragment, 1, 1, 0)
	key, root := systemTemplate(ev)
	x.instance(key, root, ev.values())
	x.u8(tokEOF)
	size := recordHeader + len(x.b) + 4
	if w.p+size > chunkSize {
		// Undo the names and templates registered for a record that does not fit.
		if len(w.names) != names || len(w.tmpls) != tmpls {
			for k, v := range w.names {
				if int(v) >= w.p {
					delete(w.names, k)
				}
			}
			for k, v := range w.tmpls {
				if int(v) >= w.p {
					delete(w.tmpls, k)
				}
			}
		}
		return false
	}
	le := binary.LittleEndian
	r := w.b[w.p:]
	le.PutUint32(r, 0x2a2a)
	le.PutUint32(r[4:], uint32(size))
	le.PutUint64(r[8:], ev.Record)
	le.PutUint64(r[16:], toFiletime(ev.Time))
	copy(r[recordHeader:], x.b)
	le.PutUint32(r[size-4:], uint32(size))
	if w.n == 0 {
		w.first = ev.Record
	}
	w.last, w.lastRec, w.n = ev.Record, w.p, w.n+1
	w.p += size
	return true
}

// bytes finishes the chunk: header fields and both checksums.
func (w *chunkWriter) bytes() []byte {
	le := binary.LittleEndian
	copy(w.b, chunkMagic)
	le.PutUint64(w.b[8:], w.first)
	le.PutUint64(w.b[16:], w.last)
	le.PutUint64(w.b[24:], w.first)
	le.PutUint64(w.b[32:], w.last)
	le.PutUint32(w.b[40:], chunkHeaderSize)
	le.PutUint32(w.b[44:], uint32(w.lastRec))
	le.PutUint32(w.b[48:], uint32(w.p))
	FixChunkSums(w.b)
	return w.b
}

// FixChunkSums recomputes a chunk's records checksum and header checksum.
func FixChunkSums(b []byte) {
	le := binary.LittleEndian
	free := le.Uint32(b[48:])
	le.PutUint32(b[52:], crc32.ChecksumIEEE(b[chunkDataStart:free]))
	le.PutUint32(b[124:], crc32.Update(crc32.ChecksumIEEE(b[:120]), crc32.IEEETable, b[128:chunkDataStart]))
}

// Options shape the file: its header (which Windows leaves behind the chunks on a live
// log) and the preallocated space after the chunks.
type Options struct {
	Dirty      bool   // flag 0x1, as on a live or crashed log
	NextRecord uint64 // the header's next record id (0: the right one)
	Chunks     int    // the header's chunk count (0: the right one)
	Slots      int    // all-zero chunk slots after the chunks (preallocated space)
	Total      int    // or: all-zero slots up to this many chunk slots in all
}

// Log writes a whole log: records in chunks, then the file header.
func Log(evs []Event, o Options) []byte {
	return Assemble(Chunks(evs), o, nextID(evs))
}

// Chunks packs records into chunks in order.
func Chunks(evs []Event) [][]byte {
	var chunks [][]byte
	w := newChunkWriter()
	for _, ev := range evs {
		if !w.add(ev) {
			chunks = append(chunks, w.bytes())
			w = newChunkWriter()
			if !w.add(ev) {
				panic("record larger than a chunk")
			}
		}
	}
	if w.n > 0 {
		chunks = append(chunks, w.bytes())
	}
	return chunks
}

func nextID(evs []Event) uint64 {
	var n uint64
	for _, e := range evs {
		n = max(n, e.Record)
	}
	return n + 1
}

// Assemble puts a file header before chunks.
func Assemble(chunks [][]byte, o Options, next uint64) []byte {
	h := make([]byte, fileHeaderSize)
	le := binary.LittleEndian
	copy(h, fileMagic)
	n := len(chunks)
	if o.Chunks > 0 {
		n = o.Chunks
	}
	if o.NextRecord > 0 {
		next = o.NextRecord
	}
	le.PutUint64(h[16:], uint64(max(n-1, 0)))
	le.PutUint64(h[24:], next)
	le.PutUint32(h[32:], 128)
	le.PutUint16(h[36:], 1)
	le.PutUint16(h[38:], 3)
	le.PutUint16(h[40:], fileHeaderSize)
	le.PutUint16(h[42:], uint16(n))
	if o.Dirty {
		le.PutUint32(h[120:], 1)
	}
	le.PutUint32(h[124:], crc32.ChecksumIEEE(h[:120]))
	out := h
	for _, c := range chunks {
		out = append(out, c...)
	}
	pad := o.Slots
	if o.Total > len(chunks) {
		pad = o.Total - len(chunks)
	}
	return append(out, make([]byte, pad*chunkSize)...)
}

// Renumber shifts every record id of a real chunk by delta and fixes the checksums (the
// EventRecordID inside the XML keeps its old value; the reader takes the record header's).
func Renumber(c []byte, delta uint64) {
	le := binary.LittleEndian
	for _, o := range []int{8, 16, 24, 32} {
		le.PutUint64(c[o:], le.Uint64(c[o:])+delta)
	}
	free := int(le.Uint32(c[48:]))
	for p := chunkDataStart; p+recordMin <= free; {
		size := int(le.Uint32(c[p+4:]))
		if le.Uint32(c[p:]) != 0x2a2a || size < recordMin || p+size > free {
			break
		}
		le.PutUint64(c[p+8:], le.Uint64(c[p+8:])+delta)
		p += size
	}
	FixChunkSums(c)
}

// KernelPower41 builds a 41 of a given version with the fields Microsoft's manifests give it
// (../shared/reference/evtx-research.md §5): v2 has the bugcheck, SleepInProgress (a bool)
// and PowerButtonTimestamp; v3 adds BootAppStatus and makes SleepInProgress a number; v5
// adds Checkpoint and the connected-standby fields; v6 CheckpointStatus; v8
// LongPowerButtonPressDetected; v10 the lid and suppression states.
func KernelPower41(rec uint64, at time.Time, version uint8, code uint32, p [4]uint64) Event {
	f := []Field{U32("BugcheckCode", code), Hex64("BugcheckParameter1", p[0]), Hex64("BugcheckParameter2", p[1]),
		Hex64("BugcheckParameter3", p[2]), Hex64("BugcheckParameter4", p[3])}
	if version < 3 {
		f = append(f, Bool("SleepInProgress", false), U64("PowerButtonTimestamp", 0))
	} else {
		f = append(f, U32("SleepInProgress", 0), U64("PowerButtonTimestamp", 0), U32("BootAppStatus", 0))
	}
	if version >= 5 {
		f = append(f, U8("Checkpoint", 0), Bool("ConnectedStandbyInProgress", false), U32("SystemSleepTransitionsToOn", 0),
			Bool("CsEntryScenarioInstanceId", false), Bool("BugcheckInfoFromEFI", true))
	}
	if version >= 6 {
		f = append(f, U8("CheckpointStatus", 0))
	}
	if version >= 8 {
		f = append(f, U32("CsEntryScenarioInstanceIdV2", 0), Bool("LongPowerButtonPressDetected", false))
	}
	if version >= 10 {
		f = append(f, U8("LidReliability", 0), U8("InputSuppressionState", 0), U8("PowerButtonSuppressionState", 0), U8("LidState", 1), U32("WHEABootErrorCount", 0))
	}
	return Event{Record: rec, Time: at, Provider: "Microsoft-Windows-Kernel-Power", GUID: "{331C3B3A-2005-44C2-AC5E-77220C37D6B4}", ID: 41, Version: version, Data: f}
}

// LastAliveBinary is 6008's Binary: local SYSTEMTIME, UTC SYSTEMTIME, then other bytes.
func LastAliveBinary(utc time.Time, zone *time.Location) []byte {
	b := append(SystemTime(utc.In(zone)), SystemTime(utc)...)
	return append(b, 0x60, 0x09, 0, 0)
}

// Noise is n ordinary records (Service Control Manager 7036) from record id from.
func Noise(from uint64, n int, at time.Time) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{Record: from + uint64(i), Time: at.Add(time.Duration(i) * time.Second), Provider: "Service Control Manager",
			GUID: "{555908D1-A6D7-4695-8E1E-26931D2012F4}", Source: "Service Control Manager", ID: 7036, Qualifiers: 16384,
			Data: []Field{Str("param1", "Windows Modules Installer"), Str("param2", "running")}, Binary: []byte("TrustedInstaller/4\x00")}
	}
	return out
}

// Boot is what a Windows 10 22H2 boot writes as it starts, from record rec: EventLog 6009
// and 6005, and Kernel-General 12 (version 10.0.19045.4291).
func Boot(rec uint64, at time.Time) []Event {
	return []Event{
		{Record: rec, Time: at, Provider: "EventLog", ID: 6009, Qualifiers: 32768, Data: []Field{Strings("", "10.00.", "19045", "Multiprocessor Free", "0")}},
		{Record: rec + 1, Time: at, Provider: "EventLog", ID: 6005, Qualifiers: 32768, Data: []Field{Strings("", "")}},
		{Record: rec + 2, Time: at, Provider: "Microsoft-Windows-Kernel-General", ID: 12, Version: 1,
			Data: []Field{U32("MajorVersion", 10), U32("MinorVersion", 0), U32("BuildVersion", 19045), U32("QfeVersion", 4291)}},
	}
}

// UnexpectedShutdown is EventLog 6008, logged at at: the host was last alive at alive (UTC;
// its clock was on CEST).
func UnexpectedShutdown(rec uint64, at, alive time.Time) Event {
	return Event{Record: rec, Time: at, Provider: "EventLog", ID: 6008, Qualifiers: 32768,
		Data:   []Field{Strings("", "\u200e5:12:07 AM", "\u200e5/\u200e1/\u200e2024", "", "", "118", "", "")},
		Binary: LastAliveBinary(alive, time.FixedZone("CEST", 2*3600))}
}

// CrashHistory is a Windows 10 host's log (computer WEB01.corp.example, records 1–320, a
// dirty header that lags, two preallocated chunks): a boot whose page file is too small for a
// dump (volmgr 49), a blue screen 0x133 DPC_WATCHDOG_VIOLATION that left none (6008 at
// 03:12 UTC, 41 at record 209), a blue screen 0x7e that saved
// C:\WINDOWS\Minidump\050124-12345-01.dmp (1001 at record 315, report id a GUID), and a power
// loss (41 without a bugcheck, record 320), on 2024-05-01.
func CrashHistory() []byte {
	return Log(CrashHistoryEvents(), Options{Dirty: true, NextRecord: 5, Chunks: 1, Slots: 2})
}

// CrashHistoryEvents are CrashHistory's records.
func CrashHistoryEvents() []Event {
	at := time.Date(2024, 5, 1, 1, 0, 0, 0, time.UTC)
	var evs []Event
	evs = append(evs, Boot(1, at)...)
	evs = append(evs, Event{Record: 4, Time: at, Provider: "volmgr", ID: 49, Qualifiers: 0xc004, Data: []Field{Str("", `\Device\HarddiskVolume3`)}, Binary: make([]byte, 40)})
	evs = append(evs, Noise(5, 200, at.Add(time.Minute))...)
	crash1 := at.Add(2*time.Hour + 12*time.Minute)
	evs = append(evs, UnexpectedShutdown(205, crash1.Add(3*time.Minute), crash1))
	evs = append(evs, Boot(206, crash1.Add(3*time.Minute))...)
	evs = append(evs, KernelPower41(209, crash1.Add(2*time.Minute), 8, 0x133, [4]uint64{1, 0x1e00, 0xfffff8057a4fb320, 0}))
	evs = append(evs, Noise(210, 100, crash1.Add(4*time.Minute))...)
	crash2 := crash1.Add(5 * time.Hour)
	evs = append(evs, UnexpectedShutdown(310, crash2.Add(2*time.Minute), crash2))
	evs = append(evs, Boot(311, crash2.Add(2*time.Minute))...)
	evs = append(evs, KernelPower41(314, crash2.Add(time.Minute), 8, 0x7e, [4]uint64{0xffffffffc0000005, 0xfffff80312345678, 0xffffd000a1b2c3d8, 0xffffd000a1b2c5f0}))
	evs = append(evs, Event{Record: 315, Time: crash2.Add(3 * time.Minute), Provider: "Microsoft-Windows-WER-SystemErrorReporting", Source: "BugCheck", ID: 1001, Qualifiers: 16384,
		Data: []Field{Str("param1", "0x0000007e (0xffffffffc0000005, 0xfffff80312345678, 0xffffd000a1b2c3d8, 0xffffd000a1b2c5f0)"),
			Str("param2", `C:\WINDOWS\Minidump\050124-12345-01.dmp`), Str("param3", "cdc03408-1c74-42d1-ad9c-caae62d7edc3")}})
	crash3 := crash2.Add(3 * time.Hour)
	evs = append(evs, UnexpectedShutdown(316, crash3.Add(time.Minute), crash3))
	evs = append(evs, Boot(317, crash3.Add(time.Minute))...)
	evs = append(evs, KernelPower41(320, crash3.Add(time.Minute), 8, 0, [4]uint64{}))
	for i := range evs {
		evs[i].Computer = "WEB01.corp.example"
	}
	return evs
}
