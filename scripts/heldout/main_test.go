package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFirstWord(t *testing.T) {
	tests := []struct {
		text string
		kws  []string
		want string
	}{
		{"IMAGE_NAME: SbieDrv.sys", []string{"sbiedrv"}, "sbiedrv"},
		{"crash in klif.sys", []string{"kl"}, ""},        // part of a word
		{"avast! and aswSP", []string{"avast"}, "avast"}, // punctuation ends a word
		{"portmaster-kext v1", []string{"portmaster-kext"}, "portmaster-kext"},
		{"Contoso2 agent", []string{"contoso"}, ""},          // a digit continues the word
		{"xcontoso contoso", []string{"contoso"}, "contoso"}, // a later whole-word hit counts
		{"nothing here", []string{"acme", "fabrikam"}, ""},
		{"Fabrikam then Acme", []string{"acme", "fabrikam"}, "acme"}, // keyword order, not text order
	}
	for _, tt := range tests {
		if got := firstWord(tt.text, tt.kws); got != tt.want {
			t.Errorf("firstWord(%q, %q) = %q, want %q", tt.text, tt.kws, got, tt.want)
		}
	}
}

func TestNormKeywords(t *testing.T) {
	got := normKeywords([]string{" SbieDrv.SYS ", "sbiedrv", "Npcap", "", "ekrn.exe", "x.dll"})
	want := "sbiedrv,npcap,ekrn,x"
	if strings.Join(got, ",") != want {
		t.Errorf("normKeywords = %q, want %s", got, want)
	}
}

// TestScoreSet counts a set whose verdicts are given, so each kind of line is checked
// without a binary: a hit by the rule, a hit by the culprit alone, a miss, an n/a, a review.
func TestScoreSet(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text, label string) {
		if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(label), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("01", "rule of symantec", `{"keywords": ["symantec"]}`)
	write("02", "culprit rt640x64.sys of Realtek", `{"keywords": ["Realtek"]}`)
	write("03", "Contoso Backup was installed", `{"keywords": ["contoso"]}`)
	write("04", "no words of the label", `{"keywords": ["acme"]}`)
	write("05", "other rule", `{"keywords": ["fabrikam"]}`)
	verdicts := map[string]string{
		"rule of symantec":                `{"matches":[{"id":"symantec-symevent-kernel-stack","title":"Symantec SYMEVENT.SYS filter"}]}`,
		"culprit rt640x64.sys of Realtek": `{"culprit":{"module":"rt640x64.sys","vendor":"Realtek"}}`,
		"Contoso Backup was installed":    `{}`,
		"no words of the label":           `{"matches":[{"id":"network-driver-generic","tags":["generic"]}]}`,
		"other rule":                      `{"matches":[{"id":"citrix-picadd","title":"Citrix picadd.sys"}]}`,
	}
	parse := func(text []byte) (verdict, error) {
		var v verdict
		return v, json.Unmarshal([]byte(verdicts[string(text)]), &v)
	}
	var out bytes.Buffer
	s, err := scoreSet(dir, parse, &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (score{items: 5, hits: 2, ceiling: 3, review: 1}); s != want {
		t.Errorf("score = %+v, want %+v\n%s", s, want, out.String())
	}
	for _, line := range []string{"01         HIT ", "02         HIT ", "03         miss", "04         n/a ", "05         n/a  rule=citrix-picadd"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
	if !strings.Contains(out.String(), "REVIEW") || strings.Count(out.String(), "REVIEW") != 1 {
		t.Errorf("want exactly one REVIEW line:\n%s", out.String())
	}
}

func TestScoreSetErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := scoreSet(empty, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no labelled items") {
		t.Errorf("empty set: err = %v", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "01.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(bad, "01.json"), []byte(`{"keywords": []}`), 0o644)
	if _, err := scoreSet(bad, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "01.json: no keywords") {
		t.Errorf("label without keywords: err = %v", err)
	}
}

// TestScoreRealBinary builds bsodwatch and scores testdata/set, four crash texts written
// here: the seed's SYMEVENT crash (a hit, from the shipped library), a product named only in
// prose (a miss), a text that names nothing (n/a), and the SYMEVENT text under a label that
// blames another product (n/a, and the Symantec rule is flagged for review). Then the same
// with -rules, on a directory holding no rule that fits.
func TestScoreRealBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bsodwatch")
	build := exec.Command("go", "build", "-o", bin, "github.com/bsodwatch/bsodwatch/cmd/bsodwatch")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-bsodwatch", bin, "testdata/set"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	want := "testdata/set: hits 1/4 (25 %); ceiling (a keyword in the text) 2/4; headline rules naming none of the keywords 1"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	if !strings.Contains(out.String(), "a/01       HIT  rule=symantec-symevent-kernel-stack") {
		t.Errorf("the seed's crash is not a hit by the Symantec rule:\n%s", out.String())
	}

	rules := t.TempDir()
	rule := "rules:\n  - id: only-0xdead\n    title: never here\n    severity: low\n    match: {bugcheck_code: 0xdead}\n"
	if err := os.WriteFile(filepath.Join(rules, "r.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-bsodwatch", bin, "-rules", rules, "testdata/set", "testdata/set"}, &out, &errOut); code != 0 {
		t.Fatalf("-rules: exit %d: %s", code, errOut.String())
	}
	// Without the Symantec rule the culprit (SYMEVENT.SYS, Symantec) still names the product,
	// and no headline rule is left to review; two sets add up.
	if want := "all: hits 2/8 (25 %); ceiling (a keyword in the text) 4/8; headline rules naming none of the keywords 0"; !strings.Contains(out.String(), want) {
		t.Errorf("-rules: output lacks %q:\n%s", want, out.String())
	}

	out.Reset()
	errOut.Reset()
	if code := run([]string{"-bsodwatch", bin, "-rules", "/nonexistent", "testdata/set"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "/nonexistent") {
		t.Errorf("a rules directory that does not load: exit %d, stderr %q", code, errOut.String())
	}
}
