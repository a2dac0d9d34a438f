package cdb

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrNotFound says that no cdb.exe was found; the error from Locate lists where it looked.
var ErrNotFound = errors.New("cdb.exe not found")

// InstallHint tells a person how to get the debugger.
const InstallHint = "install the Debugging Tools for Windows (Windows SDK installer, feature " +
	"\"Debugging Tools for Windows\", or `winget install Microsoft.WinDbg`) or set cdb_path"

// Locate finds cdb.exe. A configured path must exist: it is never silently replaced. Without
// one it tries PATH, then the Windows Kits and Debugging Tools for Windows folders, then a
// WinDbg install from the Microsoft Store. getenv reads the environment (os.Getenv when nil).
func Locate(configured string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if configured != "" {
		if isFile(configured) {
			return configured, nil
		}
		// %s, not %q: a Windows path must read as typed, without doubled backslashes.
		return "", fmt.Errorf("%w at the configured path %s", ErrNotFound, configured)
	}
	if runtime.GOOS == "windows" {
		if p, err := exec.LookPath("cdb.exe"); err == nil {
			return p, nil
		}
	}
	cands := Candidates(getenv, runtime.GOARCH)
	for _, c := range cands {
		matches := []string{c}
		if strings.ContainsAny(c, "*?[") {
			matches, _ = filepath.Glob(c)
			// The newest store version sorts last.
			for i, j := 0, len(matches)-1; i < j; i, j = i+1, j-1 {
				matches[i], matches[j] = matches[j], matches[i]
			}
		}
		for _, m := range matches {
			if isFile(m) {
				return m, nil
			}
		}
	}
	where := "PATH"
	if len(cands) > 0 {
		where += ", " + strings.Join(cands, ", ")
	}
	if runtime.GOOS != "windows" {
		return "", fmt.Errorf("%w: cdb runs on Windows only (set cdb_path to use a stand-in)", ErrNotFound)
	}
	return "", fmt.Errorf("%w (looked in %s): %s", ErrNotFound, where, InstallHint)
}

// Candidates lists the well-known places of cdb.exe for goarch, most specific first. Entries
// may be glob patterns (the Store install's folder carries its version).
func Candidates(getenv func(string) string, goarch string) []string {
	arch, storeArch := "x64", "amd64"
	switch goarch {
	case "arm64":
		arch, storeArch = "arm64", "arm64"
	case "386":
		arch, storeArch = "x86", "x86"
	}
	var out []string
	add := func(root string, parts ...string) {
		if root = getenv(root); root != "" {
			out = append(out, winJoin(append([]string{root}, parts...)...))
		}
	}
	for _, pf := range []string{"ProgramFiles(x86)", "ProgramFiles"} {
		add(pf, "Windows Kits", "10", "Debuggers", arch, "cdb.exe")
	}
	add("ProgramFiles(x86)", "Windows Kits", "8.1", "Debuggers", arch, "cdb.exe")
	add("ProgramFiles", "Debugging Tools for Windows ("+arch+")", "cdb.exe")
	add("ProgramFiles", "Debugging Tools for Windows", "cdb.exe")
	add("ProgramFiles(x86)", "Debugging Tools for Windows (x86)", "cdb.exe")
	// WinDbg from the Store: its app execution alias, then the package folder itself.
	add("LOCALAPPDATA", "Microsoft", "WindowsApps", "cdb.exe")
	add("LOCALAPPDATA", "Microsoft", "WindowsApps", "Microsoft.WinDbg_8wekyb3d8bbwe", "cdb.exe")
	add("ProgramFiles", "WindowsApps", "Microsoft.WinDbg_*", storeArch, "cdb.exe")
	return out
}

// winJoin joins with backslashes whatever the host OS, so Candidates is testable anywhere.
func winJoin(parts ...string) string {
	return strings.Join(parts, `\`)
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
