package dumpshare_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/secret"
)

func TestValidateRel(t *testing.T) {
	cases := []struct {
		rel string
		ok  bool
	}{
		{"host/20240501T000000Z-MEMORY.DMP", true},
		{"a.dmp", true},
		{"host/Minidump/x.dmp", true},
		{"", false},
		{"../x.dmp", false},
		{"host/../../etc/passwd", false},
		{"host/..", false},
		{"./x", false},
		{"/etc/passwd", false},
		{`host\x.dmp`, false},
		{`..\..\x`, false},
		{"C:/Windows/x.dmp", false},
		{"C:x.dmp", false},
		{"host/CON", false},
		{"host/nul.dmp", false},
		{"COM1/x", false},
		{"host/LPT9.txt", false},
		{"host/COM¹", false},
		{"host/CONIN$", false},
		{"host/x\x00.dmp", false},
		{"host/x\n.dmp", false},
		{"host//x", false},
		{"host/x.", false},
		{"host/x ", false},
		{"host/a:b", false},
		{"host/x.dmp.bsodwatch-tmp", false},
		{"CONSOLE/x.dmp", true}, // only exact device names are reserved
		{"COM10/x", true},
	}
	for _, c := range cases {
		err := dumpshare.ValidateRel(c.rel)
		if (err == nil) != c.ok {
			t.Errorf("ValidateRel(%q) = %v, want ok=%v", c.rel, err, c.ok)
		}
		if err != nil && !errors.Is(err, dumpshare.ErrInvalidPath) {
			t.Errorf("ValidateRel(%q): error %v does not wrap ErrInvalidPath", c.rel, err)
		}
	}
}

func TestLayout(t *testing.T) {
	ts := time.Date(2024, 5, 1, 14, 34, 56, 0, time.FixedZone("CEST", 2*3600))
	cases := []struct {
		host, name, want string
	}{
		{"srv01", "MEMORY.DMP", "srv01/20240501T123456Z-MEMORY.DMP"},
		{"10.0.0.7", "050124-1-01.dmp", "10.0.0.7/20240501T123456Z-050124-1-01.dmp"},
		{"..", "x.dmp", ""},
		{"-rf", "x.dmp", ""},
		{"a/b", "x.dmp", ""},
		{"fe80::1", "x.dmp", ""},
		{"NUL", "x.dmp", ""},
		{"srv", "../x", ""},
		{"srv", `..\..\x`, ""},
		{"srv", "C:x", ""},
		{"srv", "AUX", ""},
	}
	for _, c := range cases {
		got, err := dumpshare.Layout(c.host, c.name, ts)
		if c.want == "" {
			if err == nil {
				t.Errorf("Layout(%q, %q) = %q, want an error", c.host, c.name, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Layout(%q, %q) = %q, %v; want %q", c.host, c.name, got, err, c.want)
		}
		if dumpshare.ValidateRel(got) != nil {
			t.Errorf("Layout output %q is not a valid rel", got)
		}
	}
}

func randomBytes(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	s := sha256.Sum256(b)
	return b, hex.EncodeToString(s[:])
}

// testShare runs the Share contract against one implementation; onDisk maps rel to the file
// that must hold the bytes, and lists leftover temporaries.
func testShare(t *testing.T, s dumpshare.Share, onDisk func(rel string) string, temps func() []string) {
	ctx := context.Background()
	data, sum := randomBytes(t, 40<<20+123) // over 16 MiB: the go-smb2 server-side copy trap
	rel := "host-1/20240501T000000Z-MEMORY.DMP"
	got, err := s.Put(ctx, rel, bytes.NewReader(data), int64(len(data)))
	if err != nil || got != sum {
		t.Fatalf("Put = %s, %v; want %s", got, err, sum)
	}
	disk, err := os.ReadFile(onDisk(rel))
	if err != nil || !bytes.Equal(disk, data) {
		t.Fatalf("file on disk differs (%d bytes, %v)", len(disk), err)
	}
	if n, err := s.Stat(ctx, rel); err != nil || n != int64(len(data)) {
		t.Fatalf("Stat = %d, %v", n, err)
	}
	// a short source: refused, nothing left behind, the old file untouched
	if _, err := s.Put(ctx, rel, io.LimitReader(bytes.NewReader(data), 1000), int64(len(data))); !errors.Is(err, dumpshare.ErrSizeMismatch) {
		t.Fatalf("short Put: %v, want ErrSizeMismatch", err)
	}
	// a failing source
	if _, err := s.Put(ctx, "host-1/other.dmp", io.MultiReader(bytes.NewReader(data[:3<<20]), iotestErr{}), -1); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if _, err := s.Stat(ctx, "host-1/other.dmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("failed Put left a file: %v", err)
	}
	if disk, _ := os.ReadFile(onDisk(rel)); !bytes.Equal(disk, data) {
		t.Fatal("a failed Put damaged the existing file")
	}
	if left := temps(); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	for _, bad := range []string{"../escape.dmp", "/abs.dmp", "C:/x.dmp", "host/CON", "a/../../b"} {
		if _, err := s.Put(ctx, bad, strings.NewReader("x"), 1); !errors.Is(err, dumpshare.ErrInvalidPath) {
			t.Errorf("Put(%q) = %v, want ErrInvalidPath", bad, err)
		}
	}
	if err := s.Remove(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, rel); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat after Remove: %v", err)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("source broke") }

func temps(root string) func() []string {
	return func() []string {
		var out []string
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".bsodwatch-tmp") {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
}

func TestLocal(t *testing.T) {
	dir := t.TempDir()
	l, err := dumpshare.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	testShare(t, l, func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }, temps(dir))
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.dmp")); err == nil {
		t.Fatal("a file escaped the share")
	}
}

func TestLocalCleansAbandonedTemporaries(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "h"), 0o755); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dir, "h", ".x.dmp.123.bsodwatch-tmp")
	os.WriteFile(dead, []byte("half a dump"), 0o644)
	keep := filepath.Join(dir, "h", "x.dmp")
	os.WriteFile(keep, []byte("a dump"), 0o644)
	if _, err := dumpshare.NewLocal(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("abandoned temporary still there: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a real file was removed: %v", err)
	}
}

