package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/drivers"
)

// facts is an analysis prepared once per Match call (lower-cased names, parsed numbers), so
// that a thousand rules do not each redo the same work.
type facts struct {
	a      *analysis.Analysis
	engine string
	// explain asks conditions for their why lines; off while merely testing.
	explain bool

	code, exc       uint64
	hasCode, hasExc bool
	args            [4]uint64
	hasArg          [4]bool

	// culprit is the analysis' culprit with its driver-reference facts (vendor, kind):
	// a.Culprit when the caller set it, else what drivers.Attribute says.
	culprit *analysis.Culprit

	moduleName, imageName, thirdParty, process, symbol nameFact
	bugcheckName, problemClass                         nameFact
	buckets                                            []bucketFact

	stack []frameFact
	// lists holds, per text field a rule can name, the labelled facts it is matched against.
	lists [numFields][]labelled

	modsReady bool
	mods      []modFact

	// indexes map a fact's comparable form to its positions, built on first use, so that
	// exact names are looked up rather than compared against every frame or module.
	indexes  [numFields]map[string][]int
	modIndex map[string][]int
}

// index returns the positions of field's facts by exact key: the stripped name for name
// fields, the lower-case text otherwise.
func (f *facts) index(field int, name bool) map[string][]int {
	if idx := f.indexes[field]; idx != nil {
		return idx
	}
	list := f.list(field)
	idx := make(map[string][]int, len(list))
	for i, l := range list {
		k := l.v.lower
		if name {
			k = l.v.stripped
		}
		if n := len(idx[k]); n == 0 || idx[k][n-1] != i {
			idx[k] = append(idx[k], i)
		}
	}
	f.indexes[field] = idx
	return idx
}

// moduleIndex maps each loaded module's stripped name and image name to its positions.
func (f *facts) moduleIndex() map[string][]int {
	if f.modIndex != nil {
		return f.modIndex
	}
	mods := f.modules()
	f.modIndex = make(map[string][]int, 2*len(mods))
	for i, m := range mods {
		f.modIndex[m.name.stripped] = append(f.modIndex[m.name.stripped], i)
		if m.image.stripped != m.name.stripped {
			f.modIndex[m.image.stripped] = append(f.modIndex[m.image.stripped], i)
		}
	}
	return f.modIndex
}

// say appends one why line when explanations are asked for.
func (f *facts) say(why []string, format string, args ...any) []string {
	if !f.explain {
		return why
	}
	return append(why, fmt.Sprintf(format, args...))
}

// nameFact is one textual fact in the forms matchers compare against.
type nameFact struct {
	raw      string
	lower    string
	stripped string // lower without .sys/.exe/.dll
}

func mkName(s string) nameFact {
	s = strings.TrimSpace(s)
	l := strings.ToLower(s)
	return nameFact{raw: s, lower: l, stripped: stripExt(l)}
}

type bucketFact struct {
	field string
	v     nameFact
}

type frameFact struct {
	module nameFact
	fn     nameFact // function without module and offset
	qual   nameFact // module!function
}

type modFact struct {
	name, image nameFact
	src         *analysis.Module // parsed on first use: most modules never are
	parsed      bool
	ts          time.Time
	hasTS       bool
	tsRaw       string
	versions    []versionFact
}

// parse fills in the module's timestamp and versions.
func (m *modFact) parse() {
	if m.parsed {
		return
	}
	m.parsed = true
	m.tsRaw = m.src.Timestamp
	m.ts, m.hasTS = parseDriverTime(m.src.Timestamp)
	for _, fv := range []struct{ field, raw string }{{"file_version", m.src.FileVersion}, {"product_version", m.src.ProductVersion}} {
		if v, ok := parseVersion(fv.raw); ok {
			m.versions = append(m.versions, versionFact{fv.field, fv.raw, v})
		}
	}
}

type versionFact struct {
	field string
	raw   string
	v     version
}

