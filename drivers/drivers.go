// Package drivers is the driver reference: who makes a kernel driver, which product it
// belongs to and what sort of driver it is, so that a crash blamed on "rt640x64.sys" reads
// "rt640x64.sys — Realtek PCIe GbE network driver".
//
// The answer comes, in order, from the culprit module's own version resource (the lmvm
// CompanyName, ProductName and FileDescription rows: source "module"), from Windows' own
// module list (source "microsoft"), or from a shipped table of common third-party kernel
// drivers keyed by file name (drivers.tsv: source "reference"). The table was written for
// bsodwatch from public facts; a file name is all it knows, so a renamed or look-alike file
// is reported as whatever the table says that name is.
//
// Kinds are a fixed vocabulary (Kinds); rules match them with driver_kind. When an analysis
// blames only Windows' own code, Suspect names the loaded third-party driver (or product
// process) a person would look at next; Attribute does both for every engine's result. The
// package imports only analysis and the standard library.
package drivers

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// Kinds is every kind a table entry or a rule may name, with what it means.
var Kinds = []struct{ Name, Meaning string }{
	{"antivirus-filter", "antivirus file-system, process or registry filter"},
	{"edr", "endpoint detection and response sensor"},
	{"firewall", "firewall, web-protection or intrusion-prevention network filter"},
	{"dlp", "data loss prevention, device control or media encryption filter"},
	{"network", "wired network adapter or network stack driver"},
	{"wifi", "Wi-Fi adapter driver"},
	{"vpn", "VPN client, tunnel or virtual network adapter"},
	{"bluetooth", "Bluetooth adapter or filter driver"},
	{"display", "graphics driver"},
	{"audio", "sound driver, real or virtual"},
	{"storage", "disk, SATA, NVMe or SAN adapter driver"},
	{"raid", "hardware or software RAID driver"},
	{"usb", "USB host controller, hub or redirection driver"},
	{"serial", "USB-to-serial or modem driver"},
	{"card-reader", "memory card reader driver"},
	{"input", "keyboard, mouse, touchpad, tablet or gamepad driver"},
	{"camera", "webcam driver"},
	{"chipset", "chipset, platform, power or thermal driver"},
	{"virtualization", "hypervisor, virtual machine guest or host driver"},
	{"sandbox", "application isolation driver"},
	{"remote-access", "remote desktop or VDI session driver"},
	{"backup", "backup, snapshot, replication or changed-block-tracking driver"},
	{"disk-encryption", "disk or volume encryption driver"},
	{"filesystem", "file system or file-system framework"},
	{"virtual-drive", "virtual CD/DVD or disk image driver, disc burning filter"},
	{"anti-cheat", "game anti-cheat driver"},
	{"monitoring", "packet capture, traffic or process monitoring driver"},
	{"hardware-tool", "hardware access utility driver (tuning, RGB, firmware update, diagnostics)"},
}

// IsKind reports whether k is one of Kinds.
func IsKind(k string) bool {
	for _, x := range Kinds {
		if x.Name == k {
			return true
		}
	}
	return false
}

// KindNames lists the kind names in order.
func KindNames() []string {
	out := make([]string, len(Kinds))
	for i, k := range Kinds {
		out[i] = k.Name
	}
	return out
}

// Entry is one row of the driver table.
type Entry struct {
	File        string // file name as shipped, lower-case ("rt640x64.sys")
	Vendor      string
	Product     string
	Kind        string
	Description string
}

//go:embed drivers.tsv
var tableTSV []byte

var table = mustParse(tableTSV, "drivers.tsv")

// processes.tsv names the processes of third-party products (security agents, anti-cheat
// services, hardware tools): a kernel crash in Windows' code while one of them runs can make
// it a suspect (see Suspect).
//
//go:embed processes.tsv
var processesTSV []byte

var processes = mustParse(processesTSV, "processes.tsv")

