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
		{[]string{"--once"}, "exactly one of --inventory"},
		{[]string{"--fleet", "x", "--inventory", "y"}, "exactly one of --inventory"},
		{[]string{"--fleet", t.TempDir(), "--once"}, "--share DIR"},
		{[]string{"--fleet", t.TempDir(), "--share", t.TempDir(), "--once"}, "--nats URL"},
		{[]string{"--fleet", "/does/not/exist", "--dry-run"}, "fleet directory"},
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

func TestFetchOnceQueuesAJob(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv, err := embedded.Start(embedded.Options{StoreDir: t.TempDir(), Listen: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
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
