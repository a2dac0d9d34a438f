package cdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/replaycdb/replaytest"

	"github.com/bsodwatch/bsodwatch/analyzer/cdb"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/google/go-cmp/cmp"
)

var replayPath string

func TestMain(m *testing.M) { replaytest.Main(m, &replayPath) }

// script writes a replaycdb dump script and returns its path.
func script(t *testing.T, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("REPLAYCDB\n"+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runner() *cdb.Runner {
	return &cdb.Runner{Path: replayPath, SymbolPath: cdb.DefaultSymbolPath, Timeout: time.Minute}
}

func TestArgsPassedWithoutShell(t *testing.T) {
	// Names a shell (sh or cmd.exe) would take apart, all legal Windows file names.
	names := []string{
		"plain.dmp",
		"with space.dmp",
		"single 'quoted'.dmp",
		"semi;colon & amp $(x) `y`.dmp",
		"cmd ^caret %PATH% !bang! (paren).dmp",
	}
	if runtime.GOOS != "windows" {
		// Windows forbids " and | in file names; elsewhere they must pass through too.
		names = append(names, `quote"d 'both'.dmp`, "pipe | tee.dmp")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dump := script(t, name, "mode: echo")
			r := runner()
			r.SymbolPath = cdb.SymbolPath("", `C:\private syms;x`)
			out, err := r.Analyze(context.Background(), dump)
			if err != nil {
				t.Fatalf("run: %v (stderr %s)", err, out.Stderr)
			}
			_, js, ok := strings.Cut(string(out.Stdout), "REPLAYCDB-ARGV: ")
			if !ok {
				t.Fatalf("no argv echo in %q", out.Stdout)
			}
			var got []string
			if err := json.Unmarshal([]byte(strings.TrimSpace(js)), &got); err != nil {
				t.Fatal(err)
			}
			want := []string{"-z", dump, "-y", `C:\private syms;x;` + cdb.DefaultSymbolPath, "-c", cdb.DefaultCommands}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("argv (-want +got):\n%s", d)
			}
		})
	}
}

func TestRunOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		lines     []string
		cap       int64
		wantErr   error
		wantExit  int
		wantOut   string
		wantStder string
		truncated bool
	}{
		{name: "exit code kept", lines: []string{"mode: echo", "exit: 7"}, wantExit: 7, wantOut: "REPLAYCDB-ARGV"},
		{name: "crash", lines: []string{"mode: crash"}, wantExit: 2, wantStder: "simulated debugger crash"},
		{name: "could not open", lines: []string{"mode: noopen"}, wantOut: "Could not open dump file ["},
		{name: "bounded flood under cap", lines: []string{"mode: flood", "flood_bytes: 100000"}, cap: 1 << 20, wantOut: "flood flood"},
		{name: "flood over cap is killed", lines: []string{"mode: flood"}, cap: 1 << 20, wantErr: cdb.ErrOutputCap, wantExit: -1, truncated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runner()
			r.OutputCap = tt.cap
			out, err := r.Analyze(context.Background(), script(t, "x.dmp", tt.lines...))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if out.ExitCode != tt.wantExit {
				t.Errorf("exit code = %d, want %d", out.ExitCode, tt.wantExit)
			}
			if !strings.Contains(string(out.Stdout), tt.wantOut) {
				t.Errorf("stdout %.200q lacks %q", out.Stdout, tt.wantOut)
			}
			if !strings.Contains(string(out.Stderr), tt.wantStder) {
				t.Errorf("stderr %.200q lacks %q", out.Stderr, tt.wantStder)
			}
			if out.Truncated != tt.truncated {
				t.Errorf("truncated = %v, want %v", out.Truncated, tt.truncated)
			}
			if tt.truncated {
				if int64(len(out.Stdout)) != tt.cap || out.Bytes <= tt.cap {
					t.Errorf("kept %d bytes of %d, cap %d", len(out.Stdout), out.Bytes, tt.cap)
				}
				if !strings.Contains(out.Tail, "flood") || len(out.Tail) > 4096 {
					t.Errorf("tail %d bytes: %.80q", len(out.Tail), out.Tail)
				}
			}
			if out.Duration <= 0 {
				t.Errorf("duration not recorded")
			}
		})
	}
}