// mustParse reads an embedded table; a malformed row is a build mistake, caught by the
// package's tests, so it panics at init rather than hide a row.
func mustParse(b []byte, name string) map[string]Entry {
	m, err := parseTable(b, name)
	if err != nil {
		panic("drivers: " + err.Error())
	}
	return m
}

func parseTable(b []byte, name string) (map[string]Entry, error) {
	m := map[string]Entry{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("%s:%d: want 5 tab-separated fields, have %d", name, n, len(f))
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
			if f[i] == "" {
				return nil, fmt.Errorf("%s:%d: field %d is empty", name, n, i+1)
			}
		}
		e := Entry{File: strings.ToLower(f[0]), Vendor: f[1], Product: f[2], Kind: f[3], Description: f[4]}
		if !IsKind(e.Kind) {
			return nil, fmt.Errorf("%s:%d: unknown kind %q", name, n, e.Kind)
		}
		k := key(e.File)
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice", name, n, e.File)
		}
		m[k] = e
	}
	return m, sc.Err()
}

// key reduces "RT640X64.SYS", "rt640x64" or `\SystemRoot\...\rt640x64.sys` to "rt640x64".
// A '-' is a '_': the debugger names the module of "ovpn-dco.sys" "ovpn_dco".
func key(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if i := strings.LastIndexAny(n, `\/`); i >= 0 {
		n = n[i+1:]
	}
	for _, ext := range []string{".sys", ".dll", ".exe"} {
		if strings.HasSuffix(n, ext) && len(n) > len(ext) {
			n = n[:len(n)-len(ext)]
			break
		}
	}
	return strings.ReplaceAll(n, "-", "_")
}

// Lookup finds a driver by file or module name ("rt640x64", "RT640X64.SYS"). A name with a
// version after "_v" that the table does not hold as it is ("portmaster-kext_v1-0-10.sys",
// "portmaster_kext_v1.0.15") is looked up without it, as vendors that put the version in
// the file name ship one file per release.
func Lookup(name string) (Entry, bool) {
	k := key(name)
	if e, ok := table[k]; ok {
		return e, true
	}
	if base, ok := trimVersion(k); ok {
		e, ok := table[base]
		return e, ok
	}
	return Entry{}, false
}

// trimVersion cuts a trailing "_v" and a version of digits, dots and underscores (at least
// one digit) off a key: "portmaster_kext_v1_0_10" → "portmaster_kext".
func trimVersion(k string) (string, bool) {
	i := strings.LastIndex(k, "_v")
	if i <= 0 || i+2 == len(k) {
		return "", false
	}
	v := k[i+2:]
	if v[0] < '0' || v[0] > '9' {
		return "", false
	}
	for _, c := range v {
		if (c < '0' || c > '9') && c != '.' && c != '_' {
			return "", false
		}
	}
	return k[:i], true
}

// Entries returns the table sorted by file name.
func Entries() []Entry {
	out := make([]Entry, 0, len(table))
	for _, e := range table {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.File, b.File) })
	return out
}

