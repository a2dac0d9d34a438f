package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded"
)

func runFetch(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Log: zerolog.New(&errb)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = cmdFetch(ctx, e, args)
	return code, out.String(), errb.String()
}

func fetchFleet(t *testing.T) string {
	t.Helper()
	fleet := t.TempDir()
	p := filepath.Join(fleet, "ws-12", "Minidump", "060124-1-01.dmp")
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, _ := os.Create(p)
	io.CopyN(f, rand.Reader, 100<<10)
	f.Close()
	mt := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	os.Chtimes(p, mt, mt)
	return fleet
}

func TestFetchUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"--once"}, "bsodwatch fetch: fetcher.inventory: set exactly one of fetcher.inventory or fetcher.ldap (SMB hosts) or fetcher.fleet_dir (a local folder); flags --inventory or --fleet\n"},
		{[]string{"--fleet", "x", "--inventory", "y"}, "bsodwatch fetch: fetcher.fleet_dir: set inventory or fleet_dir, not both\n"},
		{[]string{"--fleet", t.TempDir(), "--once"}, "bsodwatch fetch: share: no dump share: set share.dir or share.smb, or --share DIR\n"},
		{[]string{"--fleet", t.TempDir(), "--share", t.TempDir(), "--once"}, "bsodwatch fetch: nats.urls: no NATS server: set nats.urls in the config, --nats URL or $BSODWATCH_NATS_URL\n"},
		{[]string{"--fleet", "/does/not/exist", "--dry-run"}, "bsodwatch fetch: fetcher.fleet_dir: /does/not/exist: " + notExistReason(t, "/does/not/exist") + "\n"},
		{[]string{"--config", "/does/not/exist"}, notExistReason(t, "/does/not/exist")},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		code, _, stderr := runFetch(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.msg) {
			t.Errorf("fetch %v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, exitUsage, c.msg)
		}
	}
}

func TestFetchDryRun(t *testing.T) {
	fleet := fetchFleet(t)
	code, stdout, stderr := runFetch(t, "--fleet", fleet, "--dry-run")
	want := `would copy ws-12 ADMIN$\Minidump\060124-1-01.dmp -> ws-12/20240601T100000Z-060124-1-01.dmp (102400 bytes`
	if code != exitOK || !strings.Contains(stdout, want) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// fetchNATS starts an embedded NATS server on a free loopback port for the test.
func fetchNATS(t *testing.T) (addr string, srv *embedded.Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	srv, err = embedded.Start(embedded.Options{StoreDir: t.TempDir(), Listen: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return addr, srv
}

func TestFetchOnceQueuesAJob(t *testing.T) {
	addr, srv := fetchNATS(t)
	fleet, share := fetchFleet(t), t.TempDir()
	cfg := filepath.Join(t.TempDir(), "fetch.yaml")
	os.WriteFile(cfg, []byte("nats:\n  urls: [nats://"+addr+"]\nshare:\n  dir: "+share+"\nfetcher:\n  fleet_dir: "+fleet+"\n  stable_after: 50ms\n"), 0o644)

	code, stdout, stderr := runFetch(t, "--config", cfg, "--once", "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep fetcher.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Copied) != 1 {
		t.Fatalf("report %q: %v", stdout, err)
	}
	if _, err := os.Stat(filepath.Join(share, "ws-12", "20240601T100000Z-060124-1-01.dmp")); err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect("check")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), pipeline.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(context.Background())
	if info.State.Msgs != 1 {
		t.Fatalf("%d jobs, want 1", info.State.Msgs)
	}
	// a second run finds nothing new
	code, stdout, _ = runFetch(t, "--config", cfg, "--once")
	if code != exitOK || !strings.Contains(stdout, "0 queued, 1 unchanged") {
		t.Fatalf("second run: exit %d, %s", code, stdout)
	}
}

// A dry run reads the hosts' event logs too and says which crashes it would queue.
func TestFetchDryRunEventLog(t *testing.T) {
	fleet := fetchFleet(t)
	logs := filepath.Join(fleet, "web01", "System32", "winevt", "Logs")
	os.MkdirAll(logs, 0o755)
	if err := os.WriteFile(filepath.Join(logs, "System.evtx"), web01Log(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runFetch(t, "--fleet", fleet, "--dry-run")
	want := `would queue web01 crash from the event log, record 205, 2024-05-01T03:12:00Z (no_dump 0x133: page file too small (volmgr 49))
would queue web01 crash from the event log, record 310, 2024-05-01T08:12:00Z (dump_missing 0x7e)
would queue web01 crash from the event log, record 316, 2024-05-01T11:12:00Z (unexpected_reboot)
`
	if code != exitOK || !strings.Contains(stdout, want) || !strings.Contains(stdout, "1 event logs read (0 failed, 262272 bytes), 3 crashes without a dump to queue\n") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}