func TestRunTranscriptVerbatim(t *testing.T) {
	corpus := sharedtest.Dir(t, "corpus")
	tr := filepath.Join(corpus, "kernel", "014.txt")
	want, err := os.ReadFile(tr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runner().Analyze(context.Background(), script(t, "k.dmp", "transcript: "+tr))
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("run: %v, exit %d", err, out.ExitCode)
	}
	if string(out.Stdout) != string(want) {
		t.Errorf("stdout differs from the transcript (%d vs %d bytes)", len(out.Stdout), len(want))
	}
}

func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	out, err := runner().Analyze(ctx, script(t, "h.dmp", "mode: hang"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if out.Duration > 30*time.Second {
		t.Errorf("cancel took %s", out.Duration)
	}
}

func TestRunStartFailure(t *testing.T) {
	r := &cdb.Runner{Path: filepath.Join(t.TempDir(), "no-such-cdb.exe")}
	out, err := r.Analyze(context.Background(), "x.dmp")
	if err == nil || out.ExitCode != -1 {
		t.Fatalf("err = %v, exit %d; want a start error", err, out.ExitCode)
	}
}

func TestSymbolPath(t *testing.T) {
	tests := []struct {
		base  string
		extra []string
		want  string
	}{
		{"", nil, cdb.DefaultSymbolPath},
		{`srv*D:\s*https://x`, nil, `srv*D:\s*https://x`},
		{"", []string{`\\fs\vendor-pdb`, " ", `\\FS\vendor-pdb`}, `\\fs\vendor-pdb;` + cdb.DefaultSymbolPath},
	}
	for _, tt := range tests {
		if got := cdb.SymbolPath(tt.base, tt.extra...); got != tt.want {
			t.Errorf("SymbolPath(%q, %q) = %q, want %q", tt.base, tt.extra, got, tt.want)
		}
	}
}

func TestLocateConfigured(t *testing.T) {
	if p, err := cdb.Locate(replayPath, nil); err != nil || p != replayPath {
		t.Errorf("Locate(existing) = %q, %v", p, err)
	}
	missing := filepath.Join(t.TempDir(), "cdb.exe")
	_, err := cdb.Locate(missing, nil)
	if !errors.Is(err, cdb.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Locate(missing) err = %v, want ErrNotFound naming the path", err)
	}
	// A Windows path reads as typed: no doubled backslashes, no Go quoting.
	winPath := `C:\no such dir\Debuggers\x64\cdb.exe`
	_, err = cdb.Locate(winPath, nil)
	if want := "cdb.exe not found at the configured path " + winPath; err == nil || err.Error() != want {
		t.Errorf("Locate(%s) err = %v, want %q", winPath, err, want)
	}
	if runtime.GOOS != "windows" {
		if _, err := cdb.Locate("", func(string) string { return "" }); !errors.Is(err, cdb.ErrNotFound) {
			t.Errorf("Locate() off Windows = %v, want ErrNotFound", err)
		}
	}
}

func TestCandidates(t *testing.T) {
	env := map[string]string{
		"ProgramFiles(x86)": `C:\Program Files (x86)`,
		"ProgramFiles":      `C:\Program Files`,
		"LOCALAPPDATA":      `C:\Users\a\AppData\Local`,
	}
	got := cdb.Candidates(func(k string) string { return env[k] }, "arm64")
	for _, want := range []string{
		`C:\Program Files (x86)\Windows Kits\10\Debuggers\arm64\cdb.exe`,
		`C:\Program Files\Debugging Tools for Windows (arm64)\cdb.exe`,
		`C:\Users\a\AppData\Local\Microsoft\WindowsApps\cdb.exe`,
		`C:\Program Files\WindowsApps\Microsoft.WinDbg_*\arm64\cdb.exe`,
	} {
		if !contains(got, want) {
			t.Errorf("candidates lack %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if got[0] != `C:\Program Files (x86)\Windows Kits\10\Debuggers\arm64\cdb.exe` {
		t.Errorf("first candidate %q, want the Windows 10 Kit", got[0])
	}
	if n := len(cdb.Candidates(func(string) string { return "" }, "amd64")); n != 0 {
		t.Errorf("%d candidates without any environment, want 0", n)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
