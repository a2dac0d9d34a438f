package dumpshare

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// failAfter accepts n bytes, then fails.
type failAfter struct {
	n   int
	buf bytes.Buffer
}

func (w *failAfter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.n {
		return 0, errors.New("disk full")
	}
	return w.buf.Write(p)
}

func TestHashCopy(t *testing.T) {
	data := make([]byte, 3*pipeBufSize+4097)
	rand.Read(data)
	cases := []struct {
		name string
		n    int
		size int64 // passed as the size hint
		half bool  // src returns short reads
	}{
		{"empty", 0, 0, false},
		{"one byte", 1, 1, false},
		{"one byte, size unknown", 1, -1, false},
		{"a page", 4096, 4096, false},
		{"exactly one buffer", pipeBufSize, pipeBufSize, false},
		{"one buffer and a byte", pipeBufSize + 1, pipeBufSize + 1, true},
		{"more buffers than the pipeline holds", len(data), -1, true},
		{"wrong size hint", len(data), 10, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var src io.Reader = bytes.NewReader(data[:c.n])
			if c.half {
				src = iotest.HalfReader(src)
			}
			var dst bytes.Buffer
			h := sha256.New()
			n, err := hashCopy(context.Background(), &dst, src, c.size, h, nil)
			want := sha256.Sum256(data[:c.n])
			if err != nil || n != int64(c.n) || !bytes.Equal(dst.Bytes(), data[:c.n]) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("hashCopy = %d, %v; wrote %d bytes, hash ok %v", n, err, dst.Len(), bytes.Equal(h.Sum(nil), want[:]))
			}
		})
	}
}

func TestHashCopyFailures(t *testing.T) {
	data := make([]byte, 6*pipeBufSize)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		src  io.Reader
		dst  io.Writer
		want string
	}{
		{"writer fails midway", context.Background(), bytes.NewReader(data), &failAfter{n: 2 * pipeBufSize}, "disk full"},
		{"reader fails midway", context.Background(), io.MultiReader(bytes.NewReader(data[:pipeBufSize+5]), iotest.ErrReader(errors.New("link down"))), io.Discard, "link down"},
		{"context ended", canceled, bytes.NewReader(data), io.Discard, "context canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := hashCopy(c.ctx, c.dst, c.src, -1, sha256.New(), nil)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
				t.Fatalf("hashCopy error = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// TestFileWriterTail writes aligned buffers and an odd tail through fileWriter, with
// O_DIRECT where the temporary directory's file system takes it.
func TestFileWriterTail(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &fileWriter{f: f, direct: startDirect(f, 64<<20)}
	t.Logf("direct I/O: %v", w.direct)
	var want []byte
	for _, n := range []int{pipeBufSize, pipeBufSize, 12345} {
		b := alignedBuf(pipeBufSize)[:n]
		rand.Read(b)
		if _, err := w.Write(b); err != nil {
			t.Fatalf("write %d bytes: %v", n, err)
		}
		want = append(want, b...)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (%v), want %d identical", len(got), err, len(want))
	}
}
