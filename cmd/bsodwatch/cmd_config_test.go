package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("fetcher:\n  interval: 10m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("fetcher:\n  interval: 10m\n  intervall: 5m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		code        int
		out, errOut string
	}{
		{"good", []string{"config", "check", "--config", good}, nil, exitOK, "OK\n", ""},
		{"good positional", []string{"config", "check", good}, nil, exitOK, "OK\n", ""},
		{"from env", []string{"config", "check"}, map[string]string{configEnv: good}, exitOK, "OK\n", ""},
		{"defaults", []string{"config", "check"}, nil, exitOK, "OK (no file: built-in defaults)\n", ""},
		{"bad", []string{"config", "check", "--config", bad}, nil, exitUsage, "", bad + `:3: unknown key "intervall"`},
		{"missing", []string{"config", "check", "--config", filepath.Join(dir, "nope.yaml")}, nil, exitUsage, "", "nope.yaml: open: "},
		{"no subcommand", []string{"config"}, nil, exitUsage, "", "usage: bsodwatch config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			e := &env{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(""), Getenv: func(k string) string { return tc.env[k] }}
			code := dispatch(context.Background(), e, append([]string{"--log.format", "json"}, tc.args...))
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, errOut.String())
			}
			if out.String() != tc.out {
				t.Errorf("stdout %q, want %q", out.String(), tc.out)
			}
			if tc.errOut != "" && !strings.Contains(errOut.String(), tc.errOut) {
				t.Errorf("stderr %q, want it to contain %q", errOut.String(), tc.errOut)
			}
		})
	}
}
