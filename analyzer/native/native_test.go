package native_test

import (
	"os"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/analyzer/native"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

func open(t *testing.T, rel string) (*os.File, int64) { return sharedtest.Open(t, "dumps", rel) }

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

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{"ntoskrnl.exe": "nt", "ntkrnlmp.exe": "nt", "amdppm.sys": "amdppm", "hal.dll": "hal", "Wdf01000.sys": "Wdf01000", "dump_storpor": "dump_storpor"} {
		if got := native.ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}
