package dumpfile_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/dumpfile"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// expectedFiles loads ../shared/dumps/expected/expected.json: values verified by other
// people's parsers, keyed by path relative to the dumps folder.
func expectedFiles(t *testing.T) (string, map[string]map[string]any) {
	t.Helper()
	dir := sharedtest.Dir(t, "dumps")
	raw, err := os.ReadFile(filepath.Join(dir, "expected", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]map[string]any `json:"files"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Files) < 20 {
		t.Fatalf("expected.json lists only %d files", len(doc.Files))
	}
	return dir, doc.Files
}

func hexOf(v uint64) string { return fmt.Sprintf("0x%x", v) }

func num(t *testing.T, v any) uint64 {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return uint64(x)
	case string:
		n, err := strconv.ParseUint(strings.TrimPrefix(x, "0x"), 16, 64)
		if err != nil {
			t.Fatalf("bad number %q", x)
		}
		return n
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}

var archOf = map[string]string{"AMD64": "x64", "ARM64": "arm64", "ARMNT": "arm", "x86": "x86", "I386": "x86"}

func TestRealDumps(t *testing.T) {
	dir, files := expectedFiles(t)
	// Every dump in the folder must be covered by expected.json, so none goes untested.
	all, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	for _, p := range all {
		rel, _ := filepath.Rel(dir, p)
		if _, ok := files[filepath.ToSlash(rel)]; !ok && !strings.HasPrefix(rel, "expected") {
			t.Errorf("%s has no entry in expected.json", rel)
		}
	}
	for rel, want := range files {
		if strings.HasPrefix(rel, "expected/") {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			d, err := dumpfile.Open(filepath.Join(dir, filepath.FromSlash(rel)))
			switch cat := strings.Split(rel, "/")[0]; {
			case cat == "kernel":
				if err != nil {
					t.Fatal(err)
				}
				checkKernel(t, d, want)
			case cat == "user":
				if err != nil {
					t.Fatal(err)
				}
				checkMinidump(t, d, want)
			case cat == "other-os":
				if !errors.Is(err, dumpfile.ErrNotWindowsDump) {
					t.Fatalf("err = %v, want ErrNotWindowsDump", err)
				}
			case cat == "wrapped":
				if !errors.Is(err, dumpfile.ErrCompressedCAB) {
					t.Fatalf("err = %v, want ErrCompressedCAB", err)
				}
			case cat == "malformed":
				if !errors.Is(err, dumpfile.ErrTruncated) && !errors.Is(err, dumpfile.ErrCorrupt) {
					t.Fatalf("err = %v, want ErrTruncated or ErrCorrupt", err)
				}
				if e, _ := want["error"].(string); strings.Contains(e, "truncated") && !errors.Is(err, dumpfile.ErrTruncated) {
					t.Fatalf("err = %v, want ErrTruncated (%s)", err, e)
				}
				if d != nil {
					t.Fatalf("a malformed minidump returned a Dump: %+v", d)
				}
			default:
				t.Fatalf("unknown category %q", cat)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func checkKernel(t *testing.T, d *dumpfile.Dump, w map[string]any) {
	t.Helper()
	eq := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	eq("format", d.Format, w["signature"])
	eq("is64", d.Is64(), w["is64"])
	eq("arch", d.Arch, archOf[w["machine"].(string)])
	eq("machine", hexOf(uint64(d.Machine)), w["machine_image_type"])
	eq("processors", d.Processors, num(t, w["number_processors"]))
	eq("build", d.Build, num(t, w["minor_version_build"]))
	eq("dump type", d.DumpTypeCode, num(t, w["dump_type"]))
	eq("dump type name", d.DumpType, "triage")
	eq("bugcheck", hexOf(uint64(d.BugcheckCode)), w["bugcheck_code"])
	for i, p := range w["bugcheck_params"].([]any) {
		eq(fmt.Sprintf("P%d", i+1), hexOf(d.BugcheckParams[i]), p)
	}
	wantTime, err := time.Parse(time.RFC3339Nano, w["system_time_utc"].(string))
	if err != nil {
		t.Fatal(err)
	}
	eq("system time", d.SystemTime.Truncate(time.Microsecond).Format(time.RFC3339Nano), wantTime.Format(time.RFC3339Nano))
	eq("uptime", d.Uptime, time.Duration(num(t, w["system_uptime_100ns"]))*100)
	eq("product type", d.ProductType, num(t, w["product_type"]))
	eq("minidump fields", hexOf(uint64(d.MiniDumpFields)), w["mini_dump_fields"])
	if w["attributes"] == nil {
		eq("has attributes", d.HasAttributes, false)
	} else {
		eq("attributes", hexOf(uint64(d.Attributes)), w["attributes"])
	}
	if w["boot_id"] == nil {
		eq("has boot id", d.HasBootID, false)
	} else {
		eq("boot id", d.BootID, num(t, w["boot_id"]))
	}
	eq("KdDebuggerDataBlock", hexOf(d.KdDebuggerData), w["kd_debugger_data_block"])
	eq("PsLoadedModuleList", hexOf(d.PsLoadedModules), w["ps_loaded_module_list"])
	eq("DirectoryTableBase", hexOf(d.DirectoryBase), w["directory_table_base"])
	if d.Exception == nil {
		t.Fatal("no exception record")
	}
	eq("exception code", hexOf(uint64(d.Exception.Code)), w["exception_code"])
	eq("exception address", hexOf(d.Exception.Address), w["exception_address"])
	eq("NtBuildLab", d.NtBuildLab, w["nt_build_lab"])
	eq("driver count", len(d.Drivers), num(t, w["driver_count"]))
	for i, x := range w["drivers_first3"].([]any) {
		m := x.(map[string]any)
		if i >= len(d.Drivers) {
			t.Fatalf("only %d drivers", len(d.Drivers))
		}
		got := d.Drivers[i]
		eq(fmt.Sprintf("driver %d path", i), got.Path, m["name"])
		eq(fmt.Sprintf("driver %d base", i), hexOf(got.Base), m["base"])
		eq(fmt.Sprintf("driver %d size", i), hexOf(uint64(got.Size)), m["size"])
		eq(fmt.Sprintf("driver %d timestamp", i), hexOf(uint64(got.Timestamp)), m["timestamp"])
	}
	unl := w["unloaded_drivers"].([]any)
	eq("unloaded count", len(d.UnloadedDrivers), len(unl))
	for i, x := range unl {
		if i >= len(d.UnloadedDrivers) {
			break
		}
		m, got := x.(map[string]any), d.UnloadedDrivers[i]
		eq(fmt.Sprintf("unloaded %d", i), fmt.Sprintf("%s %s %s", got.Name, hexOf(got.Start), hexOf(got.End)),
			fmt.Sprintf("%s %s %s", m["name"], m["start"], m["end"]))
	}

	// The inputs of the probable-cause heuristic, against the independently computed ones.
	h := w["heuristics"].(map[string]any)
	if !d.HasContext {
		t.Fatal("no context PC")
	}
	pc, ok := d.ModuleAt(d.ContextPC)
	eq("context pc module", ok, true)
	eq("context pc", pc.String(), h["context_pc"])
	hits := d.StackHits()
	if len(hits) == 0 {
		t.Fatal("no stack hits")
	}
	eq("stack first", hits[0].String(), h["stack_first"])
	var seq []any
	for _, s := range h["stack_module_sequence"].([]any) {
		seq = append(seq, s)
	}
	eq("stack sequence", dumpfile.ModuleSequence(hits, 12), seq)
	var noncore any
	for _, x := range hits {
		if !dumpfile.IsCoreModule(x.Module) {
			noncore = x.String()
			break
		}
	}
	eq("stack first non-core", noncore, h["stack_first_noncore"])
}

func checkMinidump(t *testing.T, d *dumpfile.Dump, w map[string]any) {
	t.Helper()
	eq := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	eq("format", d.Format, dumpfile.FormatMinidump)
	si := w["sysinfo"].(map[string]any)
	eq("arch", d.Arch, archOf[strings.Split(si["arch"].(string), "(")[0]])
	eq("processors", d.Processors, num(t, si["nproc"]))
	eq("build", d.Build, num(t, si["build"]))
	eq("os version", d.OSVersion, fmt.Sprintf("%v.%v.%v", si["major"], si["minor"], si["build"]))
	eq("service pack", d.CSDVersion, si["csd"])
	eq("platform", d.PlatformID, 2)
	eq("flags", hexOf(d.MinidumpFlags), w["flags"])
	wantTime, err := time.Parse(time.RFC3339, w["time_utc"].(string))
	if err != nil {
		t.Fatal(err)
	}
	eq("time", d.SystemTime, wantTime.UTC())
	eq("module count", len(d.Modules), num(t, w["module_count"]))
	eq("threads", d.ThreadCount, num(t, w["threads"]))
	if mm, ok := w["main_module"].(map[string]any); ok && len(d.Modules) > 0 {
		m := d.Modules[0]
		eq("main module", fmt.Sprintf("%s %s %s %s", m.Path, hexOf(m.Base), hexOf(uint64(m.Size)), hexOf(uint64(m.Timestamp))),
			fmt.Sprintf("%s %s %s %s", mm["name"], mm["base"], mm["size"], mm["timestamp"]))
	}
	if misc, ok := w["misc"].(map[string]any); ok && num(t, misc["flags1"])&1 != 0 {
		eq("pid", d.ProcessID, num(t, misc["pid"]))
	}
	c := d.ProbableCause()
	xe, ok := w["exception"].(map[string]any)
	if !ok {
		eq("exception", d.Exception == nil, true)
		eq("outcome", c.Outcome, dumpfile.OutcomeNoCrash)
		return
	}
	if d.Exception == nil {
		t.Fatal("no exception")
	}
	x := d.Exception
	eq("exception code", hexOf(uint64(x.Code)), xe["code"])
	eq("exception address", hexOf(x.Address), xe["address"])
	eq("exception thread", x.ThreadID, num(t, xe["thread"]))
	var params []string
	for _, p := range x.Params {
		params = append(params, hexOf(p))
	}
	eq("exception params", params, xe["params"])
	if fm, ok := w["faulting_module"].(string); ok {
		eq("probable cause", c.Location(), fm)
		eq("outcome", c.Outcome, dumpfile.OutcomeModule)
	} else {
		eq("probable cause module", c.Module, "")
		eq("confidence", c.Confidence, dumpfile.Low)
	}
}

// TestRealProbableCause checks the verdicts a person expects for the real kernel dumps.
func TestRealProbableCause(t *testing.T) {
	dir := sharedtest.Dir(t, "dumps")
	tests := []struct {
		file       string
		outcome    dumpfile.Outcome
		location   string
		confidence dumpfile.Confidence
		reason     string
	}{
		{"kernel/triage-x64-win10-19041-bc1000007e.dmp", dumpfile.OutcomeModule, "amdppm.sys+0x334c", dumpfile.High, "parameter 2"},
		{"kernel/triage-arm64-win11-22000-bc1c8.dmp", dumpfile.OutcomeManual, "", dumpfile.High, "manually initiated"},
		{"kernel/triage-arm64-win10-17134-bce2.dmp", dumpfile.OutcomeManual, "", dumpfile.High, "manually initiated"},
		{"kernel/triage-arm32-win10-17134-livedump.dmp", dumpfile.OutcomeLive, "", dumpfile.High, "did not crash"},
		{"user/rizin-calc-x64-win7.dmp", dumpfile.OutcomeModule, "ntdll.dll+0x4ae10", dumpfile.Low, "breakpoint"},
		{"user/bp-tiny-exe-fastfail-x64.dmp", dumpfile.OutcomeModule, "tiny.exe+0x1af42", dumpfile.Medium, "0xc0000409"},
		{"user/rm-invalid-parameter-x64.dmp", dumpfile.OutcomeUnknown, "0x0", dumpfile.Low, "outside every loaded module"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d, err := dumpfile.Open(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			c := d.ProbableCause()
			if c.Outcome != tt.outcome || c.Location() != tt.location || c.Confidence != tt.confidence || !strings.Contains(c.Reason, tt.reason) {
				t.Errorf("cause = %s %q %s %q, want %s %q %s …%q…", c.Outcome, c.Location(), c.Confidence, c.Reason, tt.outcome, tt.location, tt.confidence, tt.reason)
			}
			if len(c.Evidence) == 0 {
				t.Error("no evidence")
			}
		})
	}
}

// u32At is the little-endian uint32 at off, as an int (dump sizes, offsets and counts).
func u32At(data []byte, off int) int { return int(binary.LittleEndian.Uint32(data[off:])) }

// TestRealKernelCuts cuts each real kernel dump where a half-copied or half-written file
// ends: every cut must read as truncated, never as a good dump or a panic.
func TestRealKernelCuts(t *testing.T) {
	dir := sharedtest.Dir(t, "dumps")
	files, _ := filepath.Glob(filepath.Join(dir, "kernel", "*.dmp"))
	if len(files) == 0 {
		t.Fatal("no kernel dumps")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := dumpfile.Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		hs := 0x2000
		if !d.Is64() {
			hs = 0x1000
		}
		sizeOfDump, valid, drivers := u32At(data, hs+4), u32At(data, hs+8), u32At(data, hs+0x30)
		for _, cut := range []int{0, 3, 7, 0x800, hs - 1, hs, hs + 0x40, drivers + 100, valid, valid + 2, sizeOfDump - 1} {
			t.Run(fmt.Sprintf("%s@0x%x", filepath.Base(f), cut), func(t *testing.T) {
				_, err := dumpfile.Read(bytes.NewReader(data[:cut]), int64(cut))
				if !errors.Is(err, dumpfile.ErrTruncated) {
					t.Fatalf("err = %v, want ErrTruncated", err)
				}
			})
		}
	}
}

// TestRealMinidumpCuts cuts each real user minidump inside its directory and inside its last
// stream.
func TestRealMinidumpCuts(t *testing.T) {
	dir := sharedtest.Dir(t, "dumps")
	files, _ := filepath.Glob(filepath.Join(dir, "user", "*.dmp"))
	if len(files) == 0 {
		t.Fatal("no user dumps")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		u32 := func(off int) int { return u32At(data, off) }
		n, dirRVA := u32(8), u32(12)
		end := 0 // the end of the stream that ends last
		for i := range n {
			if e := u32(dirRVA+12*i+8) + u32(dirRVA+12*i+4); u32(dirRVA+12*i) != 0 && e > end {
				end = e
			}
		}
		for _, cut := range []int{16, 31, dirRVA + 6, dirRVA + 12*n - 1, end - 1} {
			t.Run(fmt.Sprintf("%s@%d", filepath.Base(f), cut), func(t *testing.T) {
				_, err := dumpfile.Read(bytes.NewReader(data[:cut]), int64(cut))
				if !errors.Is(err, dumpfile.ErrTruncated) {
					t.Fatalf("err = %v, want ErrTruncated", err)
				}
			})
		}
	}
}
