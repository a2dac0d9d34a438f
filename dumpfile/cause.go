package dumpfile

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Confidence says how far a probable cause can be trusted.
type Confidence string

// Confidence levels.
const (
	High   Confidence = "high"
	Medium Confidence = "medium"
	Low    Confidence = "low"
)

// Outcome is the kind of answer a probable cause gives.
type Outcome string

// Outcomes.
const (
	OutcomeModule   Outcome = "module"   // a driver or module is blamed
	OutcomeManual   Outcome = "manual"   // someone crashed the machine on purpose
	OutcomeHardware Outcome = "hardware" // the CPU or platform reported a hardware error
	OutcomeLive     Outcome = "live"     // a live dump or debugger break: not a crash
	OutcomeNoCrash  Outcome = "no-crash" // a minidump taken without an exception
	OutcomeUnknown  Outcome = "unknown"
)

// Cause is the reader's guess at what caused the crash, with the evidence it used. Without
// symbols this is a heuristic: report it as probable.
type Cause struct {
	Outcome    Outcome
	Module     string // file name: amdppm.sys; "" when no module is blamed
	Offset     uint64 // of Address inside Module
	Address    uint64
	HasAddress bool
	Unloaded   bool // Module had been unloaded before the crash
	Reason     string
	Confidence Confidence
	Evidence   []string
}

// Location is "module+0xoffset", or the bare address when no module is known.
func (c Cause) Location() string {
	switch {
	case c.Module != "" && c.HasAddress:
		return fmt.Sprintf("%s+0x%x", c.Module, c.Offset)
	case c.HasAddress:
		return fmt.Sprintf("0x%x", c.Address)
	}
	return c.Module
}

// Hit is an address resolved to a module.
type Hit struct {
	Module   string // file name
	Offset   uint64
	Address  uint64
	Unloaded bool
}

func (h Hit) String() string { return fmt.Sprintf("%s+0x%x", h.Module, h.Offset) }

// addressParam is, per bug check, the 1-based parameter that holds a code address
// (Microsoft's bug check reference).
var addressParam = map[uint32]int{
	0x0A: 4, 0xD1: 4, // instruction that referenced memory
	0x1E: 2, 0x7E: 2, 0x8E: 2, // exception address
	0x3B:  2, // instruction address
	0x50:  3, // faulting instruction, when known
	0xD5:  3,
	0xD6:  3,
	0x116: 2, // pointer into the responsible display driver
}

// moduleIndex finds the module holding an address.
type moduleIndex struct {
	mods     []Module // sorted by Base
	unloaded []Unloaded
}

func newModuleIndex(d *Dump) *moduleIndex {
	src := d.Drivers
	if d.Format == FormatMinidump {
		src = d.Modules
	}
	mods := make([]Module, 0, len(src))
	for _, m := range src {
		if m.Size > 0 {
			mods = append(mods, m)
		}
	}
	slices.SortFunc(mods, func(a, b Module) int { return cmp.Compare(a.Base, b.Base) })
	return &moduleIndex{mods: mods, unloaded: d.UnloadedDrivers}
}

func (x *moduleIndex) lookup(addr uint64) (Hit, bool) {
	i := sort.Search(len(x.mods), func(i int) bool { return x.mods[i].Base > addr }) - 1
	// Images may overlap in odd dumps: check a few below as well.
	for j := i; j >= 0 && j > i-4; j-- {
		if m := x.mods[j]; addr >= m.Base && addr-m.Base < uint64(m.Size) {
			return Hit{Module: m.Name(), Offset: addr - m.Base, Address: addr}, true
		}
	}
	for _, u := range x.unloaded {
		if addr >= u.Start && addr < u.End {
			return Hit{Module: u.Name, Offset: addr - u.Start, Address: addr, Unloaded: true}, true
		}
	}
	return Hit{}, false
}

// ModuleAt returns the loaded (or unloaded) module that holds addr.
func (d *Dump) ModuleAt(addr uint64) (Hit, bool) { return newModuleIndex(d).lookup(addr) }

// StackHits scans the raw stack of a triage dump, pointer by pointer from its top, and returns
// every value that falls inside a loaded driver. Stale values are in there too.
func (d *Dump) StackHits() []Hit { return d.stackHits(newModuleIndex(d)) }

