package dumpshare

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultStaleAge is how old a temporary file on an SMB share must be before NewSMB removes
// it: SMB has no lock that outlives a dead writer, so age is the test there.
const DefaultStaleAge = time.Hour

// Local is a Share on a local or mounted directory.
type Local struct {
	root string
	comp compression
}

var _ Share = (*Local)(nil)

// NewLocal opens (creating it if needed) the share rooted at dir and removes the temporary
// files of writers that died: a live writer holds a lock on its file (flock on Unix; on
// Windows its open handle forbids deletion), so whatever can be locked is abandoned.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("dump share: directory is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("dump share %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("dump share: %w", err)
	}
	l := &Local{root: abs, comp: defaultCompression}
	if _, err := l.CleanStale(context.Background(), 0); err != nil {
		return nil, err
	}
	return l, nil
}

// Root returns the share's absolute directory.
func (l *Local) Root() string { return l.root }

// Path returns the local file name of rel, after validating it.
func (l *Local) Path(rel string) (string, error) {
	if err := ValidateRel(rel); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(rel)), nil
}

// Put implements Share.
func (l *Local) Put(ctx context.Context, rel string, src io.Reader, size int64) (string, error) {
	dst, err := l.Path(rel)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("put %s: %w", rel, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".*"+tempSuffix)
	if err != nil {
		return "", fmt.Errorf("put %s: %w", rel, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Held until the file is closed: CleanStale leaves a locked temporary alone.
	if err := lockFile(f); err != nil {
		return "", fmt.Errorf("put %s: lock temporary: %w", rel, err)
	}
	h := sha256.New()
	var w io.Writer
	var cw *compressWriter
	if Compressed(rel) {
		if cw, err = newCompressWriter(f, l.comp.level); err != nil {
			return "", fmt.Errorf("put %s: %w", rel, err)
		}
		w = cw
	} else {
		w = &fileWriter{f: f, direct: startDirect(f, size)}
	}
	n, err := hashCopy(ctx, w, src, size, h, alignedBuf)
	if err == nil && cw != nil {
		err = cw.Close()
	}
	if err != nil {
		return "", markFull(fmt.Errorf("put %s: %w", rel, err), noSpace)
	}
	if err := finishTemp(rel, f, n, size); err != nil {
		return "", markFull(err, noSpace)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("put %s: %w", rel, err)
	}
	done = true
	syncDir(dir)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// StoredRel implements Share.
func (l *Local) StoredRel(rel string, size int64) string { return l.comp.storedRel(rel, size) }

// Stat implements Share.
func (l *Local) Stat(ctx context.Context, rel string) (FileInfo, error) {
	p, err := l.Path(rel)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return FileInfo{}, fmt.Errorf("stat %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return FileInfo{}, fmt.Errorf("stat %s: not a regular file", rel)
	}
	return FileInfo{Rel: rel, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List implements Share.
func (l *Local) List(ctx context.Context, fn func(FileInfo) error) error {
	var fnErr error
	err := filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == l.root {
				return err
			}
			return nil // a folder that vanished or cannot be read holds no dump of ours
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if p != l.root && filepath.Dir(p) != l.root {
				return fs.SkipDir // the layout is one level of host folders
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		r, err := filepath.Rel(l.root, p)
		if err != nil {
			return nil
		}
		rel := filepath.ToSlash(r)
		if _, _, _, ok := ParseLayout(rel); !ok {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if err := fn(FileInfo{Rel: rel, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", l.root, err)
	}
	return nil
}

// Space implements Share.
func (l *Local) Space(ctx context.Context) (Space, error) { return statSpace(l.root) }

// Remove implements Share.
func (l *Local) Remove(ctx context.Context, rel string) error {
	p, err := l.Path(rel)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	return nil
}

// Open opens rel for reading (the analyzer's side of a local share).
func (l *Local) Open(ctx context.Context, rel string) (*os.File, error) {
	p, err := l.Path(rel)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", rel, err)
	}
	return f, nil
}

// OpenDump opens the stored file rel for reading and says its size (the web console's
// downloads, for a local share and an SMB one alike).
func (l *Local) OpenDump(ctx context.Context, rel string) (io.ReadCloser, int64, error) {
	f, err := l.Open(ctx, rel)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat %s: %w", rel, err)
	}
	return f, fi.Size(), nil
}

// CleanStale removes temporary files that no live writer holds and that were last written
// more than olderThan ago. It returns how many it removed.
func (l *Local) CleanStale(ctx context.Context, olderThan time.Duration) (int, error) {
	removed := 0
	cutoff := time.Now().Add(-olderThan)
	err := filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a folder that vanished or cannot be read is not our business here
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), tempSuffix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.ModTime().After(cutoff) {
			return nil
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return nil
		}
		if lockFile(f) != nil { // a live writer holds it
			f.Close()
			return nil
		}
		f.Close()
		if os.Remove(p) == nil {
			removed++
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("clean temporary files: %w", err)
	}
	return removed, nil
}
