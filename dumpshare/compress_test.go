package dumpshare_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/internal/sharedtest"
)

// zstdOf compresses b through a share, as the fetcher stores it.
func zstdOf(t testing.TB, b []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	l, err := dumpshare.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	rel := "h/20240101T000000Z-x.dmp.zst"
	if _, err := l.Put(context.Background(), rel, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	z, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestRestore(t *testing.T) {
	data := compressible(3<<20 + 77)
	z := zstdOf(t, data)
	other := append([]byte(nil), data...)
	other[12345] ^= 1
	bigger := zstdOf(t, append(append([]byte(nil), data...), make([]byte, 1<<20)...))
	cases := []struct {
		name       string
		src        []byte
		compressed bool
		size       int64
		sha        string
		wantErr    string
	}{
		{"compressed", z, true, int64(len(data)), sum(data), ""},
		{"plain", data, false, int64(len(data)), sum(data), ""},
		{"other bytes", zstdOf(t, other), true, int64(len(data)), sum(data), "stored dump does not match its job: sha256 " + sum(other) + ", the job says " + sum(data)},
		{"truncated stream", z[:len(z)/2], true, int64(len(data)), sum(data), "stored dump does not match its job: unexpected EOF"},
		{"not zstd", data[:4096], true, int64(len(data)), sum(data), "stored dump does not match its job: invalid input: magic number mismatch"},
		{"more than the job says", bigger, true, int64(len(data)), sum(data), "stored dump does not match its job: more than 3145805 bytes, the job says 3145805"},
		{"plain, short", data[:100], false, int64(len(data)), sum(data), "stored dump does not match its job: 100 bytes, the job says 3145805"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := dumpshare.Restore(context.Background(), &out, bytes.NewReader(c.src), c.compressed, c.size, c.sha)
			msg := ""
			if err != nil {
				msg = err.Error()
				if !errors.Is(err, dumpshare.ErrCorrupt) {
					t.Errorf("error does not wrap ErrCorrupt: %v", err)
				}
			}
			if msg != c.wantErr {
				t.Fatalf("Restore: %q, want %q", msg, c.wantErr)
			}
			if c.wantErr == "" && !bytes.Equal(out.Bytes(), data) {
				t.Fatal("restored bytes differ")
			}
			if int64(out.Len()) > c.size {
				t.Fatalf("wrote %d bytes, more than the %d the job says", out.Len(), c.size)
			}
		})
	}
	// The destination's failure is its own (a full temporary disk), not a corrupt dump.
	full := errors.New("no space left on device")
	err := dumpshare.Restore(context.Background(), failWriter{full}, bytes.NewReader(z), true, int64(len(data)), sum(data))
	if !errors.Is(err, full) || errors.Is(err, dumpshare.ErrCorrupt) {
		t.Fatalf("write failure: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// TestCompressRealDumps round-trips the real kernel minidumps and reports their ratios.
func TestCompressRealDumps(t *testing.T) {
	dir := sharedtest.Dir(t, "dumps/kernel")
	files, _ := filepath.Glob(filepath.Join(dir, "*.dmp"))
	if len(files) == 0 {
		t.Fatalf("no dumps in %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		z := zstdOf(t, b)
		var out bytes.Buffer
		if err := dumpshare.Restore(context.Background(), &out, bytes.NewReader(z), true, int64(len(b)), sum(b)); err != nil || !bytes.Equal(out.Bytes(), b) {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		t.Logf("%s: %d -> %d bytes (ratio %.2f)", filepath.Base(f), len(b), len(z), float64(len(b))/float64(len(z)))
	}
}

// FuzzRestore feeds arbitrary bytes to the decompressing reader: it must never panic, never
// write more than the job's size, and succeed only for the job's own bytes.
func FuzzRestore(f *testing.F) {
	data := compressible(256 << 10)
	z := zstdOf(f, data)
	f.Add(z, int64(len(data)))
	f.Add(z[:len(z)/3], int64(len(data)))
	f.Add(zstdOf(f, []byte("tiny")), int64(4))
	f.Add(zstdOf(f, nil), int64(0))
	f.Add([]byte("\x28\xb5\x2f\xfd\x00\x58\x00\x00"), int64(1<<20))
	f.Add([]byte("not zstd at all"), int64(100))
	want := sum(data)
	f.Fuzz(func(t *testing.T, in []byte, size int64) {
		if size < 0 || size > 8<<20 {
			size = 8 << 20
		}
		var out countWriter
		err := dumpshare.Restore(context.Background(), &out, bytes.NewReader(in), true, size, want)
		if out.n > size {
			t.Fatalf("wrote %d bytes for a job of %d", out.n, size)
		}
		if err == nil && (size != int64(len(data))) {
			t.Fatalf("restored %d bytes that cannot hash to the job's sha256", size)
		}
		if err != nil && !errors.Is(err, dumpshare.ErrCorrupt) {
			t.Fatalf("error not wrapping ErrCorrupt: %v", err)
		}
		// the bare reader too, with its output capped
		if r, err := dumpshare.NewReader(bytes.NewReader(in)); err == nil {
			io.Copy(io.Discard, io.LimitReader(r, 16<<20))
			r.Close()
		}
	})
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