// Identify names the culprit of a (a.CulpritName()) with its vendor, product and kind, or
// returns nil when the analysis blames no module. Vendor and product come from the module's
// version resource when the analysis holds one (source "module"), else from Windows' own
// module list (source "microsoft") or the driver table (source "reference"); a module known
// to neither is returned with its name alone. The kind comes from the table, and from a
// module resource only when the table's vendor agrees with it, so a file that merely shares
// a known name is not given another vendor's kind.
func Identify(a *analysis.Analysis) *analysis.Culprit {
	if a == nil {
		return nil
	}
	name := a.CulpritName()
	if name == "" {
		return nil
	}
	m := a.Module(name)
	if m == nil && strings.EqualFold(name, a.ModuleName) && a.ImageName != "" {
		m = a.Module(a.ImageName)
	}
	c := &analysis.Culprit{Module: fileName(a, name, m)}
	e, known := Lookup(c.Module)
	if !known {
		e, known = Lookup(name)
	}
	if !known && strings.EqualFold(name, a.Suspect) {
		e, known = processes[key(name)]
	}
	if known && c.Module == name && !strings.Contains(name, ".") {
		c.Module = e.File
	}
	if m != nil && strings.TrimSpace(m.CompanyName) != "" {
		c.Vendor = strings.TrimSpace(m.CompanyName)
		c.Product = strings.TrimSpace(m.ProductName)
		c.Description = strings.TrimSpace(m.FileDescription)
		c.Source = "module"
		if isMicrosoftCompany(c.Vendor) {
			c.Source = "microsoft"
		}
		if known && sameVendor(c.Vendor, e.Vendor) {
			c.Kind = e.Kind
			if c.Product == "" {
				c.Product = e.Product
			}
			if c.Description == "" {
				c.Description = e.Description
			}
		}
		return c
	}
	if known {
		c.Vendor, c.Product, c.Kind, c.Description = e.Vendor, e.Product, e.Kind, e.Description
		c.Source = "reference"
		if e.Vendor == "Microsoft" {
			c.Source = "microsoft"
		}
		return c
	}
	if analysis.IsMicrosoftModule(name) {
		c.Vendor, c.Product, c.Source = "Microsoft", "Windows", "microsoft"
	}
	return c
}

// fileName is the culprit's image file name as the analysis spells it: the lm entry's
// image name, the IMAGE_NAME that goes with MODULE_NAME, or the name itself.
func fileName(a *analysis.Analysis, name string, m *analysis.Module) string {
	switch {
	case m != nil && m.ImageName != "":
		return m.ImageName
	case strings.EqualFold(name, a.ModuleName) && a.ImageName != "":
		return a.ImageName
	case m != nil && m.ImagePath != "":
		p := m.ImagePath
		if i := strings.LastIndexAny(p, `\/`); i >= 0 {
			p = p[i+1:]
		}
		return p
	}
	return name
}

func isMicrosoftCompany(c string) bool {
	return strings.Contains(strings.ToLower(c), "microsoft")
}

// sameVendor reports whether a version resource's CompanyName ("Realtek Semiconductor
// Corp.") names the table's vendor ("Realtek", "Broadcom (Symantec)"): a word of three or
// more letters appears in both, or the company is a known long form of the vendor.
func sameVendor(company, vendor string) bool {
	c := words(company)
	for _, w := range words(vendor) {
		if len(w) >= 3 && slices.Contains(c, w) {
			return true
		}
		if long, ok := vendorAliases[w]; ok && strings.Contains(strings.ToLower(company), long) {
			return true
		}
	}
	return false
}

// vendorAliases maps a table vendor word to the way its CompanyName spells it.
var vendorAliases = map[string]string{
	"amd": "advanced micro devices",
	"hp":  "hewlett",
	"hpe": "hewlett",
	"ibm": "international business machines",
}

func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
}

// Line is the culprit in one line for people: "rt640x64.sys — Realtek PCIe GbE network
// driver", or the module and vendor when there is no description, or the module alone.
func Line(c *analysis.Culprit) string {
	if c == nil {
		return ""
	}
	switch {
	case c.Description != "" && c.Vendor != "" && !mentions(c.Description, c.Vendor):
		return c.Module + " — " + c.Description + " (" + c.Vendor + ")"
	case c.Description != "":
		return c.Module + " — " + c.Description
	case c.Vendor != "" && c.Product != "":
		return c.Module + " — " + c.Vendor + " " + c.Product
	case c.Vendor != "":
		return c.Module + " — " + c.Vendor
	}
	return c.Module
}

// mentions reports whether text names the vendor: one of the vendor's words of three or
// more letters is a word of text.
func mentions(text, vendor string) bool {
	t := words(text)
	for _, w := range words(vendor) {
		if len(w) >= 3 && slices.Contains(t, w) {
			return true
		}
	}
	return false
}
