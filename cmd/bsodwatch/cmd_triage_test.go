package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/dumpfile/dumpfiletest"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/rs/zerolog"
)

// updateGolden reports the package's -update flag, which another command's test may
// define first; it is read after flag parsing.
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// checkGolden compares out with a golden file, or rewrites it under -update.
func checkGolden(t *testing.T, path, out string) {
	t.Helper()
	if updateGolden() {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if out != string(want) {
		t.Errorf("output differs from %s (run with -update if intended):\n%s", filepath.Base(path), out)
	}
}

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func runTriage(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Log: zerolog.Nop()}
	code = cmdTriage(context.Background(), e, args)
	return out.String(), errb.String(), code
}

// x86Dump writes a synthetic x86 small memory dump (a vendor driver at fault) to dir.
func x86Dump(t *testing.T, dir string) string {
	t.Helper()
	k := dumpfiletest.Kernel{
		Machine: dumpfiletest.MachineX86, Processors: 4, Build: 7601, DumpType: 4,
		BugcheckCode: 0xD1, Params: [4]uint64{0x28, 2, 0, 0x8f2a1234},
		SystemTime: 0x01d41d41b482b936, Uptime: 36_000_000_000,
		ContextPC: 0x82c01000, ContextSP: 0x8078a000,
		Drivers: []dumpfiletest.Driver{
			{Path: `\SystemRoot\system32\ntkrnlpa.exe`, Base: 0x82c00000, Size: 0x410000, Timestamp: 0x4ce7951a},
			{Path: `\SystemRoot\system32\halmacpi.dll`, Base: 0x82a00000, Size: 0x49000, Timestamp: 0x4ce788d6},
			{Path: `\??\C:\Windows\system32\drivers\vendornet.sys`, Base: 0x8f2a0000, Size: 0x8000, Timestamp: 0x5a1b2c3d},
		},
		Unloaded:   []dumpfiletest.Unloaded{{Name: "oldfilter.sys", Start: 0x90000000, End: 0x9000a000}},
		StackTop:   0x8078a000,
		Stack:      []uint64{0x82c60000, 0x8f2a1000, 0x82c61000},
		NtBuildLab: "7601.17514.x86fre.win7sp1_rtm.101119-1850",
	}
	p := filepath.Join(dir, "042119-12345-01.dmp")
	if err := os.WriteFile(p, k.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTriageGolden(t *testing.T) {
	testdata, err := filepath.Abs("testdata") // before the Chdir below
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	x86Dump(t, dir)
	t.Chdir(dir)
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"triage_x86.txt", []string{"--drivers", "042119-12345-01.dmp"}},
		{"triage_x86.json", []string{"--json", "042119-12345-01.dmp"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			out, errOut, code := runTriage(t, tt.args...)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			checkGolden(t, filepath.Join(testdata, tt.golden), out)
		})
	}
}

func TestTriageExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := x86Dump(t, dir)
	text := filepath.Join(dir, "notes.dmp")
	if err := os.WriteFile(text, []byte("01-25 09:00 a log file with a .dmp name\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.dmp")
	data, _ := os.ReadFile(good)
	if err := os.WriteFile(cut, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  []string
		stderrs []string
	}{
		{"good", []string{good}, exitOK, []string{"vendornet.sys+0x1234", "DRIVER_IRQL_NOT_LESS_OR_EQUAL"}, nil},
		{"text and good", []string{text, good}, exitUsage, []string{"vendornet.sys"}, []string{"notes.dmp: not a Windows crash dump"}},
		{"cut", []string{"--json", cut, good}, exitUsage, []string{`"bugcheck_code": "0xd1"`}, []string{"cut.dmp: truncated or incomplete dump"}},
		{"missing", []string{filepath.Join(dir, "nope.dmp")}, exitError, nil, []string{"nope.dmp: no such file"}},
		{"no files", nil, exitUsage, nil, []string{"usage: bsodwatch triage"}},
		{"help", []string{"--help"}, exitOK, nil, []string{"Exit status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runTriage(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.stderrs {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			// One line per bad file.
			if bad := len(tt.stderrs); tt.code != exitOK && tt.name != "no files" && strings.Count(errOut, "\n") != bad {
				t.Errorf("stderr has %d lines, want %d:\n%s", strings.Count(errOut, "\n"), bad, errOut)
			}
		})
	}
}

// TestTriageRealJSON checks the DESIGN.md keys on every real dump.
func TestTriageRealJSON(t *testing.T) {
	dir := sharedtest.Dir(t, "dumps")
	files, _ := filepath.Glob(filepath.Join(dir, "kernel", "*.dmp"))
	users, _ := filepath.Glob(filepath.Join(dir, "user", "*.dmp"))
	if len(files) < 4 || len(users) < 10 {
		t.Fatalf("found %d kernel and %d user dumps", len(files), len(users))
	}
	out, errOut, code := runTriage(t, append([]string{"--json"}, append(files, users...)...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	n := 0
	for dec.More() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		n++
		keys := []string{"file", "format", "arch", "build", "system_time", "probable_cause"}
		if r["format"] != "MDMP" {
			keys = append(keys, "bugcheck_code", "args", "drivers", "unloaded_drivers", "nt_build_lab")
		} else {
			keys = append(keys, "modules", "process_name")
		}
		for _, k := range keys {
			if _, ok := r[k]; !ok {
				t.Errorf("%s: no %q key", r["file"], k)
			}
		}
		if strings.HasSuffix(r["file"].(string), "bc1000007e.dmp") {
			pc := r["probable_cause"].(map[string]any)
			if pc["module"] != "amdppm.sys" || pc["offset"] != "0x334c" {
				t.Errorf("x64 probable cause = %v", pc)
			}
		}
	}
	if n != len(files)+len(users) {
		t.Errorf("%d objects for %d files", n, len(files)+len(users))
	}
}

func TestTriageInterrupted(t *testing.T) {
	good := x86Dump(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	e := &env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, Log: zerolog.Nop()}
	if code := cmdTriage(ctx, e, []string{good}); code != exitInterrupted || out.Len() != 0 {
		t.Errorf("exit %d, output %q; want %d and nothing", code, out.String(), exitInterrupted)
	}
}