func TestLocalKeepsALiveWritersTemporary(t *testing.T) {
	dir := t.TempDir()
	l, err := dumpshare.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := l.Put(context.Background(), "h/live.dmp", pr, 2<<20)
		done <- err
	}()
	pw.Write(make([]byte, 1<<20)) // the writer is mid-file now
	if n, err := l.CleanStale(context.Background(), 0); err != nil || n != 0 {
		t.Fatalf("CleanStale removed %d files of a live writer (%v)", n, err)
	}
	pw.Write(make([]byte, 1<<20))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("live writer failed: %v", err)
	}
}

func TestSMB(t *testing.T) {
	addr, user, pass, root := os.Getenv("BSODWATCH_SMB_ADDR"), os.Getenv("BSODWATCH_SMB_USER"), os.Getenv("BSODWATCH_SMB_PASS"), os.Getenv("BSODWATCH_SMB_ROOT")
	if addr == "" {
		t.Skip("BSODWATCH_SMB_* not set: run scripts/samba.sh start and source $SMB_ROOT/env.sh (make test does)")
	}
	if user == "" || root == "" {
		t.Fatal("BSODWATCH_SMB_ADDR is set but BSODWATCH_SMB_USER or _ROOT is not: source the env.sh of scripts/samba.sh start")
	}
	sub := "dumpshare-test-" + time.Now().Format("150405.000000")
	t.Cleanup(func() { os.RemoveAll(filepath.Join(root, "dumps", sub)) })
	for _, a := range []string{addr, os.Getenv("BSODWATCH_SMB_SIGNED_ADDR")} {
		t.Run(a, func(t *testing.T) {
			s, err := dumpshare.NewSMB(context.Background(), dumpshare.SMBOptions{
				Addr: a, Share: "dumps", Dir: sub, User: `WORKGROUP\` + user, Password: secret.New(pass), OpTimeout: 30 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			base := filepath.Join(root, "dumps", sub)
			testShare(t, s, func(rel string) string { return filepath.Join(base, filepath.FromSlash(rel)) }, temps(base))
		})
	}
	_, err := dumpshare.NewSMB(context.Background(), dumpshare.SMBOptions{Addr: addr, Share: "dumps", User: user, Password: secret.New("Not-The-Password-42")})
	if err == nil || strings.Contains(err.Error(), "Not-The-Password-42") {
		t.Fatalf("bad password: %v", err)
	}
}
