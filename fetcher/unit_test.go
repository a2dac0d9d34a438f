package fetcher_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
)

// hostileSession serves names a hostile or broken host could return.
type hostileSession struct{ files map[string][]byte }

var mtime = time.Unix(1700000000, 0)

func (h hostileSession) Close() error { return nil }
func (h hostileSession) ReadDir(_ context.Context, dir string) ([]fetcher.Entry, error) {
	switch dir {
	case "":
		return []fetcher.Entry{{Name: "Minidump", Dir: true}}, nil
	case "Minidump":
	default:
		return nil, fs.ErrNotExist
	}
	var out []fetcher.Entry
	for n, b := range h.files {
		out = append(out, fetcher.Entry{Name: n, Size: int64(len(b)), ModTime: mtime})
	}
	return out, nil
}
func (h hostileSession) Stat(_ context.Context, p string) (fetcher.Entry, error) {
	b, ok := h.files[strings.TrimPrefix(p, "Minidump/")]
	if !ok || !strings.HasPrefix(p, "Minidump/") {
		return fetcher.Entry{}, fs.ErrNotExist
	}
	return fetcher.Entry{Name: p, Size: int64(len(b)), ModTime: mtime}, nil
}
func (h hostileSession) Open(_ context.Context, p string) (fetcher.File, error) {
	return nopFile{bytes.NewReader(h.files[strings.TrimPrefix(p, "Minidump/")])}, nil
}

type nopFile struct{ *bytes.Reader }

func (nopFile) Close() error { return nil }

type hostileSrc struct{ s hostileSession }

func (h hostileSrc) Open(context.Context, fetcher.Host) (fetcher.Session, error) { return h.s, nil }

func TestHostileNamesNeverEscapeTheShare(t *testing.T) {
	r := newRig(t, t.TempDir())
	outer := t.TempDir()
	share, err := dumpshare.NewLocal(filepath.Join(outer, "share"))
	if err != nil {
		t.Fatal(err)
	}
	r.share = share
	evil := []string{"../../escape.dmp", `..\..\escape.dmp`, "C:escape.dmp", "/tmp/escape.dmp", "CON.dmp", "nul", "x\x00.dmp", "..", "a.dmp.bsodwatch-tmp"}
	files := map[string][]byte{"good.dmp": []byte("MDMP good")}
	for _, n := range evil {
		files[n] = []byte("evil")
	}
	src := hostileSrc{hostileSession{files}}
	inv := &staticInv{hosts: []fetcher.Host{{Name: "h1"}, {Name: "../h2"}, {Name: "C:"}, {Name: "COM1"}}}
	f := r.fetcher(t, fetcher.Options{}, inv, src)
	rep := sweep(t, f)
	if len(rep.Copied) != 1 || rep.Copied[0].SharePath != "h1/20231114T221320Z-good.dmp" {
		t.Fatalf("copied %+v; report %+v", rep.Copied, rep)
	}
	if rep.HostsFailed != 3 {
		t.Fatalf("%d hosts failed, want the 3 with unsafe names: %+v", rep.HostsFailed, rep.Errors)
	}
	var all []string
	filepath.WalkDir(outer, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			all = append(all, p)
		}
		return nil
	})
	if len(all) != 1 {
		t.Fatalf("files around the share: %v", all)
	}
}

