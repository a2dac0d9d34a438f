package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsodwatch/bsodwatch/notifier/notifytest"
)

func runNotify(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = cmdNotify(context.Background(), e, args)
	return code, out.String(), errb.String()
}

func writeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "result.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNotifyDryRunSampleTargets(t *testing.T) {
	code, out, errOut := runNotify(t, "--dry-run", writeJSON(t, notifytest.Hostile()))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, typ := range []string{"slack", "teams", "mattermost", "webhook", "console"} {
		if !strings.Contains(out, "### target "+typ+" ("+typ+"): would post") {
			t.Errorf("no %s payload:\n%s", typ, out)
		}
	}
	slackPart := out[strings.Index(out, "### target slack"):strings.Index(out, "### target teams")]
	if strings.Contains(slackPart, `<!channel>`) || !strings.Contains(slackPart, `&lt;!channel&gt;`) {
		t.Errorf("slack payload does not escape <!channel>:\n%s", slackPart)
	}
}

func TestNotifyDryRunConfigRoutesAndSecrets(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bsodwatch.yaml")
	yaml := `notifier:
  targets:
    - name: known-only
      type: slack
      url_env: HOOK_THAT_IS_NOT_SET
      route: {verdicts: [known]}
    - name: unknown-only
      type: mattermost
      url_file: /nonexistent/secret
      route: {verdicts: [unknown]}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runNotify(t, "--dry-run", "--config", cfg, writeJSON(t, notifytest.Known()))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "### target known-only (slack): would post") ||
		!strings.Contains(out, "### target unknown-only (mattermost): route does not match") {
		t.Errorf("routing not shown:\n%s", out)
	}
}

func TestNotifyBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte("not json"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"--dry-run"}, "takes one RESULT.json"},
		{"bad json", []string{"--dry-run", bad}, "not a JSON object"},
		{"missing", []string{"--dry-run", "/nonexistent.json"}, notExistReason(t, "/nonexistent.json")},
		{"no config", nil, "--config FILE is required"},
		{"stray arg", []string{"x.json"}, "needs --dry-run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runNotify(t, tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want exit 2 and one line with %q", code, errOut, tt.want)
			}
		})
	}
}

// `parse --json` output is accepted by --dry-run (documented): with no job behind it, the
// message has no empty host and no link to a result that does not exist, and keeps the
// verdict, the known issue and the culprit.
func TestNotifyDryRunParseOutput(t *testing.T) {
	code, parsed, errs := runParse(t, "", "--json", "--rules", "../../rules/known", sample)
	if code != exitOK {
		t.Fatalf("parse: exit %d: %s", code, errs)
	}
	p := filepath.Join(t.TempDir(), "parsed.json")
	if err := os.WriteFile(p, []byte(parsed), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "bsodwatch.yaml")
	os.WriteFile(cfg, []byte("notifier:\n  result_url: https://bsodwatch.example/verdicts/{id}\n  targets:\n    - {name: log, type: console}\n"), 0o644)
	code, out, errs := runNotify(t, "--dry-run", "--config", cfg, p)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	title, _, _ := strings.Cut(strings.TrimPrefix(out, "### target log (console): would post\n"), "\n")
	if title != "KERNEL_STACK_INPAGE_ERROR (0x77) in SYMEVENT.SYS" && !strings.Contains(title, "SYMEVENT") {
		t.Errorf("title %q: want the verdict's headline without a host", title)
	}
	for _, bad := range []string{": :", "\n: ", "full result", "/verdicts/", "Dump: "} {
		if strings.Contains(out, bad) {
			t.Errorf("dry run shows %q:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "Known issue:") || !strings.Contains(out, "Culprit: SYMEVENT") {
		t.Errorf("dry run lost the known issue or culprit:\n%s", out)
	}
}

// parse --json output of user-mode analyses (no bugcheck code) is accepted too, and its
// headline says what happened to the process.
func TestNotifyDryRunUserModeParseOutput(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bsodwatch.yaml")
	os.WriteFile(cfg, []byte("notifier:\n  targets:\n    - {name: log, type: console}\n"), 0o644)
	for _, tc := range []struct{ fixture, want string }{
		{"hang-cfffffff.txt", "WingtipPos.exe stopped responding (hang analysis)"},
		{"dotnet-clr-hresult.txt", "CLR exception (0xe0434352) in Contoso_Ledger"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			code, parsed, errs := runParse(t, "", "--json", filepath.Join("../../analyzer/cdbout/testdata", tc.fixture))
			if code != exitOK {
				t.Fatalf("parse: exit %d: %s", code, errs)
			}
			p := filepath.Join(t.TempDir(), "parsed.json")
			os.WriteFile(p, []byte(parsed), 0o644)
			code, out, errs := runNotify(t, "--dry-run", "--config", cfg, p)
			if code != exitOK || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, stderr %q; want the headline %q in:\n%s", code, errs, tc.want, out)
			}
		})
	}
}
