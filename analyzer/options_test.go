package analyzer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/analysis"
)

func TestOptionsYAML(t *testing.T) {
	const doc = `
slots: 4
engine: cdb
ack_wait: 90s
max_deliver: 7
backoff: [10s, 1m]
cdb_path: 'C:\dbg\cdb.exe'
extra_symbol_paths: ['\\fs\pdb']
timeout: 20m
output_cap: 1048576
share_dir: '\\fs\dumps'
rules_dir: 'C:\bsodwatch\rules'
temp_min_free: 20GiB
`
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	var o Options
	if err := dec.Decode(&o); err != nil {
		t.Fatal(err)
	}
	o = o.WithDefaults()
	want := Options{
		Slots: 4, Engine: "cdb", AckWait: 90 * time.Second, MaxDeliver: 7,
		Backoff: []time.Duration{10 * time.Second, time.Minute}, CDBPath: `C:\dbg\cdb.exe`,
		SymbolPath: `srv*C:\symbols*https://msdl.microsoft.com/download/symbols`, ExtraSymbolPaths: []string{`\\fs\pdb`},
		Commands: "!analyze -v; lmv; q", Timeout: 20 * time.Minute, OutputCap: 1 << 20,
		ShareDir: `\\fs\dumps`, RulesDir: `C:\bsodwatch\rules`, RulesReload: 30 * time.Second,
		TempMinFree: 20 << 30,
	}
	if d := cmp.Diff(want, o); d != "" {
		t.Errorf("options (-want +got):\n%s", d)
	}
	// The paths are a Windows machine's: check what needs no file.
	if err := o.problems().Err(); err != nil {
		t.Errorf("problems: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no share", Options{}, "share_dir: required: the dump share that jobs name files on"},
		{"bad engine", Options{ShareDir: "x", Engine: "windbg"}, `engine: "windbg": want auto, cdb or native`},
		{"short ack wait", Options{ShareDir: "x", AckWait: time.Millisecond}, "ack_wait: 1ms is too short (at least 1s)"},
		{"negative backoff", Options{ShareDir: "x", Backoff: []time.Duration{time.Second, -1}}, "backoff[1]: -1ns: must not be negative"},
		{"everything at once", Options{Engine: "x", Backoff: []time.Duration{-1}},
			`engine: "x": want auto, cdb or native; share_dir: required: the dump share that jobs name files on; backoff[0]: -1ns: must not be negative`},
		{"rules folder missing", Options{ShareDir: "x", RulesDir: filepath.Join(os.TempDir(), "bsodwatch-no-such-rules")},
			"rules_dir: " + filepath.Join(os.TempDir(), "bsodwatch-no-such-rules") + ": " + notExist(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.WithDefaults().Validate()
			if err == nil || err.Error() != tt.want {
				t.Errorf("err:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestCulpritModules(t *testing.T) {
	a := &analysis.Analysis{
		ModuleName: "VBoxNetFlt", ImageName: "VBoxNetFlt.sys",
		Stack: []analysis.Frame{{Module: "nt", Symbol: "KiPageFault"}, {Module: "ndis", Symbol: "x"}},
		Modules: []analysis.Module{
			{Name: "nt", ImageName: "ntkrnlmp.exe"},
			{Name: "hal"},
			{Name: "vboxnetflt", ImageName: "VBoxNetFlt.sys"},
			{Name: "NDIS", ImageName: "ndis.sys"},
			{Name: "usbport"},
		},
	}
	var got []string
	for _, m := range culpritModules(a) {
		got = append(got, m.Name)
	}
	if d := cmp.Diff([]string{"nt", "vboxnetflt", "NDIS"}, got); d != "" {
		t.Errorf("kept modules (-want +got):\n%s", d)
	}
}

func TestBackoff(t *testing.T) {
	w := &Worker{opts: Options{Backoff: []time.Duration{time.Second, time.Minute}}}
	for attempt, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: time.Minute, 9: time.Minute} {
		if got := w.backoff(attempt); got != want {
			t.Errorf("backoff(%d) = %s, want %s", attempt, got, want)
		}
	}
}

// notExist is the operating system's own words for a missing file: "no such file or
// directory" on Linux, other words on Windows.
func notExist(t *testing.T) string {
	_, err := os.Stat(filepath.Join(t.TempDir(), "missing"))
	return errors.Unwrap(err).Error()
}
