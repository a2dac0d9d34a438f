// Package smallfs mounts a small file system for a test, so that a test can fill a disk for
// real: an ext4 image on a loop device (the local share's usual file system, O_DIRECT
// included) or a size-limited tmpfs. Mounting needs root; the tests run as root under
// `make test`, which sets BSODWATCH_SMB_ADDR: there a missing privilege is a failure, not a
// skip.
package smallfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// Kind of file system.
const (
	Ext4  = "ext4"
	TmpFS = "tmpfs"
)

// Mount mounts a file system of the given kind and size (bytes) on dir, which must exist,
// and unmounts it (removing the image) when the test ends.
func Mount(t testing.TB, dir, kind string, size int64) {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		msg := "a full-disk test mounts a small file system, which needs root on Linux"
		if os.Getenv("BSODWATCH_SMB_ADDR") != "" {
			t.Fatal(msg + " (make test runs as root)")
		}
		t.Skip(msg + "; run under make test as root")
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	switch kind {
	case TmpFS:
		run("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "bsodwatch-test", dir)
	case Ext4:
		img := filepath.Join(t.TempDir(), "fs.img")
		f, err := os.Create(img)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		// No reserved blocks and no journal: every byte of the image is the test's to fill.
		run("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", img)
		run("mount", "-o", "loop", img, dir)
	default:
		t.Fatalf("smallfs: unknown kind %q", kind)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
}
