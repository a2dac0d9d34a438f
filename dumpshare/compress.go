package dumpshare

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/bsodwatch/bsodwatch/internal/bytesize"
)

// CompressedSuffix marks a dump stored compressed. The file is a plain zstd stream (RFC 8878,
// one or more frames, each with its content checksum) of the dump's own bytes, so `zstd -d`
// restores it; the job keeps the original size and the sha256 of the original bytes, which
// stay the dump's identity. Put compresses whatever it writes to a name with this suffix.
const CompressedSuffix = ".zst"

// Compressed reports whether rel names a dump stored compressed.
func Compressed(rel string) bool { return strings.HasSuffix(rel, CompressedSuffix) }

// CompressOptions choose which dumps are stored compressed.
type CompressOptions struct {
	// MinSize: dumps at least this big are stored zstd-compressed, as NAME.zst (0, the
	// default: none). Kernel minidumps (a few hundred KiB to 2 MiB) gain little; MEMORY.DMP
	// files of GiBs gain the most (see the README's sizing notes), e.g. 256MiB.
	MinSize bytesize.Size `yaml:"min_size"`
	// Level is the zstd level: fastest (default), default, better or best. Faster levels
	// keep the copy at the network's pace on a small collector.
	Level string `yaml:"level"`
}

// encoderLevel returns the zstd level of o.
func (o CompressOptions) encoderLevel() (zstd.EncoderLevel, error) {
	if o.Level == "" {
		return zstd.SpeedFastest, nil
	}
	ok, l := zstd.EncoderLevelFromString(o.Level)
	if !ok {
		return 0, fmt.Errorf("%q: want fastest, default, better or best", o.Level)
	}
	return l, nil
}

// compression is the part of a share that names and writes compressed dumps.
type compression struct {
	minSize int64
	level   zstd.EncoderLevel
}

// defaultCompression compresses nothing on its own (StoredRel keeps every name) and writes a
// .zst name at the fastest level.
var defaultCompression = compression{level: zstd.SpeedFastest}

func newCompression(o CompressOptions) (compression, error) {
	l, err := o.encoderLevel()
	if err != nil {
		return compression{}, fmt.Errorf("dump share compress.level: %w", err)
	}
	return compression{minSize: int64(o.MinSize), level: l}, nil
}

// storedRel implements Share.StoredRel.
func (c compression) storedRel(rel string, size int64) string {
	if c.minSize > 0 && size >= c.minSize && !Compressed(rel) {
		return rel + CompressedSuffix
	}
	return rel
}

// encWindow is the encoder's window: small enough that every reader can bound its memory
// (maxWindow) without refusing what bsodwatch writes.
const (
	encWindow = 8 << 20
	maxWindow = 64 << 20
)

// compressWriter compresses what is written to it into w, through a buffer so that a share
// reached over SMB gets large writes.
type compressWriter struct {
	enc *zstd.Encoder
	bw  *bufio.Writer
}

func newCompressWriter(w io.Writer, level zstd.EncoderLevel) (*compressWriter, error) {
	bw := bufio.NewWriterSize(w, pipeBufSize)
	enc, err := zstd.NewWriter(bw, zstd.WithEncoderLevel(level), zstd.WithWindowSize(encWindow), zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	return &compressWriter{enc: enc, bw: bw}, nil
}

func (c *compressWriter) Write(p []byte) (int, error) { return c.enc.Write(p) }

// Close ends the stream and flushes it to the file (which stays open).
func (c *compressWriter) Close() error {
	if err := c.enc.Close(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// ErrCorrupt is wrapped when a stored dump does not restore to the bytes its job names.
var ErrCorrupt = errors.New("stored dump does not match its job")

// NewReader returns the decompressed bytes of a stored .zst dump read from r, with its
// memory bounded whatever r holds (a window over 64 MiB is refused). Close releases it.
func NewReader(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderMaxMemory(maxWindow))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return d.IOReadCloser(), nil
}

// Restore writes the dump stored in src to dst, checking that it is size bytes (at most size
// are ever written) whose sha256 is sha256hex. A compressed src (compressed true) is
// decompressed on the way. The error wraps ErrCorrupt when the bytes are not the job's.
func Restore(ctx context.Context, dst io.Writer, src io.Reader, compressed bool, size int64, sha256hex string) error {
	if compressed {
		d, err := NewReader(src)
		if err != nil {
			return err
		}
		defer d.Close()
		src = d
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(markWrites{dst}, h), ctxReader{ctx, io.LimitReader(src, size)})
	if err == nil && n == size {
		// One byte more than the job says is a different dump; it is never written.
		var one [1]byte
		if m, rerr := io.ReadFull(src, one[:]); m > 0 {
			n++
		} else if rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			err = rerr
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var werr writeError
		if errors.As(err, &werr) {
			return werr.err
		}
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if n != size {
		qual := ""
		if n > size {
			qual = "more than "
		}
		return fmt.Errorf("%w: %s%d bytes, the job says %d", ErrCorrupt, qual, min(n, size), size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, sha256hex) {
		return fmt.Errorf("%w: sha256 %s, the job says %s", ErrCorrupt, got, strings.ToLower(sha256hex))
	}
	return nil
}

// writeError marks an error of Restore's destination, which is not the stored dump's fault.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

// markWrites marks the errors of w as writeErrors.
type markWrites struct{ w io.Writer }

func (m markWrites) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err != nil {
		err = writeError{err}
	}
	return n, err
}

// ctxReader ends a read loop when ctx does.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
