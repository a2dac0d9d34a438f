package fetcher_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/dirsource"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded"
)

// TestMain doubles as a separate fetcher process for TestKillMidCopyThenRestart (all-in-one
// style: embedded NATS on disk, a local fleet and share), so the test can SIGKILL it.
func TestMain(m *testing.M) {
	if os.Getenv("BSODWATCH_HELPER_FETCHER") == "1" {
		if err := helperFetcher(); err != nil {
			fmt.Fprintln(os.Stderr, "helper fetcher:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helperFetcher() error {
	srv, err := embedded.Start(embedded.Options{StoreDir: os.Getenv("HELPER_STORE")})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("helper")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if err := pipeline.EnsureStreams(ctx, js, pipeline.StreamOptions{}); err != nil {
		return err
	}
	st, err := fetcher.NewKVState(ctx, js)
	if err != nil {
		return err
	}
	share, err := dumpshare.NewLocal(os.Getenv("HELPER_SHARE"))
	if err != nil {
		return err
	}
	src, err := dirsource.New(os.Getenv("HELPER_FLEET"))
	if err != nil {
		return err
	}
	rate, _ := strconv.ParseInt(os.Getenv("HELPER_RATE"), 10, 64)
	f, err := fetcher.New(fetcher.Options{StableAfter: 50 * time.Millisecond, MaxRateBytes: rate},
		fetcher.Deps{Inventory: src, Source: src, Share: share, State: st, Publisher: intake.NewPublisher(js), Log: zerolog.New(os.Stderr)})
	if err != nil {
		return err
	}
	rep, err := f.Sweep(ctx)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("sweep failed: %+v", rep.Errors)
	}
	return nil
}

func TestKillMidCopyThenRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the fetcher as a subprocess")
	}
	store, fleet, shareDir := t.TempDir(), t.TempDir(), t.TempDir()
	sum := writeRandom(t, filepath.Join(fleet, "pc-7", "MEMORY.DMP"), 96<<20, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC))
	helper := func(rate int64) *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "BSODWATCH_HELPER_FETCHER=1", "HELPER_STORE="+store, "HELPER_FLEET="+fleet,
			"HELPER_SHARE="+shareDir, "HELPER_RATE="+strconv.FormatInt(rate, 10))
		return cmd
	}

	first := helper(16 << 20) // about 6 s for the copy
	var out strings.Builder
	first.Stdout, first.Stderr = &out, &out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		tmp := tempFiles(t, shareDir)
		if len(tmp) == 1 {
			if fi, err := os.Stat(tmp[0]); err == nil && fi.Size() > 8<<20 {
				break
			}
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			first.Wait()
			t.Fatalf("the copy never got going:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	if n := len(tempFiles(t, shareDir)); n != 1 {
		t.Fatalf("after SIGKILL: %d temporary files, want the 1 abandoned mid-copy", n)
	}

	for i := 0; i < 2; i++ { // restart, then once more: still one job
		second := helper(0)
		if b, err := second.CombinedOutput(); err != nil {
			t.Fatalf("restarted fetcher (%d): %v\n%s", i, err, b)
		}
	}

	if left := tempFiles(t, shareDir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	var files []string
	filepath.WalkDir(shareDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 || fileSHA(t, files[0]) != sum || !strings.HasSuffix(files[0], filepath.FromSlash("pc-7/20240601T000000Z-MEMORY.DMP")) {
		t.Fatalf("share holds %v, want one intact copy", files)
	}
	r := &rig{}
	srv, err := embedded.Start(embedded.Options{StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("check")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r.js, _ = jetstream.New(nc)
	jobs := r.jobs(t)
	if len(jobs) != 1 || jobs[0].SHA256 != sum {
		t.Fatalf("jobs %+v, want exactly one for %s", jobs, sum)
	}
}