func TestParseInventory(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string // name@address:port
		err      string
	}{
		{"plain", "# fleet\nsrv01\nsrv02:4455  # lab\n\n", []string{"srv01@:0", "srv02@:4455"}, ""},
		{"yaml", "hosts:\n  - name: srv01\n    address: 10.0.0.1\n    port: 445\n    tags: [prod]\n    globs: [\"LiveKernelReports/**/*.dmp\"]\n  - srv02\n", []string{"srv01@10.0.0.1:445", "srv02@:0"}, ""},
		{"yaml list", "- name: a\n- b:99\n", []string{"a@:0", "b@:99"}, ""},
		{"unknown field", "hosts:\n  - name: a\n    pasword: x\n", nil, `unknown host field "pasword"`},
		{"duplicate", "a\nA\n", nil, "listed twice"},
		{"bad name", "../etc\n", nil, "invalid path"},
		{"bad glob", "hosts:\n  - name: a\n    globs: [\"../x\"]\n", nil, "'..'"},
		{"two words", "a b\n", nil, "one host per line"},
		{"bad port", "hosts:\n  - name: a\n    port: 70000\n", nil, "out of range"},
		{"event log off, moved", "hosts:\n  - {name: a, eventlog: false}\n  - {name: b, eventlog_path: D/Logs/System.evtx}\n", []string{"a@:0 eventlog=false", "b@:0 eventlog_path=D/Logs/System.evtx"}, ""},
		{"bad event log path", "hosts:\n  - {name: a, eventlog_path: ../System.evtx}\n", nil,
			`line 2: host "a": eventlog_path "../System.evtx": a file below the admin share, '/'-separated, without '..' or wildcards`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hosts, err := fetcher.ParseInventory([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hosts {
				g := h.Name + "@" + h.Address + ":" + strconv.Itoa(h.Port)
				if h.EventLog != nil {
					g += " eventlog=" + strconv.FormatBool(*h.EventLog)
				}
				if h.EventLogPath != "" {
					g += " eventlog_path=" + h.EventLogPath
				}
				got = append(got, g)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestFileInventoryReloadsAndKeepsLastGood(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts.txt")
	os.WriteFile(p, []byte("a\n"), 0o644)
	inv, err := fetcher.NewFileInventory(p)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("a\nb\n"), 0o644)
	os.Chtimes(p, time.Now().Add(time.Second), time.Now().Add(time.Second))
	hosts, err := inv.Hosts(context.Background())
	if err != nil || len(hosts) != 2 {
		t.Fatalf("after edit: %v %v", hosts, err)
	}
	os.WriteFile(p, []byte("a\na\nc\n"), 0o644)
	os.Chtimes(p, time.Now().Add(2*time.Second), time.Now().Add(2*time.Second))
	hosts, err = inv.Hosts(context.Background())
	if err == nil || len(hosts) != 2 {
		t.Fatalf("bad edit: want the last good 2 hosts and an error, got %v %v", hosts, err)
	}
}

func TestValidateCopyOptions(t *testing.T) {
	tests := []struct {
		name string
		o    fetcher.Options
		want string
	}{
		{"defaults", fetcher.Options{}, ""},
		{"encryption required", fetcher.Options{Encryption: "required"}, ""},
		{"encryption unknown", fetcher.Options{Encryption: "off"}, `encryption: "off": want auto or required`},
		{"encryption case", fetcher.Options{Encryption: "Required"}, `encryption: "Required": want auto or required`},
		{"chunk too big", fetcher.Options{ChunkSize: 16 << 20}, "chunk_size: 16777216: want 4 KiB (4096) to 8 MiB (8388608)"},
		{"bad glob", fetcher.Options{Globs: []string{"../x"}}, `globs[0]: pattern "../x": empty, '.' or '..' element`},
	}
	for _, tt := range tests {
		got := ""
		if err := tt.o.WithDefaults().Validate(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: Validate() = %q, want %q", tt.name, got, tt.want)
		}
	}
	if e := (fetcher.Options{}).WithDefaults().Encryption; e != fetcher.EncryptionAuto {
		t.Errorf("default encryption %q, want %q", e, fetcher.EncryptionAuto)
	}
}

// blockingSrc opens no session until ctx ends, as a host does that a shutdown interrupts.
type blockingSrc struct{}

func (blockingSrc) Open(ctx context.Context, _ fetcher.Host) (fetcher.Session, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestShutdownRecordsNoHostFailure: hosts a sweep was opening when the process stopped are
// neither logged as failing nor counted: they did nothing wrong.
func TestShutdownRecordsNoHostFailure(t *testing.T) {
	r := newRig(t, t.TempDir())
	inv := &staticInv{hosts: []fetcher.Host{{Name: "h1"}, {Name: "h2"}}}
	f := r.fetcher(t, fetcher.Options{}, inv, blockingSrc{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep, _ := f.Sweep(ctx)
	if rep != nil && (rep.HostsFailed != 0 || len(rep.Errors) != 0) {
		t.Errorf("interrupted sweep counted failures: %+v", rep)
	}
	if strings.Contains(r.logs.String(), "cannot be swept") {
		t.Errorf("interrupted hosts logged as failing:\n%s", r.logs.String())
	}
}
