package cdbout

import (
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// lmLine reads one line of an lm/lmv/lmvm listing: a module row
// ("fffff806`3df60000 fffff806`3dfa0000   afd   (pdb symbols)   c:\...\afd.pdb") or a detail
// line of the current module. It reports whether s belonged to the listing.
func (p *parser) lmLine(s string) bool {
	if m, ok := moduleRow(s); ok {
		if len(p.a.Modules) < maxModules {
			p.a.Modules = append(p.a.Modules, m)
			p.curModule = len(p.a.Modules) - 1
		}
		return true
	}
	if strings.HasPrefix(s, "Browse ") || s == "Information from resource tables:" {
		return true
	}
	if strings.HasPrefix(s, "Unloaded modules:") {
		p.curModule = -1
		return true
	}
	if p.curModule < 0 {
		return false
	}
	m := &p.a.Modules[p.curModule]
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return false
	}
	label, val := s[:colon], strings.TrimSpace(s[colon+1:])
	switch label {
	case "Loaded symbol image file":
		m.LoadedSymbolImageFile = val
	case "Symbol file":
		m.SymbolFile = val
	case "Mapped memory image file":
		m.MappedImageFile = val
	case "Image path":
		m.ImagePath = val
	case "Image name":
		m.ImageName = val
	case "Timestamp":
		m.Timestamp, m.TimestampHex = val, timestampHex(val)
	case "CheckSum":
		m.Checksum = val
	case "ImageSize":
		m.ImageSize = val
	case "File version":
		m.FileVersion = val
	case "Product version":
		m.ProductVersion = val
	case "File flags", "File OS", "File type", "File date", "Translations":
	default:
		if strings.IndexByte(label, ' ') >= 0 || label[0] < 'A' || label[0] > 'Z' {
			return false
		}
		// A version-resource row: CompanyName, ProductName, FileVersion, ...
		if m.Resources == nil {
			m.Resources = map[string]string{}
		}
		m.Resources[label] = clip(val)
		switch label {
		case "CompanyName":
			m.CompanyName = val
		case "ProductName":
			m.ProductName = val
		case "FileDescription":
			m.FileDescription = val
		case "OriginalFilename":
			m.OriginalFilename = val
		}
	}
	return true
}

// moduleRow parses "start end name [flags] (status) [symbol file]".
func moduleRow(s string) (analysis.Module, bool) {
	f := strings.Fields(s)
	if len(f) < 3 || !isAddr(f[0]) || !isAddr(f[1]) {
		return analysis.Module{}, false
	}
	m := analysis.Module{Start: f[0], End: f[1], Name: f[2]}
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

// timestampHex takes the hex link time from "Tue Jul 19 21:10:15 2005 (42DDB287)" or
// "***** Invalid (9371275D)", or a bare hex value.
func timestampHex(v string) string {
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