func (d *Dump) stackHits(x *moduleIndex) []Hit {
	step := 4
	if d.is64 {
		step = 8
	}
	var hits []Hit
	for off := 0; off+step <= len(d.Stack); off += step {
		var v uint64
		if step == 8 {
			v = le.Uint64(d.Stack[off:])
		} else {
			v = uint64(le.Uint32(d.Stack[off:]))
		}
		if v == 0 {
			continue
		}
		if h, ok := x.lookup(v); ok && !h.Unloaded {
			hits = append(hits, h)
		}
	}
	return hits
}

// ModuleSequence is the order of modules on the stack, repeats in a row folded, at most n.
func ModuleSequence(hits []Hit, n int) []string {
	var seq []string
	for _, h := range hits {
		if len(seq) > 0 && seq[len(seq)-1] == h.Module {
			continue
		}
		if len(seq) == n {
			break
		}
		seq = append(seq, h.Module)
	}
	return seq
}

// IsKernelImage reports whether name is a kernel image file (ntoskrnl.exe, ntkrnlmp.exe,
// ntkrnlpa.exe, ntkrpamp.exe), which the debugger calls "nt".
func IsKernelImage(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "ntoskrnl") || strings.HasPrefix(n, "ntkrnl") || strings.HasPrefix(n, "ntkrpamp")
}

// IsCoreModule reports whether a kernel module is the kernel itself or its close companions
// (hal, kernel debugger transports), which are usually the victim, not the cause.
func IsCoreModule(name string) bool {
	n := strings.ToLower(name)
	switch {
	case IsKernelImage(n):
		return true
	case strings.HasPrefix(n, "hal") && strings.HasSuffix(n, ".dll"):
		return true
	case strings.HasPrefix(n, "kd") && strings.HasSuffix(n, ".dll"):
		return true
	}
	return false
}

// ProbableCause applies the priority rules: special outcomes first (manual crash, hardware
// error, live dump), then the bug check parameter that holds a code address, then the
// context's program counter, then the first non-core driver on the stack, else the kernel
// with low confidence. Minidumps blame the module that holds the exception address.
func (d *Dump) ProbableCause() Cause {
	if d.Format == FormatMinidump {
		return d.userCause()
	}
	if !d.Kernel() {
		return Cause{Outcome: OutcomeUnknown, Reason: "legacy user dump: only the header is read", Confidence: Low}
	}
	x := newModuleIndex(d)
	hits := d.stackHits(x)
	var ev []string
	if seq := ModuleSequence(hits, 12); len(seq) > 0 {
		ev = append(ev, "modules on the stack: "+strings.Join(seq, ", "))
	}
	var pcHit Hit
	var pcOK bool
	if d.HasContext {
		if pcHit, pcOK = x.lookup(d.ContextPC); pcOK {
			ev = append(ev, "context PC at "+pcHit.String())
		}
	}
	code := d.BugcheckCode
	base := code &^ 0x10000000
	name := BugcheckName(code)
	label := fmt.Sprintf("0x%x", code)
	if name != "" {
		label += " " + name
	}
	switch {
	case d.Live():
		return Cause{Outcome: OutcomeLive, Reason: "live dump taken from a running system: the machine did not crash", Confidence: High, Evidence: ev}
	case code == 0:
		return Cause{Outcome: OutcomeLive, Reason: "no bug check code: a dump taken by a debugger, not a crash", Confidence: High, Evidence: ev}
	case code == 0xDEADDEAD || base == 0xE2 || base == 0x1C8:
		return Cause{Outcome: OutcomeManual, Reason: "manually initiated crash (" + label + "): no driver to blame", Confidence: High, Evidence: ev}
	case base == 0x124 || base == 0x9C:
		return Cause{Outcome: OutcomeHardware, Module: "hardware", Reason: "hardware error reported by the platform (" + label + "): check the WHEA event log, CPU, memory and firmware", Confidence: Medium, Evidence: ev}
	}

	// The first rule that finds a non-core module picks it; later rules only add evidence
	// and, when they agree, confidence.
	const (
		byParam = iota + 1
		byPC
		byStack
	)
	var pick *Cause
	pickedBy := 0
	choose := func(h Hit, conf Confidence, rule int, why string) {
		if pick == nil {
			c := Cause{Outcome: OutcomeModule, Module: h.Module, Offset: h.Offset, Address: h.Address, HasAddress: true, Unloaded: h.Unloaded, Confidence: conf, Reason: why}
			if h.Unloaded {
				c.Reason += " (a driver unloaded before the crash)"
			}
			pick, pickedBy = &c, rule
		}
	}
	if p, ok := addressParam[base]; ok {
		addr := d.BugcheckParams[p-1]
		if h, ok := x.lookup(addr); ok && addr != 0 {
			ev = append([]string{fmt.Sprintf("bug check parameter %d (0x%x) is in %s", p, addr, h)}, ev...)
			if !IsCoreModule(h.Module) {
				choose(h, High, byParam, fmt.Sprintf("%s: bug check parameter %d holds the faulting code address in %s", label, p, h))
			}
		}
	}
	if pcOK && !IsCoreModule(pcHit.Module) {
		choose(pcHit, Medium, byPC, fmt.Sprintf("%s: the crash context's program counter is in %s", label, pcHit))
	}
	var stackHit Hit
	for _, h := range hits {
		if !IsCoreModule(h.Module) {
			stackHit = h
			ev = append(ev, "first non-core driver on the stack: "+h.String())
			choose(h, Low, byStack, fmt.Sprintf("%s: %s is the first driver on the stack that is not the kernel's", label, h))
			break
		}
	}
	if pick != nil {
		agree := 0
		if pickedBy != byPC && pcOK && pcHit.Module == pick.Module {
			agree++
		}
		if pickedBy != byStack && stackHit.Module == pick.Module {
			agree++
		}
		if pick.Confidence == Low && agree > 0 {
			pick.Confidence = Medium
		}
		pick.Evidence = ev
		return *pick
	}
	c := Cause{Outcome: OutcomeModule, Confidence: Low, Evidence: ev,
		Reason: label + ": no driver outside the kernel found in the parameters, context or stack"}
	if len(d.Drivers) > 0 {
		c.Module = d.Drivers[0].Name()
	}
	if pcOK {
		c.Module, c.Offset, c.Address, c.HasAddress = pcHit.Module, pcHit.Offset, pcHit.Address, true
	}
	return c
}

