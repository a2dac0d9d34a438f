// Package smallfs mounts a small file system for a test, so that a test can fill a disk for
// real: an ext4 image on a loop device (the local share's usual file system, O_DIRECT
// included) or a size-limited tmpfs. Mounting needs root; the tests run as root under
// `make test`, which sets BSODWATCH_SMB_ADDR: there a missing privilege is a failure, not a
// skip.
//
// A Windows test binary (under Wine, scripts/test-windows.sh) cannot mount anything, so it
// asks the Linux side: it writes ID.mount ("KIND SIZE DIR") into the folder that
// BSODWATCH_SMALLFS_SPOOL names, the script mounts the file system on the Linux path of DIR
// and answers ID.ok (or ID.err with the reason); at the end of the test ID.umount asks for
// the unmount, answered by ID.gone. The Windows code then meets a real full disk as Wine
// reports it (ENOSPC as ERROR_DISK_FULL).
package smallfs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Kind of file system.
const (
	Ext4  = "ext4"
	TmpFS = "tmpfs"
)

// SpoolEnv names the folder through which a Windows test binary asks for a mount.
const SpoolEnv = "BSODWATCH_SMALLFS_SPOOL"

// Mount mounts a file system of the given kind and size (bytes) on dir, which must exist,
// and unmounts it (removing the image) when the test ends.
func Mount(t testing.TB, dir, kind string, size int64) {
	t.Helper()
	if kind != Ext4 && kind != TmpFS {
		t.Fatalf("smallfs: unknown kind %q", kind)
	}
	if spool := os.Getenv(SpoolEnv); runtime.GOOS == "windows" && spool != "" {
		mountVia(t, spool, dir, kind, size)
		return
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		msg := "a full-disk test mounts a small file system, which needs root on Linux (or, for a Windows binary under Wine, " + SpoolEnv + ")"
		if os.Getenv("BSODWATCH_SMB_ADDR") != "" {
			t.Fatal(msg + ": make test provides it")
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
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
}

// mountVia asks the Linux side of a Wine run for the mount (see the package comment).
func mountVia(t testing.TB, spool, dir, kind string, size int64) {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	id := filepath.Join(spool, hex.EncodeToString(b[:]))
	ask := func(req, content, answer string) error {
		if err := os.WriteFile(id+".tmp", []byte(content), 0o644); err != nil {
			return err
		}
		if err := os.Rename(id+".tmp", id+req); err != nil {
			return err
		}
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if _, err := os.Stat(id + answer); err == nil {
				return nil
			}
			if msg, err := os.ReadFile(id + ".err"); err == nil {
				return errors.New(string(msg))
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return fmt.Errorf("no answer in %s within a minute: is scripts/test-windows.sh running its mount helper?", spool)
	}
	if err := ask(".mount", fmt.Sprintf("%s %d %s\n", kind, size, dir), ".ok"); err != nil {
		t.Fatalf("smallfs: mount %s %s on %s: %v", kind, strconv.FormatInt(size, 10), dir, err)
	}
	t.Cleanup(func() {
		if err := ask(".umount", "", ".gone"); err != nil {
			t.Errorf("smallfs: umount %s: %v", dir, err)
		}
	})
}
