package eventlog

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Binary XML, as EVTX stores it (facts from the libevtx format notes, checked against the
// sample logs). A record is a fragment: a fragment header, then either an element or, almost
// always, a template instance: a reference to a template (an element tree with numbered
// substitutions, defined once per chunk and referenced by its chunk offset) and an array of
// typed values. Element and attribute names are strings stored once per chunk and referenced
// by offset too. A value of type BinXml is itself a fragment (EventData often is).

// Tokens. Bit 0x40 is a flag on some ("has attributes", "more follows").
const (
	tokEOF          = 0x00
	tokOpenStart    = 0x01
	tokCloseStart   = 0x02
	tokCloseEmpty   = 0x03
	tokEnd          = 0x04
	tokValue        = 0x05
	tokAttribute    = 0x06
	tokCDATA        = 0x07
	tokCharRef      = 0x08
	tokEntityRef    = 0x09
	tokPITarget     = 0x0a
	tokPIData       = 0x0b
	tokTemplate     = 0x0c
	tokSubst        = 0x0d
	tokOptSubst     = 0x0e
	tokFragment     = 0x0f
	tokFlagMore     = 0x40
	maxDepth        = 24 // element nesting and nested BinXml, far above what Windows writes
	maxValues       = 4096
	maxRendered     = 4096 // elements one record may render (Windows writes tens)
	templateHdrSize = 24   // next offset, GUID, body size
)

// Value types.
const (
	vtNull       = 0x00
	vtString     = 0x01
	vtAnsi       = 0x02
	vtInt8       = 0x03
	vtUint8      = 0x04
	vtInt16      = 0x05
	vtUint16     = 0x06
	vtInt32      = 0x07
	vtUint32     = 0x08
	vtInt64      = 0x09
	vtUint64     = 0x0a
	vtReal32     = 0x0b
	vtReal64     = 0x0c
	vtBool       = 0x0d
	vtBinary     = 0x0e
	vtGUID       = 0x0f
	vtSizeT      = 0x10
	vtFileTime   = 0x11
	vtSysTime    = 0x12
	vtSID        = 0x13
	vtHexInt32   = 0x14
	vtHexInt64   = 0x15
	vtBinXML     = 0x21
	vtArrayFlag  = 0x80
	vtStringList = vtArrayFlag | vtString
)

var errMalformed = errors.New("malformed binary XML")

// elem is one element of a rendered record.
type elem struct {
	name  string
	attrs []attr
	text  string
	kids  []*elem
}

type attr struct{ name, value string }

func (e *elem) kid(name string) *elem {
	if e == nil {
		return nil
	}
	for _, k := range e.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// str is the element's text; "" for a missing element.
func (e *elem) str() string {
	if e == nil {
		return ""
	}
	return e.text
}

func (e *elem) attr(name string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.attrs {
		if a.name == name {
			return a.value
		}
	}
	return ""
}

// tnode is a node of a parsed template or fragment: an element, literal text or a
// substitution.
type tnode struct {
	kind  byte // 'e', 't', 's'
	name  string
	attrs []tattr
	kids  []tnode
	text  string
	sub   int
	opt   bool
}

type tattr struct {
	name string
	val  []tnode
}

// template is a parsed template definition, with where its System/EventID and
// System/Provider@Name come from, so most records are classified without rendering.
type template struct {
	root     tnode
	id, prov source
}

// source is a literal or a substitution index; ok is false when the template has no such
// node in the expected place.
type source struct {
	ok  bool
	lit string
	sub int // -1 for a literal
}

// value is one substitution value: its type and bytes (a slice of the chunk).
type value struct {
	typ byte
	off int // chunk offset of the bytes
	b   []byte
}

// instance is a template reference with its values.
type instance struct {
	t    *template
	vals []value
}

// decoder decodes the binary XML of one chunk and caches its strings and templates.
type decoder struct {
	b      []byte
	names  map[uint32]string
	tmpls  map[uint32]*template
	bad    map[uint32]error // templates that failed to parse
	busy   map[uint32]bool  // templates being parsed (a cycle is malformed input)
	budget int              // elements the record being rendered may still render
	vals   []value          // reused for records' value arrays
}

func newDecoder(chunk []byte) *decoder {
	return &decoder{b: chunk, names: map[uint32]string{}, tmpls: map[uint32]*template{}, bad: map[uint32]error{}, busy: map[uint32]bool{}}
}

// cur is a bounded cursor over the chunk with a sticky error.
type cur struct {
	b   []byte
	p   int
	end int
	err error
}

func (c *cur) need(n int) bool {
	if c.err != nil {
		return false
	}
	if n < 0 || c.p+n > c.end {
		c.err = fmt.Errorf("%w: read past the end at chunk offset %d", errMalformed, c.p)
		return false
	}
	return true
}

func (c *cur) peek() byte {
	if !c.need(1) {
		return 0
	}
	return c.b[c.p]
}

func (c *cur) u8() byte {
	if !c.need(1) {
		return 0
	}
	c.p++
	return c.b[c.p-1]
}

func (c *cur) u16() uint16 {
	if !c.need(2) {
		return 0
	}
	c.p += 2
	return binary.LittleEndian.Uint16(c.b[c.p-2:])
}

func (c *cur) u32() uint32 {
	if !c.need(4) {
		return 0
	}
	c.p += 4
	return binary.LittleEndian.Uint32(c.b[c.p-4:])
}

func (c *cur) bytes(n int) []byte {
	if !c.need(n) {
		return nil
	}
	c.p += n
	return c.b[c.p-n : c.p]
}

func (c *cur) fail(f string, a ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: "+f, append([]any{errMalformed}, a...)...)
	}
}

// nameAt reads the name string at a chunk offset: next-string offset (4), hash (2), length
// in characters (2), UTF-16LE characters, a NUL. It returns the name and its stored size.
func (d *decoder) nameAt(off uint32) (string, int, error) {
	o := int(off)
	if o < 0 || o+8 > len(d.b) {
		return "", 0, fmt.Errorf("%w: name offset %d outside the chunk", errMalformed, off)
	}
	n := int(binary.LittleEndian.Uint16(d.b[o+6:]))
	size := 8 + 2*n + 2
	if o+8+2*n > len(d.b) {
		return "", 0, fmt.Errorf("%w: name at %d runs past the chunk", errMalformed, off)
	}
	if s, ok := d.names[off]; ok {
		return s, size, nil
	}
	s := utf16String(d.b[o+8 : o+8+2*n])
	d.names[off] = s
	return s, size, nil
}

// name reads a name reference; a name stored right here (inline) is skipped over.
func (d *decoder) name(c *cur) string {
	off := c.u32()
	if c.err != nil {
		return ""
	}
	s, size, err := d.nameAt(off)
	if err != nil {
		c.err = err
		return ""
	}
	if int(off) == c.p {
		c.bytes(size)
	}
	return s
}

// fragment reads one fragment from c: header, then an element or a template instance, then
// (optionally) the end-of-stream token. Exactly one of the results is set.
func (d *decoder) fragment(c *cur, depth int) (*tnode, *instance) {
	if depth > maxDepth {
		c.fail("nesting deeper than %d", maxDepth)
		return nil, nil
	}
	for c.err == nil {
		switch tok := c.peek(); tok {
		case tokFragment:
			c.bytes(4)
		case tokTemplate:
			inst := d.instance(c, depth)
			if c.p < c.end && c.peek() == tokEOF {
				c.u8()
			}
			return nil, inst
		case tokOpenStart, tokOpenStart | tokFlagMore:
			n := d.element(c, depth, false)
			if c.p < c.end && c.peek() == tokEOF {
				c.u8()
			}
			return &n, nil
		default:
			c.fail("token 0x%02x at chunk offset %d where a fragment starts", tok, c.p)
		}
	}
	return nil, nil
}

// element reads an element; inTemplate allows substitutions.
func (d *decoder) element(c *cur, depth int, inTemplate bool) tnode {
	if depth > maxDepth {
		c.fail("nesting deeper than %d", maxDepth)
		return tnode{}
	}
	tok := c.u8()
	c.u16() // dependency identifier
	c.u32() // data size
	n := tnode{kind: 'e', name: d.name(c)}
	if tok&tokFlagMore != 0 {
		c.u32() // attribute list size
		for c.err == nil && c.peek()&^tokFlagMore == tokAttribute {
			c.u8()
			a := tattr{name: d.name(c)}
			a.val = d.values(c, inTemplate, nil)
			n.attrs = append(n.attrs, a)
		}
	}
	switch t := c.u8(); t {
	case tokCloseEmpty:
		return n
	case tokCloseStart:
	default:
		c.fail("token 0x%02x at chunk offset %d where an element's start closes", t, c.p-1)
		return n
	}
	for c.err == nil {
		switch t := c.peek(); t {
		case tokEnd:
			c.u8()
			return n
		case tokOpenStart, tokOpenStart | tokFlagMore:
			n.kids = append(n.kids, d.element(c, depth+1, inTemplate))
		case tokPITarget:
			c.u8()
			d.name(c)
		case tokPIData:
			c.u8()
			c.bytes(2 * int(c.u16()))
		default:
			before := c.p
			n.kids = d.values(c, inTemplate, n.kids)
			if c.p == before && c.err == nil {
				c.fail("token 0x%02x at chunk offset %d inside element %q", t, c.p, n.name)
			}
		}
	}
	return n
}

// values reads a run of text, character/entity references and substitutions.
func (d *decoder) values(c *cur, inTemplate bool, out []tnode) []tnode {
	for c.err == nil {
		switch c.peek() {
		case tokValue, tokValue | tokFlagMore:
			c.u8()
			if t := c.u8(); t != vtString {
				c.fail("text value of type 0x%02x", t)
				return out
			}
			out = append(out, tnode{kind: 't', text: utf16String(c.bytes(2 * int(c.u16())))})
		case tokCDATA, tokCDATA | tokFlagMore:
			c.u8()
			out = append(out, tnode{kind: 't', text: utf16String(c.bytes(2 * int(c.u16())))})
		case tokCharRef, tokCharRef | tokFlagMore:
			c.u8()
			out = append(out, tnode{kind: 't', text: string(rune(c.u16()))})
		case tokEntityRef, tokEntityRef | tokFlagMore:
			c.u8()
			out = append(out, tnode{kind: 't', text: entity(d.name(c))})
		case tokSubst, tokOptSubst:
			if !inTemplate {
				c.fail("substitution outside a template at chunk offset %d", c.p)
				return out
			}
			opt := c.u8() == tokOptSubst
			id := c.u16()
			c.u8() // declared value type; the value array's type is the one used
			out = append(out, tnode{kind: 's', sub: int(id), opt: opt})
		default:
			return out
		}
	}
	return out
}

func entity(name string) string {
	switch name {
	case "amp":
		return "&"
	case "lt":
		return "<"
	case "gt":
		return ">"
	case "quot":
		return `"`
	case "apos":
		return "'"
	}
	return "&" + name + ";"
}

// instance reads a template instance: the template (defined here or earlier in the chunk)
// and its value array. A record's own (depth 0) value array reuses the decoder's buffer: it
// is valid until the next record.
func (d *decoder) instance(c *cur, depth int) *instance {
	c.u8()  // token
	c.u8()  // unknown
	c.u32() // template id
	def := c.u32()
	if c.err != nil {
		return nil
	}
	inline := int(def) == c.p
	t, size, err := d.template(def)
	if err != nil {
		c.err = err
		return nil
	}
	if inline {
		c.bytes(templateHdrSize + size)
	}
	n := int(c.u32())
	if n > maxValues || !c.need(4*n) {
		c.fail("%d substitution values", n)
		return nil
	}
	desc := c.bytes(4 * n)
	var vals []value
	if depth == 0 {
		if cap(d.vals) < n {
			d.vals = make([]value, n)
		}
		vals = d.vals[:n]
	} else {
		vals = make([]value, n)
	}
	for i := range vals {
		sz := int(binary.LittleEndian.Uint16(desc[4*i:]))
		vals[i] = value{typ: desc[4*i+2], off: c.p}
		vals[i].b = c.bytes(sz)
	}
	if c.err != nil {
		return nil
	}
	return &instance{t: t, vals: vals}
}

// template parses (once per chunk) the template defined at a chunk offset and returns it
// with the size of its body.
func (d *decoder) template(off uint32) (*template, int, error) {
	o := int(off)
	if o < 0 || o+templateHdrSize > len(d.b) {
		return nil, 0, fmt.Errorf("%w: template offset %d outside the chunk", errMalformed, off)
	}
	size := int(binary.LittleEndian.Uint32(d.b[o+20:]))
	if size > len(d.b)-o-templateHdrSize {
		return nil, 0, fmt.Errorf("%w: template at %d runs past the chunk", errMalformed, off)
	}
	if t, ok := d.tmpls[off]; ok {
		return t, size, nil
	}
	if err := d.bad[off]; err != nil {
		return nil, 0, err
	}
	if d.busy[off] {
		return nil, 0, fmt.Errorf("%w: template at %d refers to itself", errMalformed, off)
	}
	d.busy[off] = true
	defer delete(d.busy, off)
	c := &cur{b: d.b, p: o + templateHdrSize, end: o + templateHdrSize + size}
	var root tnode
	for c.err == nil && c.p < c.end {
		switch tok := c.peek(); tok {
		case tokFragment:
			c.bytes(4)
			continue
		case tokOpenStart, tokOpenStart | tokFlagMore:
			root = d.element(c, 0, true)
		default:
			c.fail("token 0x%02x at chunk offset %d in a template", tok, c.p)
		}
		break
	}
	if c.err == nil && root.kind != 'e' {
		c.err = fmt.Errorf("%w: empty template at %d", errMalformed, off)
	}
	if c.err != nil {
		d.bad[off] = c.err
		return nil, 0, c.err
	}
	t := &template{root: root}
	if sys := root.child("System"); sys != nil {
		if e := sys.child("EventID"); e != nil {
			t.id = sourceOf(e.kids)
		}
		if p := sys.child("Provider"); p != nil {
			for _, a := range p.attrs {
				if a.name == "Name" {
					t.prov = sourceOf(a.val)
				}
			}
		}
	}
	d.tmpls[off] = t
	return t, size, nil
}

func (n *tnode) child(name string) *tnode {
	for i := range n.kids {
		if n.kids[i].kind == 'e' && n.kids[i].name == name {
			return &n.kids[i]
		}
	}
	return nil
}

func sourceOf(ns []tnode) source {
	if len(ns) != 1 {
		return source{}
	}
	switch ns[0].kind {
	case 't':
		return source{ok: true, lit: ns[0].text, sub: -1}
	case 's':
		return source{ok: true, sub: ns[0].sub}
	}
	return source{}
}

// resolve gives a source's string for an instance's values.
func (s source) resolve(vals []value) (string, bool) {
	switch {
	case !s.ok:
		return "", false
	case s.sub < 0:
		return s.lit, true
	case s.sub < len(vals):
		return valueString(vals[s.sub]), true
	}
	return "", true
}

// number gives a source's value as a number: integer values directly, others parsed.
func (s source) number(vals []value) (uint64, bool) {
	if s.ok && s.sub >= 0 && s.sub < len(vals) {
		v := vals[s.sub]
		le := binary.LittleEndian
		switch {
		case v.typ == vtUint16 && len(v.b) == 2:
			return uint64(le.Uint16(v.b)), true
		case v.typ == vtUint32 && len(v.b) == 4:
			return uint64(le.Uint32(v.b)), true
		case v.typ == vtUint8 && len(v.b) == 1:
			return uint64(v.b[0]), true
		}
	}
	str, ok := s.resolve(vals)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(str, 10, 64)
	return n, err == nil
}

// render turns a parsed fragment into elements, resolving substitutions and nested BinXml.
func (d *decoder) render(n *tnode, vals []value, depth int) ([]*elem, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nesting deeper than %d", errMalformed, maxDepth)
	}
	if d.budget--; d.budget < 0 {
		return nil, fmt.Errorf("%w: more than %d elements in one record", errMalformed, maxRendered)
	}
	e := &elem{name: n.name}
	for _, a := range n.attrs {
		if len(a.val) == 1 && a.val[0].kind == 's' && a.val[0].opt && isNull(vals, a.val[0].sub) {
			continue
		}
		var sb strings.Builder
		for _, v := range a.val {
			if v.kind == 't' {
				sb.WriteString(v.text)
			} else if v.sub < len(vals) {
				sb.WriteString(valueString(vals[v.sub]))
			}
		}
		e.attrs = append(e.attrs, attr{a.name, sb.String()})
	}
	// An element whose only content is an array value repeats once per item, as Windows
	// renders classic events' string lists (6008's Data).
	if len(n.kids) == 1 && n.kids[0].kind == 's' && n.kids[0].sub < len(vals) && vals[n.kids[0].sub].typ&vtArrayFlag != 0 {
		items := arrayItems(vals[n.kids[0].sub])
		out := make([]*elem, 0, len(items))
		for _, it := range items {
			out = append(out, &elem{name: e.name, attrs: e.attrs, text: it})
		}
		return out, nil
	}
	var sb strings.Builder
	for i := range n.kids {
		k := &n.kids[i]
		switch k.kind {
		case 'e':
			kids, err := d.render(k, vals, depth+1)
			if err != nil {
				return nil, err
			}
			e.kids = append(e.kids, kids...)
		case 't':
			sb.WriteString(k.text)
		case 's':
			if k.sub >= len(vals) {
				continue
			}
			v := vals[k.sub]
			if v.typ == vtBinXML {
				kids, err := d.nested(v, depth+1)
				if err != nil {
					return nil, err
				}
				e.kids = append(e.kids, kids...)
				continue
			}
			sb.WriteString(valueString(v))
		}
	}
	e.text = sb.String()
	return []*elem{e}, nil
}

