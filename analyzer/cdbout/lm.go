package cdbout

import (
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// lmLine reads one line of an lm/lmv/lmvm listing: a module row
// ("fffff806`3df60000 fffff806`3dfa0000   afd   (pdb symbols)   c:\...\afd.pdb") or a detail
// line of the current module. It reports whether s belonged to the listing.
func (p *parser) lmLine(s string) bool {
	if m, ok := p.moduleRow(s); ok {
		if len(p.a.Modules) < maxModules {
			p.a.Modules = append(p.a.Modules, m.clone(p))
			p.curModule = len(p.a.Modules) - 1
		}
		return true
	}
	if isLMNote(s) {
		return true
	}
	if strings.HasPrefix(s, "Unloaded modules:") {
		p.curModule = -1
		return true
	}
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return false
	}
	label, val := s[:colon], strings.TrimSpace(s[colon+1:])
	if p.curModule < 0 && !p.rowlessModule(label, val) {
		return false
	}
	m := &p.a.Modules[p.curModule]
	switch label {
	case "Loaded symbol image file":
		p.set(&m.LoadedSymbolImageFile, val)
	case "Symbol file":
		p.set(&m.SymbolFile, val)
	case "Mapped memory image file":
		p.set(&m.MappedImageFile, val)
	case "Image path":
		p.set(&m.ImagePath, val)
	case "Image name":
		p.set(&m.ImageName, val)
	case "Timestamp":
		if m.Timestamp != val {
			m.Timestamp = p.keep(val)
			m.TimestampHex = timestampHex(m.Timestamp)
			m.TimestampIsHash = isReproHash(m.Timestamp)
		}
	case "CheckSum":
		p.set(&m.Checksum, val)
	case "ImageSize":
		p.set(&m.ImageSize, val)
	case "File version":
		p.set(&m.FileVersion, val)
	case "Product version":
		p.set(&m.ProductVersion, val)
	case "File flags", "File OS", "File type", "File date", "Translations":
	default:
		if strings.IndexByte(label, ' ') >= 0 || label[0] < 'A' || label[0] > 'Z' {
			return false
		}
		// A version-resource row: CompanyName, ProductName, FileVersion, ...
		if m.Resources == nil {
			m.Resources = map[string]string{}
		}
		if old, ok := m.Resources[label]; ok && old == val {
			// the same block again (a long log): nothing new
		} else {
			m.Resources[p.keep(label)] = p.clip(val)
		}
		switch label {
		case "CompanyName":
			p.set(&m.CompanyName, val)
		case "ProductName":
			p.set(&m.ProductName, val)
		case "FileDescription":
			p.set(&m.FileDescription, val)
		case "OriginalFilename":
			p.set(&m.OriginalFilename, val)
		}
	}
	return true
}

// rowlessModule starts a module record at the first detail line of an lmv block whose row
// was not pasted or did not survive (OCR, a cut): the module is named after the image file
// ("Loaded symbol image file: WdfFilter.sys" is module WdfFilter).
func (p *parser) rowlessModule(label, val string) bool {
	switch label {
	case "Loaded symbol image file", "Image path", "Image name":
	default:
		return false
	}
	name := val
	if i := strings.LastIndexAny(name, `\/`); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	if name == "" || strings.ContainsAny(name, " \t") || len(p.a.Modules) >= maxModules {
		return false
	}
	m := analysis.Module{Name: p.keep(name)}
	if p.bareRowLine == p.lineNo-1 && strings.EqualFold(p.bareRow.Name, name) {
		m.Start, m.End = p.bareRow.Start, p.bareRow.End // the row just above, without its state
	}
	p.a.Modules = append(p.a.Modules, m)
	p.curModule = len(p.a.Modules) - 1
	return true
}

// isLMNote reports the lines of an lmv block that carry no value: the "Browse" links, the
// resource-table heading and the /Brepro note that current debuggers print above the
// reproducible-build Timestamp line.
func isLMNote(s string) bool {
	return strings.HasPrefix(s, "Browse ") || strings.HasPrefix(s, "Information from resource tables") ||
		strings.HasPrefix(s, "Image was built with ")
}

