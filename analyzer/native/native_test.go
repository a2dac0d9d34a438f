package native_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/analyzer/native"
	"github.com/bsodwatch/bsodwatch/dumpfile/dumpfiletest"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

func open(t *testing.T, rel string) (*os.File, int64) {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedtest.Dir(t, "dumps"), rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return f, st.Size()
}

func TestAnalyzeRealKernel(t *testing.T) {
	tests := []struct {
		file, code, name, module, image, third, exc, arch, cause, confidence, reason string
		build, modules                                                               int
	}{
		{"kernel/triage-x64-win10-19041-bc1000007e.dmp", "0x1000007e", "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M",
			"amdppm", "amdppm.sys", "", "0xc0000005", "x64", "amdppm.sys", "high", "parameter 2", 19041, 151},
		{"kernel/triage-arm64-win11-22000-bc1c8.dmp", "0x1c8", "MANUALLY_INITIATED_POWER_BUTTON_HOLD",
			"", "", "", "", "arm64", "", "high", "manually initiated", 22000, 245},
		{"kernel/triage-arm64-win10-17134-bce2.dmp", "0xe2", "MANUALLY_INITIATED_CRASH",
			"", "", "", "", "arm64", "", "high", "manually initiated", 17134, 228},
		{"kernel/triage-arm32-win10-17134-livedump.dmp", "0x0", "",
			"", "", "", "", "arm", "", "high", "did not crash", 17134, 136},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, size := open(t, tt.file)
			a, c, err := native.Analyze(f, size)
			if err != nil {
				t.Fatal(err)
			}
			if a.BugcheckCode != tt.code || a.BugcheckName != tt.name || a.ModuleName != tt.module || a.ImageName != tt.image ||
				a.ThirdPartyModule != tt.third || a.ExceptionCode != tt.exc || a.Arch != tt.arch || a.OSBuild != tt.build || !a.Complete {
				t.Errorf("analysis = code %s name %s module %q image %q third %q exc %q arch %s build %d complete %v",
					a.BugcheckCode, a.BugcheckName, a.ModuleName, a.ImageName, a.ThirdPartyModule, a.ExceptionCode, a.Arch, a.OSBuild, a.Complete)
			}
			if len(a.Args) != 4 || len(a.Modules) != tt.modules {
				t.Fatalf("%d args, %d modules", len(a.Args), len(a.Modules))
			}
			if m := a.Modules[0]; m.Name != "nt" || m.ImageName != "ntoskrnl.exe" || !strings.HasPrefix(m.Start, "0x") || m.Timestamp == "" || m.ImageSize == "" || m.End <= m.Start {
				t.Errorf("kernel module = %+v", m)
			}
			if len(a.Stack) == 0 || a.Stack[0].Module == "" || !strings.Contains(a.Stack[0].Symbol, "+0x") {
				t.Errorf("stack = %+v", a.Stack)
			}
			if c.Module != tt.cause || c.Confidence != tt.confidence || !strings.Contains(c.Reason, tt.reason) || native.Confidence(c) != tt.confidence {
				t.Errorf("cause = %+v", c)
			}
		})
	}
}

func TestAnalyzeRealUser(t *testing.T) {
	f, size := open(t, "user/bp-write-av-non-canonical-x64.dmp")
	a, c, err := native.Analyze(f, size)
	if err != nil {
		t.Fatal(err)
	}
	if a.BugcheckCode != "" || a.ExceptionCode != "0xc0000005" || a.ProcessName != "crash.exe" || a.ModuleName != "crash" ||
		a.ImageName != "crash.exe" || a.ThirdPartyModule != "crash" || a.OSBuild != 19042 || a.Arch != "x64" || len(a.Modules) != 15 {
		t.Errorf("analysis = %+v", a)
	}
	if c.Module != "crash.exe" || c.Offset != "0x1331" || c.Confidence != "medium" {
		t.Errorf("cause = %+v", c)
	}
	var withVersion int
	for _, m := range a.Modules {
		if m.FileVersion != "" {
			withVersion++
		}
	}
	if withVersion == 0 {
		t.Error("no module has a file version")
	}
}

func TestHeader(t *testing.T) {
	f, size := open(t, "kernel/triage-x64-win10-19041-bc1000007e.dmp")
	h := native.Header(f, size)
	if h.Error != "" || h.Format != "PAGEDU64" || h.DumpType != "triage" || h.Arch != "x64" || h.Build != 19041 ||
		h.BugcheckCode != "0x1000007e" || h.BugcheckName != "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M" ||
		strings.Join(h.Args, " ") != "0xffffffffc0000005 0xfffff8048b58334c 0xffff850429891ee8 0xffff850429891720" ||
		h.SystemTime.Format("2006-01-02T15:04:05") != "2021-02-21T01:38:22" {
		t.Errorf("header = %+v", h)
	}
}

func TestHeaderErrors(t *testing.T) {
	cut := dumpfiletest.Kernel{Is64: true, Machine: dumpfiletest.MachineX64, DumpType: 5, BugcheckCode: 0x50,
		Params: [4]uint64{0xffffd00000000000, 0, 0xfffff80000001000, 2}, BitmapSig: "SDMP", FirstPage: 0x3000, Pages: 100, BitmapBits: 128}
	data := cut.Bytes()
	tests := []struct {
		name     string
		data     []byte
		code     string
		errorHas string
	}{
		{"truncated MEMORY.DMP keeps its bugcheck", data, "0x50", "truncated"},
		{"text", []byte("01-25 09:00:00.000 not a dump at all"), "", "not a Windows crash dump"},
		{"cab", []byte("MSCF\x00\x00\x00\x00"), "", "extract it first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := native.Header(bytes.NewReader(tt.data), int64(len(tt.data)))
			if h.BugcheckCode != tt.code || !strings.Contains(h.Error, tt.errorHas) {
				t.Errorf("header = %+v", h)
			}
			if _, _, err := native.Analyze(bytes.NewReader(tt.data), int64(len(tt.data))); err == nil {
				t.Error("Analyze accepted a bad dump")
			}
		})
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{"ntoskrnl.exe": "nt", "ntkrnlmp.exe": "nt", "amdppm.sys": "amdppm", "hal.dll": "hal", "Wdf01000.sys": "Wdf01000", "dump_storpor": "dump_storpor"} {
		if got := native.ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}
