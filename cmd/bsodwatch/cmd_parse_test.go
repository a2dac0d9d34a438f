package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
)

func runParse(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Log: zerolog.Nop()}
	code := cmdParse(context.Background(), e, args)
	return code, out.String(), errb.String()
}

const sample = "../../analyzer/cdbout/testdata/sample-symevent.txt"

func TestParseCommand(t *testing.T) {
	rulesDir := t.TempDir()
	rule := `rules:
  - id: symevent-stack
    title: Symantec SYMEVENT exhausts the kernel stack
    severity: high
    match: {bugcheck_code: 0x27}
`
	if err := os.WriteFile(filepath.Join(rulesDir, "symevent.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		stdin      string
		args       []string
		code       int
		wantOut    []string
		wantErr    string
		jsonChecks map[string]any
	}{
		{name: "summary", args: []string{sample}, wantOut: []string{"RDR_FILE_SYSTEM (0x27)", "culprit:    SYMEVENT.SYS — Symantec Event Library", `\??\C:\Program Files\Symantec\SYMEVENT.SYS`, "0x27_SYMEVENT!SYMEvent_AllocVMData+5a7d"}},
		{name: "driver reference", stdin: "BUGCHECK_CODE: d1\nMODULE_NAME: rt640x64\nIMAGE_NAME: rt640x64.sys\n", args: []string{"-"}, wantOut: []string{"culprit:    rt640x64.sys — Realtek PCIe GbE network driver"}},
		{name: "unknown driver", stdin: "BUGCHECK_CODE: d1\nMODULE_NAME: acmefltr\nIMAGE_NAME: acmefltr.sys\n", args: []string{"-"}, wantOut: []string{"culprit:    acmefltr.sys, third-party"}},
		{name: "suspect", stdin: "BUGCHECK_CODE: d1\nMODULE_NAME: NETIO\nIMAGE_NAME: NETIO.SYS\n\n3rd party drivers: klwfp.sys rt640x64.sys\n", args: []string{"-"},
			wantOut: []string{"culprit:    klwfp.sys — Kaspersky", "why:        suspect, not proven: the only firewall driver the text names (Kaspersky) while the crash is in NETIO"}},
		{name: "suspect json", stdin: "BUGCHECK_CODE: d1\nMODULE_NAME: NETIO\nIMAGE_NAME: NETIO.SYS\n\n3rd party drivers: klwfp.sys rt640x64.sys\n", args: []string{"--json", "-"},
			jsonChecks: map[string]any{"suspect": "klwfp.sys", "module_name": "NETIO"}},
		{name: "json", args: []string{"--json", sample}, jsonChecks: map[string]any{"bugcheck_code": "0x27", "third_party_module": "SYMEVENT", "complete": true}},
		{name: "stdin", stdin: "MODULE_NAME: foo\nFAILURE_BUCKET_ID: AV_foo!bar\n", args: []string{"--json", "-"}, jsonChecks: map[string]any{"module_name": "foo", "failure_bucket_id": "AV_foo!bar"}},
		{name: "no analysis", stdin: "hello\n", args: []string{"--json", "-"}, wantErr: "no debugger analysis found", jsonChecks: map[string]any{"complete": false}},
		{name: "missing file", args: []string{"/nonexistent/x.txt"}, code: exitError, wantErr: notExistReason(t, "/nonexistent/x.txt")},
		{name: "no args", args: nil, code: exitUsage},
		{name: "bad rules dir", args: []string{"--rules", "/nonexistent/rules", sample}, code: exitUsage, wantErr: "rules"},
		{name: "shipped library", args: []string{"--known", sample}, wantOut: []string{"known issue symantec-symevent-kernel-stack [high]", "why: module_name SYMEVENT"}},
		{name: "known and rules", args: []string{"--known", "--rules", "/tmp", sample}, code: exitUsage, wantErr: "give --known or --rules DIR, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runParse(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if tt.wantErr != "" && !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.wantErr)
			}
			if tt.jsonChecks != nil {
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatalf("not one JSON object: %v\n%s", err, out)
				}
				for k, v := range tt.jsonChecks {
					if m[k] != v {
						t.Errorf("%s = %v, want %v", k, m[k], v)
					}
				}
			}
		})
	}
	t.Run("culprit in JSON, with and without rules", func(t *testing.T) {
		for _, args := range [][]string{{"--json", "-"}, {"--json", "--rules", rulesDir, "-"}} {
			code, out, errOut := runParse(t, "BUGCHECK_CODE: d1\nMODULE_NAME: rt640x64\nIMAGE_NAME: rt640x64.sys\n", args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var m struct {
				Culprit analysis.Culprit `json:"culprit"`
			}
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatal(err)
			}
			want := analysis.Culprit{Module: "rt640x64.sys", Vendor: "Realtek", Product: "Realtek PCIe GbE Family Controller", Kind: "network", Description: "Realtek PCIe GbE network driver", Source: "reference"}
			if m.Culprit != want {
				t.Errorf("%v: culprit = %+v, want %+v", args, m.Culprit, want)
			}
		}
	})
	t.Run("rules", func(t *testing.T) {
		code, out, errOut := runParse(t, "", "--json", "--rules", rulesDir, sample)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var m struct {
			Matches []struct{ ID string } `json:"matches"`
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if len(m.Matches) != 1 || m.Matches[0].ID != "symevent-stack" {
			t.Fatalf("matches = %+v, want symevent-stack:\n%s", m.Matches, out)
		}
		code, out, _ = runParse(t, "", "--rules", rulesDir, sample)
		if code != exitOK || !strings.Contains(out, "known issue symevent-stack [high]") || !strings.Contains(out, "why:") {
			t.Errorf("summary lacks the match with its why lines:\n%s", out)
		}
	})
}
