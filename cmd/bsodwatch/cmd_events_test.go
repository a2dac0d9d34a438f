package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	evt "github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
	"github.com/rs/zerolog"
)

func runEvents(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Log: zerolog.Nop()}
	code = cmdEvents(context.Background(), e, args)
	return out.String(), errb.String(), code
}

func web01Log() []byte { return evt.CrashHistory() }

func TestEventsGolden(t *testing.T) {
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "System.evtx"), web01Log(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"events_web01.txt", []string{"System.evtx"}},
		{"events_web01_all.txt", []string{"--all", "System.evtx"}},
		{"events_web01.json", []string{"--json", "System.evtx"}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			out, errOut, code := runEvents(t, tt.args...)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			checkGolden(t, filepath.Join(testdata, tt.golden), out)
		})
	}
}

// TestEventsJSONContract: the keys DESIGN.md promises, on the 1001 of the synthetic log.
func TestEventsJSONContract(t *testing.T) {
	p := filepath.Join(t.TempDir(), "System.evtx")
	os.WriteFile(p, web01Log(), 0o600)
	out, _, code := runEvents(t, "--json", p)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var r map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var file string
	json.Unmarshal(r["file"], &file)
	var events []map[string]any
	json.Unmarshal(r["events"], &events)
	if file != p || len(events) == 0 {
		t.Fatalf("file %q, %d events", file, len(events))
	}
	var bugcheck map[string]any
	for _, e := range events {
		if e["id"] == float64(1001) {
			bugcheck = e
		}
	}
	want := map[string]any{"id": float64(1001), "record": float64(315), "time": "2024-05-01T08:15:00Z", "provider": "Microsoft-Windows-WER-SystemErrorReporting",
		"kind": "bugcheck", "bugcheck_code": "0x7e", "args": []any{"0xffffffffc0000005", "0xfffff80312345678", "0xffffd000a1b2c3d8", "0xffffd000a1b2c5f0"},
		"dump_path": `C:\WINDOWS\Minidump\050124-12345-01.dmp`, "report_id": "cdc03408-1c74-42d1-ad9c-caae62d7edc3"}
	for k, v := range want {
		got, _ := json.Marshal(bugcheck[k])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s: %s, want %s", k, got, exp)
		}
	}
}

func TestEventsErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "System.evtx")
	os.WriteFile(good, web01Log(), 0o600)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := web01Log()
	torn := write("torn.evtx", full[:evt.FileHeaderSize+evt.ChunkSize/2])
	text := write("notes.txt", []byte("not an event log\n"))
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stderr   string // exact
		stdoutIn string
	}{
		{"no file", nil, exitUsage, "usage: bsodwatch events", ""},
		{"missing file", []string{filepath.Join(dir, "absent.evtx")}, exitError, "bsodwatch events: " + filepath.Join(dir, "absent.evtx") + ": no such file\n", ""},
		{"not an event log", []string{text}, exitUsage, "bsodwatch events: " + text + ": not an EVTX event log\n", ""},
		{"a directory", []string{dir}, exitUsage, "bsodwatch events: " + dir + ": not an EVTX event log: a directory\n", ""},
		{"torn: what could be read, and a warning", []string{torn}, exitUsage,
			"bsodwatch events: " + torn + ": warning: chunk 0 (offset 4096, records 1–172): the file ends inside it; skipped\n", "crashes  none"},
		{"good and bad: the good one still prints", []string{text, good}, exitUsage, "bsodwatch events: " + text + ": not an EVTX event log\n", "blue screen 0x133"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runEvents(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if strings.HasPrefix(tc.stderr, "usage:") {
				if !strings.HasPrefix(errOut, tc.stderr) {
					t.Errorf("stderr %q", errOut)
				}
			} else if errOut != tc.stderr {
				t.Errorf("stderr %q, want %q", errOut, tc.stderr)
			}
			if !strings.Contains(out, tc.stdoutIn) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdoutIn, out)
			}
		})
	}
}

// TestEventsRealLogs: the five real logs, as the "done when" lists them.
func TestEventsRealLogs(t *testing.T) {
	dir := sharedtest.Dir(t, "evtx")
	files, _ := filepath.Glob(filepath.Join(dir, "*.evtx"))
	slices.Sort(files)
	if len(files) != 5 {
		t.Fatalf("%d logs in %s, want 5", len(files), dir)
	}
	out, errOut, code := runEvents(t, append([]string{"--json"}, files...)...)
	if code != exitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "System2.evtx: warning: chunk 2") {
		t.Errorf("exit %d (want 2: the torn System2.evtx), stderr %q", code, errOut)
	}
	want := map[string]string{
		"omerbenamram-evtx__samples__2-vss_7-System.evtx": "",
		"omerbenamram-evtx__samples__system.evtx":         "",
		"plaso__test_data_evtx__System.evtx":              "325/41/ 1041/6008/ 1046/41/",
		"plaso__test_data_evtx__System2.evtx":             "",
		"python-evtx__tests_data__system.evtx":            `13388/6008/ 13392/41/0x10001 13423/1001/0x10001:C:\Windows\MEMORY.DMP 13530/6008/ 13534/41/`,
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for range files {
		var r eventsReport
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range r.Events {
			switch e.Kind {
			case "bugcheck", "unexpected_reboot", "unexpected_shutdown", "dump_not_saved", "dump_failed":
				s := strings.Join([]string{itoa(e.Record), itoa(uint64(e.ID)), e.BugcheckCode}, "/")
				if e.DumpPath != "" {
					s += ":" + e.DumpPath
				}
				got = append(got, s)
			}
		}
		if g, w := strings.Join(got, " "), want[filepath.Base(r.File)]; g != w {
			t.Errorf("%s: %q, want %q", filepath.Base(r.File), g, w)
		}
	}
}

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }
