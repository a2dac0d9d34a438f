package config

import (
	"path/filepath"
	"runtime"
	"testing"
)

// TestRootedPathsKept: only a relative path is taken from the config file's folder. On
// Windows a path without a drive that starts with \ or / is rooted on the current drive, and
// a UNC path is rooted on its server, so both stay as written.
func TestRootedPathsKept(t *testing.T) {
	base := filepath.Join(t.TempDir(), "etc")
	windows := runtime.GOOS == "windows"
	tests := []struct {
		path string
		want string
	}{
		{`/file/rules`, `/file/rules`},
		{`\\fs01\dumps`, `\\fs01\dumps`},
		{`rules`, filepath.Join(base, "rules")},
		{`../dumps`, filepath.Join(base, "..", "dumps")},
		// Elsewhere a backslash is part of a file name, so this one is relative there.
		{`\srv\dumps`, map[bool]string{true: `\srv\dumps`, false: filepath.Join(base, `\srv\dumps`)}[windows]},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			src := "analyzer:\n  rules_dir: '" + tt.path + "'\n"
			c, err := Decode(filepath.Join(base, "bsodwatch.yaml"), []byte(src), getenvMap(nil)) // where paths lead, not whether they exist
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Analyzer.RulesDir; got != tt.want {
				t.Errorf("rules_dir %s resolved to %s, want %s", tt.path, got, tt.want)
			}
		})
	}
}

// TestDefaultDataDir: %ProgramData%\bsodwatch on Windows (C:\ProgramData without the
// variable), the XDG data folder elsewhere.
func TestDefaultDataDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string // by GOOS; "" is every other OS
	}{
		{"ProgramData", map[string]string{"ProgramData": `D:\ProgramData`, "XDG_DATA_HOME": "/xdg", "HOME": "/home/op"},
			map[string]string{"windows": `D:\ProgramData\bsodwatch`, "": "/xdg/bsodwatch"}},
		{"nothing set", map[string]string{"HOME": "/home/op"},
			map[string]string{"windows": `C:\ProgramData\bsodwatch`, "": "/home/op/.local/share/bsodwatch"}},
		{"relative XDG ignored", map[string]string{"XDG_DATA_HOME": "data", "HOME": "/home/op"},
			map[string]string{"windows": `C:\ProgramData\bsodwatch`, "": "/home/op/.local/share/bsodwatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, ok := tt.want[runtime.GOOS]
			if !ok {
				want = tt.want[""]
			}
			if got := DefaultDataDir(getenvMap(tt.env)); got != want {
				t.Errorf("DefaultDataDir = %s, want %s", got, want)
			}
		})
	}
}