// systemUserModules raise exceptions on behalf of their callers.
var systemUserModules = map[string]bool{
	"ntdll.dll": true, "kernelbase.dll": true, "kernel32.dll": true, "ucrtbase.dll": true,
	"msvcrt.dll": true, "vcruntime140.dll": true,
}

func (d *Dump) userCause() Cause {
	var ev []string
	if len(d.Modules) > 0 {
		ev = append(ev, "main module: "+d.Modules[0].Name())
	}
	e := d.Exception
	if e == nil {
		return Cause{Outcome: OutcomeNoCrash, Reason: "no exception stream: the dump was taken without a crash", Confidence: High, Evidence: ev}
	}
	label := fmt.Sprintf("0x%x", e.Code)
	if n := ExceptionName(e.Code); n != "" {
		label += " " + n
	}
	if e.Code == 0xC0000005 && len(e.Params) >= 2 {
		op := map[uint64]string{0: "read of", 1: "write to", 8: "execution of"}[e.Params[0]]
		if op != "" {
			ev = append(ev, fmt.Sprintf("access violation: %s 0x%x", op, e.Params[1]))
		}
	}
	x := newModuleIndex(d)
	if d.HasContext && d.ContextPC != e.Address {
		if h, ok := x.lookup(d.ContextPC); ok {
			ev = append(ev, "exception context PC at "+h.String())
		}
	}
	h, ok := x.lookup(e.Address)
	if !ok {
		return Cause{Outcome: OutcomeUnknown, Address: e.Address, HasAddress: true, Confidence: Low, Evidence: ev,
			Reason: fmt.Sprintf("exception %s at 0x%x, outside every loaded module", label, e.Address)}
	}
	c := Cause{Outcome: OutcomeModule, Module: h.Module, Offset: h.Offset, Address: h.Address, HasAddress: true, Confidence: Medium, Evidence: ev,
		Reason: fmt.Sprintf("exception %s at %s", label, h)}
	switch {
	case e.Code == 0x80000003:
		c.Confidence = Low
		c.Reason += " (a breakpoint: usually a debugger attaching or DebugBreak, not a crash)"
	case systemUserModules[strings.ToLower(h.Module)]:
		c.Confidence = Low
		c.Reason += " (a system library: the caller is the likelier culprit)"
	}
	return c
}
