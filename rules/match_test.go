package rules

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/bsodwatch/bsodwatch/analysis"
)

// ruleWith loads one rule whose match: body is m (YAML, flow or block style).
func ruleWith(t *testing.T, m string) *Rule {
	t.Helper()
	var b strings.Builder
	b.WriteString("rules:\n  - id: r\n    title: t\n    severity: low\n    match:\n")
	for _, line := range strings.Split(strings.TrimRight(m, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	s, err := LoadFS(fstest.MapFS{"r.yaml": {Data: []byte(b.String())}}, "")
	if err != nil {
		t.Fatalf("load %q: %v", m, err)
	}
	return s.Rules()[0]
}

// seed is the analysis of the seed's crash, as the parser reports it.
var seed = &analysis.Analysis{
	BugcheckCode:    "0x27",
	BugcheckName:    "RDR_FILE_SYSTEM",
	Args:            []string{"baad0080", "f78de840", "f78de53c", "b9ebf79d"},
	ExceptionCode:   "c0000005 (Access violation)",
	ProcessName:     "System",
	FailureBucketID: "0x27_SYMEVENT!SYMEvent_GetVMDataPtr+4dbd",
	BucketID:        "0x27_SYMEVENT!SYMEvent_GetVMDataPtr+4dbd",
	DefaultBucketID: "NULL_CLASS_PTR_DEREFERENCE",
	ModuleName:      "SYMEVENT",
	ImageName:       "SYMEVENT.SYS",
	SymbolName:      "SYMEVENT!SYMEvent_GetVMDataPtr+4dbd",
	Stack: []analysis.Frame{
		{Module: "SYMEVENT", Symbol: "SYMEVENT!SYMEvent_GetVMDataPtr+0x4dbd"},
		{Module: "nt", Symbol: "nt!IopCompleteUnloadOrDelete+0xce"},
		{Module: "nt", Symbol: "IoDeleteDevice+0x81"},
		{Module: "SYMEVENT", Symbol: "SYMEVENT+0x2888"},
	},
	ThirdPartyModule: "SYMEVENT",
	Modules: []analysis.Module{
		{Name: "SYMEVENT", ImagePath: `\??\C:\Program Files\Symantec\SYMEVENT.SYS`, Timestamp: "Tue Jul 19 21:10:15 2005 (42DDB287)"},
		{Name: "mrxsmb", ImageName: "mrxsmb.sys", Timestamp: "Sat Feb 17 13:59:09 2007 (45D6CACD)", FileVersion: "5.2.3790.2670 (srv03_sp1_gdr.070216-1710)"},
	},
	OSBuild:  3790,
	Arch:     "x86",
	Complete: true,
}

// native is what the native engine reports: no names but the driver list and header.
var native = &analysis.Analysis{
	BugcheckCode: "0x1000007e",
	Args:         []string{"0xffffffffc0000005", "0xfffff80012345678", "0x0", "0x0"},
	Modules: []analysis.Module{
		{Name: "ntoskrnl.exe", Timestamp: "0x5f9b6a3c"},
		{Name: "nvlddmkm.sys", Timestamp: "1602866753", FileVersion: "27.21.14.5638"},
	},
	OSBuild:  19041,
	Complete: true,
}

func TestMatchers(t *testing.T) {
	tests := []struct {
		name   string
		match  string
		in     *analysis.Analysis
		engine string
		want   []string // why lines; nil = must not match
	}{
		// bugcheck_code
		{"code in list", "bugcheck_code: [0x27, 0x7f]", seed, "cdb", []string{"bugcheck_code 0x27 in [0x27 0x7f]"}},
		{"code not in list", "bugcheck_code: 0x7f", seed, "cdb", nil},
		{"_M code equals its base", "bugcheck_code: 0x7e", native, "native", []string{"bugcheck_code 0x1000007e (base 0x7e) in [0x7e]"}},
		{"_M code in the rule", "bugcheck_code: 0x1000007e", native, "native", []string{"bugcheck_code 0x1000007e (base 0x7e) in [0x7e]"}},
		{"padded code", "bugcheck_code: 0x7f", &analysis.Analysis{BugcheckCode: "0x0000007F"}, "", []string{"bugcheck_code 0x0000007F in [0x7f]"}},
		{"no code", "bugcheck_code: 0x0", &analysis.Analysis{}, "", nil},
		{"exception code with text", "exception_code: 0xc0000005", seed, "", []string{"exception_code c0000005 (Access violation) in [0xc0000005]"}},
		{"exception code is not base-stripped", "exception_code: 0x80000003", &analysis.Analysis{ExceptionCode: "90000003"}, "", nil},
		// text fields
		{"bucket exact, any case", "bucket: 0x27_symevent!symevent_getvmdataptr+4DBD", seed, "", []string{`failure_bucket_id 0x27_SYMEVENT!SYMEvent_GetVMDataPtr+4dbd ~ "0x27_symevent!symevent_getvmdataptr+4DBD"`}},
		{"bucket glob", `bucket: {glob: "0x27_SYMEVENT!*"}`, seed, "", []string{`failure_bucket_id 0x27_SYMEVENT!SYMEvent_GetVMDataPtr+4dbd ~ glob "0x27_SYMEVENT!*"`}},
		{"bucket glob is anchored", `bucket: {glob: "SYMEVENT*"}`, seed, "", nil},
		{"bucket regex is unanchored", `bucket: {regex: "null_class_ptr"}`, seed, "", []string{`default_bucket_id NULL_CLASS_PTR_DEREFERENCE ~ regex "null_class_ptr"`}},
		{"bucket glob ? is one character", `bucket: {glob: "0x2?_*"}`, seed, "", []string{`failure_bucket_id 0x27_SYMEVENT!SYMEvent_GetVMDataPtr+4dbd ~ glob "0x2?_*"`}},
		{"module name, .sys optional", "module: symevent.sys", seed, "", []string{`module_name SYMEVENT ~ "symevent.sys"`}},
		{"image name matches module", "module: symevent", &analysis.Analysis{ImageName: "SYMEVENT.SYS"}, "", []string{`image_name SYMEVENT.SYS ~ "symevent"`}},
		{"module list", "module: [avgtdix, symevent]", seed, "", []string{`module_name SYMEVENT ~ "symevent"`}},
		{"module glob", `module: {glob: "sym*"}`, seed, "", []string{`module_name SYMEVENT ~ glob "sym*"`}},
		{"module glob against the stripped name", `module: {glob: "*event"}`, &analysis.Analysis{ImageName: "SYMEVENT.SYS"}, "", []string{`image_name SYMEVENT.SYS ~ glob "*event"`}},
		{"module is not a prefix", "module: symev", seed, "", nil},
		{"blamed module when the analysis names none", "module: contosoflt",
			&analysis.Analysis{BugcheckCode: "0x1e", BlamedModule: "contosoflt", BlamedBy: analysis.BlamedByFaultingIP}, "",
			[]string{`blamed_module (faulting_ip) contosoflt ~ "contosoflt"`}},
		{"blamed module under a placeholder MODULE_NAME", "module: contosoflt.sys",
			&analysis.Analysis{ModuleName: "Unknown_Module", BlamedModule: "contosoflt.sys", BlamedBy: analysis.BlamedByWhoCrashed}, "",
			[]string{`blamed_module (whocrashed) contosoflt.sys ~ "contosoflt.sys"`}},
		{"blamed module does not outrank a third-party frame", "module: contosoflt",
			&analysis.Analysis{ThirdPartyModule: "adatum", BlamedModule: "contosoflt", BlamedBy: analysis.BlamedByFaultingIP}, "", nil},
		{"third party module", "third_party_module: SymEvent", seed, "", []string{`third_party_module SYMEVENT ~ "SymEvent"`}},
		{"a third-party frame under another third-party MODULE_NAME is no culprit", "third_party_module: adatumwifi",
			&analysis.Analysis{ModuleName: "contoso_vpn", ThirdPartyModule: "adatumwifi"}, "", nil},
		{"... but it is on the stack", "stack_module: adatumwifi",
			&analysis.Analysis{ModuleName: "contoso_vpn", ThirdPartyModule: "adatumwifi", Stack: []analysis.Frame{{Module: "adatumwifi", Symbol: "adatumwifi+0x64399"}}}, "",
			[]string{`stack frame 0 module adatumwifi ~ "adatumwifi"`}},
		{"process, .exe optional", "process: system.exe", seed, "", []string{`process_name System ~ "system.exe"`}},
		{"symbol glob", `symbol: {glob: "symevent!*"}`, seed, "", []string{`symbol_name SYMEVENT!SYMEvent_GetVMDataPtr+4dbd ~ glob "symevent!*"`}},
		{"bugcheck name", "bugcheck_name: rdr_file_system", seed, "", []string{`bugcheck_name RDR_FILE_SYSTEM ~ "rdr_file_system"`}},
		{"problem class absent", "primary_problem_class: x", seed, "", nil},
		{"stack module", "stack_module: nt", seed, "", []string{`stack frame 1 module nt ~ "nt"`}},
		{"stack function bare", "stack_function: IoDeleteDevice", seed, "", []string{`stack frame 2 function IoDeleteDevice ~ "IoDeleteDevice"`}},
		{"stack function qualified", "stack_function: nt!iodeletedevice", seed, "", []string{`stack frame 2 function nt!IoDeleteDevice ~ "nt!iodeletedevice"`}},
		{"stack function regex", `stack_function: {regex: "^symevent!.*vmdata"}`, seed, "", []string{`stack frame 0 function SYMEVENT!SYMEvent_GetVMDataPtr ~ regex "^symevent!.*vmdata"`}},
		{"module+offset frames have no function", `stack_function: {glob: "*2888*"}`, seed, "", nil},
		{"loaded module from image path", "loaded_module: symevent", seed, "", []string{`loaded module SYMEVENT ~ "symevent"`}},
		{"loaded module by image name", "loaded_module: mrxsmb.sys", seed, "", []string{`loaded module mrxsmb ~ "mrxsmb.sys"`}},
		{"loaded module absent", "loaded_module: klif", seed, "", nil},
		// driver reference facts of the culprit
		{"driver kind from the reference", "driver_kind: [edr, antivirus-filter]", seed, "", []string{"driver_kind of culprit SYMEVENT.SYS (Broadcom (Symantec)) antivirus-filter in [edr antivirus-filter]"}},
		{"driver kind mismatch", "driver_kind: display", seed, "", nil},
		{"driver kind of an unknown driver", "driver_kind: network", &analysis.Analysis{ModuleName: "acmefltr"}, "", nil},
		{"driver kind from the caller's culprit", "driver_kind: display", &analysis.Analysis{ModuleName: "x", Culprit: &analysis.Culprit{Module: "x.sys", Kind: "display"}}, "", []string{"driver_kind of culprit x.sys (vendor unknown) display in [display]"}},
		{"driver vendor glob", `driver_vendor: {glob: "*symantec*"}`, seed, "", []string{`culprit SYMEVENT.SYS vendor Broadcom (Symantec) ~ glob "*symantec*"`}},
		{"driver vendor of a Windows module", "driver_vendor: microsoft", &analysis.Analysis{ModuleName: "nt", ImageName: "ntkrnlmp.exe"}, "", []string{`culprit ntkrnlmp.exe vendor Microsoft ~ "microsoft"`}},
		{"driver vendor unknown", "driver_vendor: {glob: \"*\"}", &analysis.Analysis{ModuleName: "acmefltr"}, "", nil},
		// arguments
		{"arg mask (RDBSS NTEXCEPT)", "arg1: {value: 0xbaad0000, mask: 0xffff0000}", seed, "", []string{"arg1 0xbaad0080 & 0xffff0000 = 0xbaad0000"}},
		{"arg mask mismatch", "arg1: {value: 0xca550000, mask: 0xffff0000}", seed, "", nil},
		{"arg exact, zero padded", "arg4: 0xb9ebf79d", seed, "", []string{"arg4 0xb9ebf79d = 0xb9ebf79d"}},
		{"arg list", "arg1: [0x1, {value: 0xc0000005, mask: 0xffffffff}]", native, "", []string{"arg1 0xffffffffc0000005 & 0xffffffff = 0xc0000005"}},
		{"arg absent", "arg2: 0x0", &analysis.Analysis{Args: []string{"0"}}, "", nil},
		// os build, engine, arch
		{"os build exact", "os_build: 3790", seed, "", []string{"os_build 3790 >= 3790 and <= 3790"}},
		{"os build range", "os_build: {from: 19041, before: 22000}", native, "", []string{"os_build 19041 >= 19041 and < 22000"}},
		{"os build out of range", "os_build: {to: 19040}", native, "", nil},
		{"os build list", "os_build: [19045, {from: 3790, to: 3790}]", seed, "", []string{"os_build 3790 >= 3790 and <= 3790"}},
		{"os build list, no range holds", "os_build: [19045, 22000]", seed, "", nil},
		{"os build unknown", "os_build: {from: 1}", &analysis.Analysis{}, "", nil},
		{"engine", "engine: native", native, "native", []string{"engine native in [native]"}},
		{"engine mismatch", "engine: cdb", native, "native", nil},
		{"arch", "arch: [x64, x86]", seed, "", []string{"arch x86 in [x64 x86]"}},
		// driver timestamp and version ranges, in every form the engines print
		{"driver timestamp from lmvm", "driver: {name: symevent, timestamp: {before: 2006-01-01}}", seed, "",
			[]string{"driver SYMEVENT timestamp 2005-07-20T02:10:15Z (Tue Jul 19 21:10:15 2005 (42DDB287)) < 2006-01-01T00:00:00Z"}},
		{"driver timestamp too new", "driver: {name: symevent, timestamp: {before: 2005-07-20T02:10:15Z}}", seed, "", nil},
		{"driver timestamp hex bound", "driver: {name: symevent, timestamp: {from: 0x42ddb287, to: 0x42ddb287}}", seed, "",
			[]string{"driver SYMEVENT timestamp 2005-07-20T02:10:15Z (Tue Jul 19 21:10:15 2005 (42DDB287)) >= 2005-07-20T02:10:15Z and <= 2005-07-20T02:10:15Z"}},
		{"driver timestamp native hex", "driver: {name: ntoskrnl, timestamp: {from: 2020-10-01, before: 2020-11-01}}", native, "",
			[]string{"driver ntoskrnl.exe timestamp 2020-10-30T01:19:56Z (0x5f9b6a3c) >= 2020-10-01T00:00:00Z and < 2020-11-01T00:00:00Z"}},
		{"driver timestamp native unix seconds", "driver: {name: nvlddmkm, timestamp: {from: 2020-10-16T00:00:00Z}}", native, "",
			[]string{"driver nvlddmkm.sys timestamp 2020-10-16T16:45:53Z (1602866753) >= 2020-10-16T00:00:00Z"}},
		{"driver version", "driver: {name: nvlddmkm, version: {before: 27.21.14.6000}}", native, "",
			[]string{"driver nvlddmkm.sys file_version 27.21.14.5638 < 27.21.14.6000"}},
		{"driver version with build lab", "driver: {name: mrxsmb, version: {from: 5.2.3790.2000, to: 5.2.3790.2670}}", seed, "",
			[]string{"driver mrxsmb file_version 5.2.3790.2670 >= 5.2.3790.2000 and <= 5.2.3790.2670"}},
		{"driver version too new", "driver: {name: nvlddmkm, version: {from: '28'}}", native, "", nil},
		{"driver version from image_version", "driver: {name: ndis, version: {from: '10.0'}}",
			&analysis.Analysis{ModuleName: "NDIS", ImageName: "NDIS.SYS", ImageVersion: "10.0.16299.99"}, "",
			[]string{"driver NDIS image_version 10.0.16299.99 >= 10.0"}},
		{"driver without version", "driver: {name: symevent, version: {from: '1'}}", seed, "", nil},
		{"driver name and time together", "driver: {name: mrxsmb, timestamp: {from: 2007-01-01}, version: {from: '5.2'}}", seed, "",
			[]string{"driver mrxsmb timestamp 2007-02-17T09:28:45Z (Sat Feb 17 13:59:09 2007 (45D6CACD)) >= 2007-01-01T00:00:00Z, file_version 5.2.3790.2670 >= 5.2"}},
		// combinations
		{"implicit all", "bugcheck_code: 0x27\nmodule: symevent", seed, "", []string{"bugcheck_code 0x27 in [0x27]", `module_name SYMEVENT ~ "symevent"`}},
		{"all fails on one", "all:\n  - bugcheck_code: 0x27\n  - module: nt", seed, "", nil},
		{"any takes the first that holds", "any:\n  - module: nt\n  - stack_module: symevent\n  - process: system", seed, "", []string{`stack frame 0 module SYMEVENT ~ "symevent"`}},
		{"any none", "any:\n  - module: nt\n  - process: csrss", seed, "", nil},
		{"not", "bugcheck_code: 0x27\nnot: {module: [nt, rdbss]}", seed, "", []string{"bugcheck_code 0x27 in [0x27]", `not module ["nt" "rdbss"]: no fact met it`}},
		{"not fails", "not: {module: symevent}", seed, "", nil},
		{"nested", "any:\n  - all: [{bugcheck_code: 0x7f}, {arg1: 0x8}]\n  - all: [{bugcheck_code: 0x27}, {not: {arg1: 0x8}}]", seed, "",
			[]string{"bugcheck_code 0x27 in [0x27]", "not arg1 in [0x8]: no fact met it"}},
		{"nil analysis", "bugcheck_code: 0x27", nil, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ruleWith(t, tc.match)
			m, ok := r.Match(Input{Analysis: tc.in, Engine: tc.engine})
			if ok != (tc.want != nil) {
				t.Fatalf("matched=%v, want %v (why %q)", ok, tc.want != nil, m.Why)
			}
			if diff := cmp.Diff(tc.want, m.Why); ok && diff != "" {
				t.Errorf("why (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSpecificity(t *testing.T) {
	tests := []struct {
		match string
		want  int
	}{
		{"bugcheck_code: 0x27", 1},
		{"bugcheck_code: 0x27\nmodule: x\narg1: 0x1", 3},
		{"any: [{module: x}, {all: [{module: y}, {process: z}]}]", 1},
		{"not: {module: x}", 1},
		{"driver: {name: x, timestamp: {from: 2001-01-01}, version: {from: '1'}}", 3},
	}
	for _, tc := range tests {
		if got := ruleWith(t, tc.match).Specificity(); got != tc.want {
			t.Errorf("%q: specificity %d, want %d", tc.match, got, tc.want)
		}
	}
}

// TestMatchOrder checks the documented order: severity, then specificity, then id.
func TestMatchOrder(t *testing.T) {
	fsys := fstest.MapFS{"r.yaml": {Data: []byte(`rules:
  - {id: c-low, title: t, severity: low, match: {bugcheck_code: 0x27}}
  - {id: b-high-general, title: t, severity: high, match: {bugcheck_code: 0x27}}
  - {id: a-high-general, title: t, severity: high, match: {module: symevent}}
  - {id: z-high-specific, title: t, severity: high, match: {bugcheck_code: 0x27, module: symevent}}
  - {id: critical, title: t, severity: critical, match: {process: system}}
  - {id: info, title: t, severity: info, match: {arch: x86}}
  - {id: medium-miss, title: t, severity: medium, match: {bugcheck_code: 0x7f}}
`)}}
	s, err := LoadFS(fsys, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range s.Match(Input{Analysis: seed, Engine: "cdb"}) {
		got = append(got, m.ID)
		if len(m.Why) == 0 || m.Title != "t" {
			t.Errorf("%s: match without why or title: %+v", m.ID, m)
		}
	}
	want := []string{"critical", "z-high-specific", "a-high-general", "b-high-general", "c-low", "info"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if (*Set)(nil).Match(Input{Analysis: seed}) != nil || (*Set)(nil).Version() != "" {
		t.Error("nil set matched")
	}
}

func TestMatchCarriesRuleText(t *testing.T) {
	s, err := LoadFS(fstest.MapFS{"r.yaml": {Data: []byte(`rules:
  - id: x
    title: T
    severity: high
    summary: S
    explanation: E
    remedy: [R]
    links: [https://example.com/a]
    owner: O
    tags: [a, b]
    match: {bugcheck_code: 0x27}
`)}}, "")
	if err != nil {
		t.Fatal(err)
	}
	got := s.Match(Input{Analysis: seed})
	want := []Match{{ID: "x", Title: "T", Severity: "high", Summary: "S", Explanation: "E", Remedy: []string{"R"},
		Links: []string{"https://example.com/a"}, Owner: "O", Tags: []string{"a", "b"}, Why: []string{"bugcheck_code 0x27 in [0x27]"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
