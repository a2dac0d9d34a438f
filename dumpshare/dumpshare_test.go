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
	fi, err := s.Stat(ctx, rel)
	if err != nil || fi.Size != int64(len(data)) || fi.Rel != rel || time.Since(fi.ModTime).Abs() > time.Hour {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
	// read back as the web console's download does
	od, ok := s.(interface {
		OpenDump(context.Context, string) (io.ReadCloser, int64, error)
	})
	if !ok {
		t.Fatalf("%T has no OpenDump", s)
	}
	rc, n, err := od.OpenDump(ctx, rel)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("OpenDump = %d bytes, %v", n, err)
	}
	back, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("OpenDump read %d bytes (%v), not what was put", len(back), err)
	}
	if _, _, err := od.OpenDump(ctx, "host-1/none.dmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenDump of a missing dump: %v, want not-exist", err)
	}
	if _, _, err := od.OpenDump(ctx, "../escape.dmp"); !errors.Is(err, dumpshare.ErrInvalidPath) {
		t.Errorf("OpenDump(../escape.dmp) = %v, want ErrInvalidPath", err)
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
	testListAndSpace(t, s, onDisk, rel, int64(len(data)))
	testCompressed(t, s, onDisk)
	if err := s.Remove(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, rel); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat after Remove: %v", err)
	}
}

// testListAndSpace checks List (only files in the layout, with their sizes) and Space (the
// volume the files are on, as statfs of the folder behind the share sees it).
func testListAndSpace(t *testing.T, s dumpshare.Share, onDisk func(rel string) string, rel string, size int64) {
	ctx := context.Background()
	small := "host-2/20240502T010203Z-050224-1-01.dmp"
	if _, err := s.Put(ctx, small, strings.NewReader("minidump"), 8); err != nil {
		t.Fatal(err)
	}
	// Files that are not dumps in bsodwatch's layout must never be listed (retention would
	// remove what it lists).
	for _, other := range []string{"README.txt", "host-2/notes.txt", "host-2/sub/20240502T010203Z-x.dmp"} {
		p := onDisk(other)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("not a dump"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	planted := onDisk("host-2/.20240502T010203Z-y.dmp.abc.bsodwatch-tmp")
	os.WriteFile(planted, []byte("tmp"), 0o644)
	defer os.Remove(planted)
	got := map[string]int64{}
	if err := s.List(ctx, func(fi dumpshare.FileInfo) error {
		got[fi.Rel] = fi.Size
		if time.Since(fi.ModTime).Abs() > time.Hour {
			t.Errorf("List %s: mtime %s", fi.Rel, fi.ModTime)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{rel: size, small: 8}
	if len(got) != len(want) || got[rel] != size || got[small] != 8 {
		t.Errorf("List = %v, want %v", got, want)
	}
	stop := errors.New("stop")
	if err := s.List(ctx, func(dumpshare.FileInfo) error { return stop }); err != stop {
		t.Errorf("List did not return fn's error as is: %v", err)
	}
	if err := s.Remove(ctx, small); err != nil {
		t.Fatal(err)
	}
	sp, err := s.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	local, err := dumpshare.LocalSpace(filepath.Dir(onDisk(rel)))
	if err != nil {
		t.Fatal(err)
	}
	// Other processes write to the same volume meanwhile: agree within 1 % of its size.
	if sp.Total <= 0 || sp.Free <= 0 || sp.Free > sp.Total || absDiff(sp.Total, local.Total) > local.Total/100 || absDiff(sp.Free, local.Free) > local.Total/100 {
		t.Errorf("Space = %+v, statfs of the folder says %+v", sp, local)
	}
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// testCompressed puts a dump under a .zst name: the hash and size are the original's, the
// file holds a zstd stream that Restore turns back into the original bytes.
func testCompressed(t *testing.T, s dumpshare.Share, onDisk func(rel string) string) {
	ctx := context.Background()
	data := compressible(24 << 20)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	rel := "host-3/20240503T000000Z-MEMORY.DMP" + dumpshare.CompressedSuffix
	got, err := s.Put(ctx, rel, bytes.NewReader(data), int64(len(data)))
	if err != nil || got != want {
		t.Fatalf("compressed Put = %s, %v; want %s", got, err, want)
	}
	fi, err := s.Stat(ctx, rel)
	if err != nil || fi.Size >= int64(len(data))/2 {
		t.Fatalf("compressed file: %+v, %v (from %d bytes)", fi, err, len(data))
	}
	f, err := os.Open(onDisk(rel))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = dumpshare.Restore(ctx, &out, f, true, int64(len(data)), want)
	f.Close() // before Remove below: Windows removes no open file
	if err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("Restore: %v (%d bytes, equal %v)", err, out.Len(), bytes.Equal(out.Bytes(), data))
	}
	// a short source is refused for a compressed name too, and nothing is left
	if _, err := s.Put(ctx, "host-3/20240503T000001Z-x.dmp.zst", bytes.NewReader(data[:1000]), int64(len(data))); !errors.Is(err, dumpshare.ErrSizeMismatch) {
		t.Fatalf("short compressed Put: %v", err)
	}
	if _, err := s.Stat(ctx, "host-3/20240503T000001Z-x.dmp.zst"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("failed compressed Put left a file: %v", err)
	}
	if err := s.Remove(ctx, rel); err != nil {
		t.Fatal(err)
	}
}

// compressible returns n bytes that look like memory: zero pages, repeated structures and
// some noise.
func compressible(n int) []byte {
	b := make([]byte, n)
	var noise [4096]byte
	rand.Read(noise[:])
	for off := 0; off+4096 <= n; off += 4096 {
		switch (off / 4096) % 4 {
		case 0: // zero page
		case 1:
			copy(b[off:], noise[:512]) // a little noise
		default:
			for i := off; i < off+4096; i += 16 {
				copy(b[i:], "KDBG\x00\x01\x02\x03 pool tag ")
			}
		}
	}
	return b
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