func newFacts(in Input) *facts {
	a := in.Analysis
	if a == nil {
		a = &analysis.Analysis{}
	}
	f := &facts{a: a, engine: strings.ToLower(strings.TrimSpace(in.Engine))}
	if a.BugcheckCode != "" {
		f.code, f.hasCode = parseHex(a.BugcheckCode)
	}
	if a.ExceptionCode != "" {
		// "c0000005", "0xc0000005", "c0000005 (Access violation)".
		fields := strings.Fields(a.ExceptionCode)
		if len(fields) > 0 {
			f.exc, f.hasExc = parseHex(fields[0])
		}
	}
	for i := 0; i < 4 && i < len(a.Args); i++ {
		f.args[i], f.hasArg[i] = parseHex(a.Args[i])
	}
	f.culprit = a.Culprit
	if f.culprit == nil {
		cp := *a // Attribute writes the suspect: not into the caller's analysis
		drivers.Attribute(&cp)
		f.culprit = cp.Culprit
	}
	if f.culprit == nil {
		f.culprit = &analysis.Culprit{}
	}
	f.moduleName = mkName(a.ModuleName)
	f.imageName = mkName(a.ImageName)
	// The innermost third-party frame counts as "at fault" only while it is the culprit:
	// when the analysis' own MODULE_NAME is another third-party driver, the frame is a
	// bystander on the stack (stack_module still sees it).
	if a.ThirdPartyModule != "" && a.CulpritName() == a.ThirdPartyModule {
		f.thirdParty = mkName(a.ThirdPartyModule)
	}
	f.process = mkName(a.ProcessName)
	f.symbol = mkName(a.SymbolName)
	f.bugcheckName = mkName(a.BugcheckName)
	f.problemClass = mkName(a.PrimaryProblemClass)
	for _, b := range []bucketFact{
		{"failure_bucket_id", mkName(a.FailureBucketID)},
		{"bucket_id", mkName(a.BucketID)},
		{"default_bucket_id", mkName(a.DefaultBucketID)},
	} {
		if b.v.raw != "" {
			f.buckets = append(f.buckets, b)
		}
	}
	f.stack = make([]frameFact, 0, len(a.Stack))
	for _, fr := range a.Stack {
		f.stack = append(f.stack, newFrameFact(fr))
	}
	one := func(label string, v nameFact) []labelled {
		if v.raw == "" {
			return nil
		}
		return []labelled{{label, v}}
	}
	f.lists[fieldModule] = append(one("module_name", f.moduleName), one("image_name", f.imageName)...)
	if a.CulpritIsBlamed() {
		// No MODULE_NAME or IMAGE_NAME: the module FAULTING_IP, a crash tool's report or the
		// stop screen blames is the faulting module.
		f.lists[fieldModule] = append(f.lists[fieldModule], labelled{"blamed_module (" + a.BlamedBy + ")", mkName(a.BlamedModule)})
	}
	f.lists[fieldThirdParty] = one("third_party_module", f.thirdParty)
	f.lists[fieldProcess] = one("process_name", f.process)
	f.lists[fieldSymbol] = one("symbol_name", f.symbol)
	f.lists[fieldBugcheckName] = one("bugcheck_name", f.bugcheckName)
	f.lists[fieldProblemClass] = one("primary_problem_class", f.problemClass)
	f.lists[fieldDriverVendor] = one("culprit "+f.culprit.Module+" vendor", mkName(f.culprit.Vendor))
	for _, b := range f.buckets {
		f.lists[fieldBucket] = append(f.lists[fieldBucket], labelled{b.field, b.v})
	}
	for i, fr := range f.stack {
		label := "stack frame " + strconv.Itoa(i)
		if fr.module.raw != "" {
			f.lists[fieldStackModule] = append(f.lists[fieldStackModule], labelled{label + " module", fr.module})
		}
		if fr.fn.raw != "" {
			f.lists[fieldStackFunction] = append(f.lists[fieldStackFunction],
				labelled{label + " function", fr.fn}, labelled{label + " function", fr.qual})
		}
	}
	return f
}

// Text fields a rule can name; see textFields in load.go for their keys.
const (
	fieldBucket = iota
	fieldModule
	fieldThirdParty
	fieldProcess
	fieldSymbol
	fieldBugcheckName
	fieldProblemClass
	fieldStackModule
	fieldStackFunction
	fieldLoadedModule
	fieldDriverVendor
	numFields
)

// list returns the labelled facts of one text field.
func (f *facts) list(field int) []labelled {
	if field == fieldLoadedModule && f.lists[field] == nil {
		for _, m := range f.modules() {
			if m.name.raw != "" {
				f.lists[field] = append(f.lists[field], labelled{"loaded module", m.name})
			}
			if m.image.raw != "" && m.image.stripped != m.name.stripped {
				f.lists[field] = append(f.lists[field], labelled{"loaded module image", m.image})
			}
		}
	}
	return f.lists[field]
}

// newFrameFact splits a frame into module and function whichever way the parser spelled
// it: {module: "SYMEVENT", symbol: "SYMEVENT!SYMEvent_GetVMDataPtr+0x4dbd"} or
// {module: "nt", symbol: "IoDeleteDevice+0x81"}.
func newFrameFact(fr analysis.Frame) frameFact {
	mod, fn := strings.TrimSpace(fr.Module), strings.TrimSpace(fr.Symbol)
	if i := strings.IndexByte(fn, '!'); i >= 0 {
		if mod == "" {
			mod = fn[:i]
		}
		fn = fn[i+1:]
	}
	if i := strings.LastIndexByte(fn, '+'); i > 0 {
		fn = fn[:i]
	}
	if strings.HasPrefix(fn, "0x") || fn == "" {
		fn = "" // module+offset without symbols: there is no function
	}
	ff := frameFact{module: mkName(mod), fn: mkName(fn)}
	if fn != "" {
		q := mkName(mod + "!" + fn)
		q.stripped = ff.module.stripped + "!" + ff.fn.lower
		ff.qual = q
	}
	return ff
}

// modules prepares the loaded-module list on first use: most rules never look at it.
func (f *facts) modules() []modFact {
	if f.modsReady {
		return f.mods
	}
	f.modsReady = true
	f.mods = make([]modFact, 0, len(f.a.Modules))
	for i := range f.a.Modules {
		m := &f.a.Modules[i]
		mf := modFact{name: mkName(m.Name), image: mkName(m.ImageName), src: m}
		if mf.image.raw == "" && m.ImagePath != "" {
			p := m.ImagePath
			if i := strings.LastIndexAny(p, `\/`); i >= 0 {
				p = p[i+1:]
			}
			mf.image = mkName(p)
		}
		f.mods = append(f.mods, mf)
	}
	// The faulting image's version printed by !analyze (IMAGE_VERSION) counts as a
	// version of that driver even without an lmvm block.
	if v, ok := parseVersion(f.a.ImageVersion); ok && (f.moduleName.raw != "" || f.imageName.raw != "") {
		f.mods = append(f.mods, modFact{name: f.moduleName, image: f.imageName, parsed: true,
			versions: []versionFact{{"image_version", f.a.ImageVersion, v}}})
	}
	return f.mods
}