// symbolStatuses are the symbol states lm prints after the module name.
var symbolStatuses = map[string]bool{"(deferred)": true, "(pdb symbols)": true,
	"(private pdb symbols)": true, "(public pdb symbols)": true, "(export symbols)": true,
	"(no symbols)": true, "(coff symbols)": true, "(sym symbols)": true, "(symbols)": true,
	"(codeview symbols)": true}

// lmRowStart starts an lm listing at a module row whose header line was not pasted: a row
// with a symbol state ("fffff801`0a010000 fffff801`0a0dc000 ACPI (pdb symbols) c:\...").
func (p *parser) lmRowStart(s string) bool {
	m, ok := p.moduleRow(s)
	if !ok || strings.ContainsAny(m.Name, "!+") {
		return false
	}
	if m.SymbolStatus == "" && m.SymbolFile == "" && strings.HasSuffix(strings.TrimSpace(s), m.Name) {
		// "start end name" alone (a !filever or a hand-trimmed paste): a module row only if
		// the next line is that module's lmv detail, see rowlessModule.
		p.bareRow, p.bareRowLine = moduleRow{Start: p.keep(m.Start), End: p.keep(m.End), Name: p.keep(m.Name)}, p.lineNo
		return false
	}
	if !symbolStatuses[m.SymbolStatus] {
		return false
	}
	p.st, p.curModule = stLM, -1
	return p.lmLine(s)
}

// moduleRow parses "start end name [flags] (status) [symbol file]". The strings alias s.
func (p *parser) moduleRow(s string) (moduleRow, bool) {
	if c := s[0]; !isHexByte(c) && !asciiSpace(c) { // fast path: the first field must be an address
		return moduleRow{}, false
	}
	var buf [16]string
	f := appendFields(buf[:0], s, p.ascii)
	if len(f) < 3 || !isAddr(f[0]) || !isAddr(f[1]) {
		return moduleRow{}, false
	}
	m := moduleRow{Start: f[0], End: f[1], Name: f[2]}
	i := strings.Index(s, f[2]) + len(f[2])
	rest := strings.TrimSpace(s[i:])
	if o := strings.IndexByte(rest, '('); o >= 0 {
		if c := strings.IndexByte(rest[o:], ')'); c > 0 {
			m.SymbolStatus = rest[o : o+c+1]
			m.SymbolFile = strings.TrimSpace(rest[o+c+1:])
		}
	}
	return m, true
}

// moduleRow is the part of an lm row that moduleRow reads, before it is kept.
type moduleRow struct{ Start, End, Name, SymbolStatus, SymbolFile string }

func (r moduleRow) clone(p *parser) analysis.Module {
	return analysis.Module{Start: p.keep(r.Start), End: p.keep(r.End), Name: p.keep(r.Name),
		SymbolStatus: p.keep(r.SymbolStatus), SymbolFile: p.keep(r.SymbolFile)}
}

// timestampHex takes the hex link time from "Tue Jul 19 21:10:15 2005 (42DDB287)" or
// "***** Invalid (9371275D)", or a bare hex value, or the hex value that leads a note
// ("CD2FAD7E (This is a reproducible build file hash, not a timestamp)").
func timestampHex(v string) string {
	if t := firstToken(v); len(t) == 8 && isHex(t) {
		return t
	}
	if o := strings.LastIndexByte(v, '('); o >= 0 {
		if c := strings.IndexByte(v[o:], ')'); c > 0 && isHex(v[o+1:o+c]) {
			return v[o+1 : o+c]
		}
	}
	if isHex(v) {
		return v
	}
	return ""
}

// isReproHash reports a Timestamp line of a module built with /Brepro: its value is a hash
// of the file, not a link time ("CD2FAD7E (This is a reproducible build file hash, not a
// timestamp)").
func isReproHash(v string) bool {
	return strings.Contains(v, "reproducible build")
}

// set stores a copy of v in *dst unless it already holds v.
func (p *parser) set(dst *string, v string) {
	if *dst != v {
		*dst = p.keep(v)
	}
}
