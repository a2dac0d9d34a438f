package dumpshare_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/internal/smallfs"
	"github.com/bsodwatch/bsodwatch/secret"
)

// testFull fills a share whose volume has about size bytes: a dump that does not fit fails
// with ErrNoSpace, leaves no temporary and no file, and leaves the dump already there intact;
// once space is freed the same dump goes in.
func testFull(t *testing.T, s dumpshare.Share, root string, size int64) {
	ctx := context.Background()
	sp, err := s.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Total > size || sp.Total < size/2 || sp.Free > sp.Total {
		t.Fatalf("Space of a %d-byte volume = %+v", size, sp)
	}
	first, firstSum := randomBytes(t, int(sp.Free/3))
	if got, err := s.Put(ctx, "h/20240101T000000Z-first.dmp", bytes.NewReader(first), int64(len(first))); err != nil || got != firstSum {
		t.Fatalf("first Put: %s, %v", got, err)
	}
	big, bigSum := randomBytes(t, int(sp.Free)) // more than is left
	rel := "h/20240101T000001Z-MEMORY.DMP"
	_, err = s.Put(ctx, rel, bytes.NewReader(big), int64(len(big)))
	if !errors.Is(err, dumpshare.ErrNoSpace) {
		t.Fatalf("Put on a full volume: %v, want ErrNoSpace", err)
	}
	t.Logf("full: %v", err)
	if _, err := s.Stat(ctx, rel); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed Put left its file: %v", err)
	}
	if left := temps(root)(); len(left) > 0 {
		t.Fatalf("temporaries left on a full volume: %v", left)
	}
	if disk, err := os.ReadFile(filepath.Join(root, "h", "20240101T000000Z-first.dmp")); err != nil || !bytes.Equal(disk, first) {
		t.Fatalf("the dump already there was damaged: %v", err)
	}
	if err := s.Remove(ctx, "h/20240101T000000Z-first.dmp"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Put(ctx, rel, bytes.NewReader(big[:len(big)*3/4]), int64(len(big)*3/4)); err != nil || got == bigSum {
		t.Fatalf("Put after freeing space: %s, %v", got, err)
	}
}

func TestLocalFullDisk(t *testing.T) {
	dir := t.TempDir()
	const size = 48 << 20
	smallfs.Mount(t, dir, smallfs.Ext4, size)
	l, err := dumpshare.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	testFull(t, l, dir, size)
}

func TestSMBFullDisk(t *testing.T) {
	addr, user, pass, root := os.Getenv("BSODWATCH_SMB_ADDR"), os.Getenv("BSODWATCH_SMB_USER"), os.Getenv("BSODWATCH_SMB_PASS"), os.Getenv("BSODWATCH_SMB_ROOT")
	if addr == "" {
		t.Skip("BSODWATCH_SMB_* not set: run scripts/samba.sh start and source $SMB_ROOT/env.sh (make test does)")
	}
	sub := "dumpshare-full-" + time.Now().Format("150405.000000")
	dir := filepath.Join(root, "dumps", sub)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	const size = 32 << 20
	smallfs.Mount(t, dir, smallfs.TmpFS, size)
	os.Chmod(dir, 0o777) // the Samba test user writes here
	s, err := dumpshare.NewSMB(context.Background(), dumpshare.SMBOptions{
		Addr: addr, Share: "dumps", Dir: sub, User: `WORKGROUP\` + user, Password: secret.New(pass), OpTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testFull(t, s, dir, size)
}