// nested renders a BinXml value: a fragment stored inside the value array.
func (d *decoder) nested(v value, depth int) ([]*elem, error) {
	if len(v.b) == 0 {
		return nil, nil
	}
	c := &cur{b: d.b, p: v.off, end: v.off + len(v.b)}
	return d.renderFragment(c, depth)
}

func (d *decoder) renderFragment(c *cur, depth int) ([]*elem, error) {
	n, inst := d.fragment(c, depth)
	if c.err != nil {
		return nil, c.err
	}
	if inst != nil {
		return d.render(&inst.t.root, inst.vals, depth)
	}
	return d.render(n, nil, depth)
}

func isNull(vals []value, i int) bool {
	return i >= len(vals) || vals[i].typ == vtNull || len(vals[i].b) == 0
}

// valueString renders a value the way Windows' XML view shows it.
func valueString(v value) string {
	b := v.b
	le := binary.LittleEndian
	fixed := func(n int) bool { return len(b) >= n }
	switch v.typ {
	case vtNull:
		return ""
	case vtString:
		return strings.TrimRight(utf16String(b), "\x00")
	case vtAnsi:
		return strings.TrimRight(string(b), "\x00")
	case vtInt8:
		if fixed(1) {
			return strconv.Itoa(int(int8(b[0])))
		}
	case vtUint8:
		if fixed(1) {
			return strconv.Itoa(int(b[0]))
		}
	case vtInt16:
		if fixed(2) {
			return strconv.Itoa(int(int16(le.Uint16(b))))
		}
	case vtUint16:
		if fixed(2) {
			return strconv.Itoa(int(le.Uint16(b)))
		}
	case vtInt32:
		if fixed(4) {
			return strconv.FormatInt(int64(int32(le.Uint32(b))), 10)
		}
	case vtUint32:
		if fixed(4) {
			return strconv.FormatUint(uint64(le.Uint32(b)), 10)
		}
	case vtInt64:
		if fixed(8) {
			return strconv.FormatInt(int64(le.Uint64(b)), 10)
		}
	case vtUint64:
		if fixed(8) {
			return strconv.FormatUint(le.Uint64(b), 10)
		}
	case vtReal32:
		if fixed(4) {
			return strconv.FormatFloat(float64(math.Float32frombits(le.Uint32(b))), 'g', -1, 32)
		}
	case vtReal64:
		if fixed(8) {
			return strconv.FormatFloat(math.Float64frombits(le.Uint64(b)), 'g', -1, 64)
		}
	case vtBool:
		for _, c := range b {
			if c != 0 {
				return "true"
			}
		}
		return "false"
	case vtBinary:
		return strings.ToUpper(hex.EncodeToString(b))
	case vtGUID:
		if fixed(16) {
			return fmt.Sprintf("{%08X-%04X-%04X-%X-%X}", le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16])
		}
	case vtSizeT, vtHexInt32, vtHexInt64:
		switch len(b) {
		case 4:
			return fmt.Sprintf("0x%08x", le.Uint32(b))
		case 8:
			return fmt.Sprintf("0x%016x", le.Uint64(b))
		}
	case vtFileTime:
		if fixed(8) {
			return filetime(le.Uint64(b)).Format(timeLayout)
		}
	case vtSysTime:
		if t, ok := systemTime(b); ok {
			return t.Format(timeLayout)
		}
	case vtSID:
		if s, ok := sidString(b); ok {
			return s
		}
	}
	if v.typ&vtArrayFlag != 0 {
		return strings.Join(arrayItems(v), ", ")
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// timeLayout is how times render: RFC 3339 in UTC with 100-ns digits, as Windows writes it.
const timeLayout = "2006-01-02T15:04:05.0000000Z"

// arrayItems splits an array value: NUL-separated strings, or fixed-size items.
func arrayItems(v value) []string {
	el := v.typ &^ vtArrayFlag
	switch el {
	case vtString:
		// Each string ends in a NUL; empty strings in the list are kept (6008 has seven).
		return strings.Split(strings.TrimSuffix(utf16String(v.b), "\x00"), "\x00")
	case vtAnsi:
		return strings.Split(strings.TrimSuffix(string(v.b), "\x00"), "\x00")
	}
	size := map[byte]int{vtInt8: 1, vtUint8: 1, vtInt16: 2, vtUint16: 2, vtInt32: 4, vtUint32: 4, vtInt64: 8, vtUint64: 8,
		vtReal32: 4, vtReal64: 8, vtBool: 4, vtGUID: 16, vtFileTime: 8, vtSysTime: 16, vtHexInt32: 4, vtHexInt64: 8}[el]
	if size == 0 {
		return []string{strings.ToUpper(hex.EncodeToString(v.b))}
	}
	var out []string
	for i := 0; i+size <= len(v.b); i += size {
		out = append(out, valueString(value{typ: el, b: v.b[i : i+size]}))
	}
	return out
}

func utf16String(b []byte) string {
	if len(b)%2 == 1 {
		b = b[:len(b)-1]
	}
	ascii := true
	for i := 0; i < len(b); i += 2 {
		if b[i+1] != 0 || b[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		s := make([]byte, len(b)/2)
		for i := range s {
			s[i] = b[2*i]
		}
		return string(s)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func sidString(b []byte) (string, bool) {
	if len(b) < 8 {
		return "", false
	}
	n := int(b[1])
	if len(b) < 8+4*n {
		return "", false
	}
	var auth uint64
	for _, c := range b[2:8] {
		auth = auth<<8 | uint64(c)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "S-%d-%d", b[0], auth)
	for i := range n {
		fmt.Fprintf(&sb, "-%d", binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return sb.String(), true
}
