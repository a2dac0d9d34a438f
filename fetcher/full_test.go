package fetcher_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/dirsource"
	"github.com/bsodwatch/bsodwatch/internal/smallfs"
)

// withShare is r.fetcher with another share and a free-space guard.
func (r *rig) withShare(t *testing.T, o fetcher.Options, src *dirsource.Source, share dumpshare.Share, g *dumpshare.Guard) *fetcher.Fetcher {
	t.Helper()
	if o.StableAfter == 0 {
		o.StableAfter = 50 * time.Millisecond
	}
	f, err := fetcher.New(o, fetcher.Deps{
		Inventory: src, Source: src, Share: share, State: r.state, Publisher: r.pub, Guard: g,
		Log: zerolog.New(r.logs), Registerer: r.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// nothingRecorded checks that a dump that was not copied left no state, no job, no file and
// no temporary behind.
func (r *rig) nothingRecorded(t *testing.T, share dumpshare.Share, root, host, path, rel string) {
	t.Helper()
	if _, known, err := r.state.Get(context.Background(), host, path); err != nil || known {
		t.Fatalf("state recorded for a dump that was not copied (%v)", err)
	}
	if jobs := r.jobs(t); len(jobs) != 0 {
		t.Fatalf("jobs published: %+v", jobs)
	}
	if _, err := share.Stat(context.Background(), rel); err == nil {
		t.Fatal("a file was left at the dump's path")
	}
	if left := tempFiles(t, root); len(left) > 0 {
		t.Fatalf("temporaries left: %v", left)
	}
}

// TestDiskFillsDuringCopy copies a dump to a share on a 48 MiB ext4 volume that another
// writer fills while the copy runs: the copy fails as share_full, nothing is recorded, and
// once the space is freed the next sweep copies the dump whole.
func TestDiskFillsDuringCopy(t *testing.T) {
	r := newRig(t, t.TempDir())
	root := t.TempDir()
	smallfs.Mount(t, root, smallfs.Ext4, 48<<20)
	share, err := dumpshare.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	fleet := t.TempDir()
	mt := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	sum := writeRandom(t, filepath.Join(fleet, "pc01", "MEMORY.DMP"), 30<<20, mt)
	src, err := dirsource.New(fleet)
	if err != nil {
		t.Fatal(err)
	}
	guard := &dumpshare.Guard{Space: share.Space} // no floor: the copy itself must fit
	// 15 MiB/s: the copy takes two seconds, time enough for the filler to take the disk.
	f := r.withShare(t, fetcher.Options{MaxRateBytes: 15 << 20}, src, share, guard)
	filler := filepath.Join(root, "filler")
	filled := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		fh, err := os.Create(filler)
		if err != nil {
			filled <- err
			return
		}
		defer fh.Close()
		buf := bytes.Repeat([]byte{0xAA}, 1<<20)
		for {
			if _, err := fh.Write(buf); err != nil {
				filled <- err
				return
			}
		}
	}()
	rep := sweep(t, f)
	full := syscall.ENOSPC
	if runtime.GOOS == "windows" {
		full = syscall.Errno(112) // ERROR_DISK_FULL, as Wine and Windows say it
	}
	if err := <-filled; !errors.Is(err, full) {
		t.Fatalf("filler: %v, want the disk full", err)
	}
	if rep.Deferred != 1 || len(rep.Copied) != 0 || rep.OK() || len(rep.Errors) != 1 || rep.Errors[0].Reason != "share_full" {
		t.Fatalf("sweep on a filling disk: %+v", rep)
	}
	t.Logf("reported: %s", rep.Errors[0].Error)
	rel := "pc01/20240501T120000Z-MEMORY.DMP"
	r.nothingRecorded(t, share, root, "pc01", "MEMORY.DMP", rel)
	if !strings.Contains(r.logs.String(), "the share filled during the copy") {
		t.Errorf("log does not say why:\n%s", r.logs.String())
	}
	if got := counter(t, r.reg, "bsodwatch_fetcher_copies_deferred_total"); got != 1 {
		t.Errorf("deferred copies counted %v, want 1", got)
	}

	// Space is back: the same dump is copied whole and queued, once.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	rep = sweep(t, f)
	if !rep.OK() || len(rep.Copied) != 1 || rep.Copied[0].SHA256 != sum {
		t.Fatalf("sweep after freeing space: %+v", rep)
	}
	r.checkShareOn(t, root, map[string]string{rel: sum})
	if jobs := r.jobs(t); len(jobs) != 1 || jobs[0].SHA256 != sum {
		t.Fatalf("jobs: %+v", jobs)
	}
}

// checkShareOn asserts that the share rooted at root holds each path with the given sha256.
func (r *rig) checkShareOn(t *testing.T, root string, want map[string]string) {
	t.Helper()
	for rel, sum := range want {
		if got := fileSHA(t, filepath.Join(root, filepath.FromSlash(rel))); got != sum {
			t.Errorf("%s: sha256 %s, want %s", rel, got, sum)
		}
	}
}

// TestMinFreeDefersCopy: a copy that would leave less than min_free is not started (no byte
// read from the host), said so, and made once the floor allows it.
func TestMinFreeDefersCopy(t *testing.T) {
	r := newRig(t, t.TempDir())
	root := t.TempDir()
	share, err := dumpshare.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	fleet := t.TempDir()
	sum := writeRandom(t, filepath.Join(fleet, "pc02", "Minidump", "x.dmp"), 2<<20, time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC))
	src, _ := dirsource.New(fleet)
	free := int64(10 << 20)
	var observed int64
	guard := &dumpshare.Guard{
		Space: func(context.Context) (dumpshare.Space, error) {
			return dumpshare.Space{Free: free, Total: 100 << 20}, nil
		},
		MinFree: 9 << 20, Observe: func(n int64) { observed = n },
	}
	f := r.withShare(t, fetcher.Options{}, src, share, guard)
	rep := sweep(t, f)
	want := "copy deferred: share full: the share has 10.0 MiB free, this write needs 2.0 MiB and 9.0 MiB must stay free"
	if rep.Deferred != 1 || rep.BytesRead != 0 || len(rep.Errors) != 1 || rep.Errors[0].Error != want || observed != free {
		t.Fatalf("sweep under the floor: %+v (observed %d)\nwant error %q", rep, observed, want)
	}
	if rep.Errors[0].Reason != "share_full" {
		t.Fatalf("reason %q, want share_full", rep.Errors[0].Reason)
	}
	r.nothingRecorded(t, share, root, "pc02", "Minidump/x.dmp", "pc02/20240502T000000Z-x.dmp")
	free = 20 << 20
	rep = sweep(t, f)
	if !rep.OK() || len(rep.Copied) != 1 || rep.Copied[0].SHA256 != sum {
		t.Fatalf("sweep with room: %+v", rep)
	}
}

// TestCompressedCopy stores a big dump as .zst: the job names the compressed file and the
// original's size and sha256, and the file restores to the original bytes.
func TestCompressedCopy(t *testing.T) {
	r := newRig(t, t.TempDir())
	root := t.TempDir()
	share, release, err := dumpshare.Open(context.Background(), dumpshare.Options{Dir: root, Compress: dumpshare.CompressOptions{MinSize: 4 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	fleet := t.TempDir()
	mt := time.Date(2024, 5, 3, 0, 0, 0, 0, time.UTC)
	body := bytes.Repeat([]byte("PAGEDU64 kernel pool page\x00\x00\x00\x00"), 300_000) // ~9 MiB, compressible
	p := filepath.Join(fleet, "pc03", "MEMORY.DMP")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, body, 0o644)
	os.Chtimes(p, mt, mt)
	small := writeRandom(t, filepath.Join(fleet, "pc03", "Minidump", "m.dmp"), 1<<20, mt)
	src, _ := dirsource.New(fleet)
	f := r.withShare(t, fetcher.Options{}, src, share, nil)
	rep := sweep(t, f)
	if !rep.OK() || len(rep.Copied) != 2 {
		t.Fatalf("sweep: %+v", rep)
	}
	jobs := r.jobs(t)
	var big, mini bool
	for _, j := range jobs {
		switch j.SharePath {
		case "pc03/20240503T000000Z-MEMORY.DMP.zst":
			big = true
			fh, err := os.Open(filepath.Join(root, filepath.FromSlash(j.SharePath)))
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := fh.Stat()
			var out bytes.Buffer
			if err := dumpshare.Restore(context.Background(), &out, fh, true, j.Size, j.SHA256); err != nil || !bytes.Equal(out.Bytes(), body) || fi.Size() >= int64(len(body))/10 {
				t.Errorf("compressed dump: %v (stored %d of %d bytes)", err, fi.Size(), len(body))
			}
			fh.Close()
			if j.Size != int64(len(body)) || j.Header == nil || j.Header.Error == "" {
				t.Errorf("job: size %d, header %+v", j.Size, j.Header)
			}
		case "pc03/20240503T000000Z-m.dmp":
			mini = j.SHA256 == small
		}
	}
	if !big || !mini {
		t.Fatalf("jobs: %+v", jobs)
	}
}
