package dumpshare

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/smbauth"

	"github.com/cloudsoda/go-smb2"

	"github.com/bsodwatch/bsodwatch/secret"
)

// SMBOptions locate a dump share on an SMB server.
type SMBOptions struct {
	// Addr is host or host:port (default port 445).
	Addr string `yaml:"addr"`
	// Share is the share name, e.g. "dumps".
	Share string `yaml:"share"`
	// Dir is an optional folder inside the share that acts as the root.
	Dir string `yaml:"dir"`
	// User is "DOMAIN\user" (or "user@domain", or a local "user").
	User string `yaml:"user"`
	// PasswordFile or PasswordEnv give the password; Open resolves them into Password.
	PasswordFile string       `yaml:"password_file"`
	PasswordEnv  string       `yaml:"password_env"`
	Password     secret.Value `yaml:"-"`
	// RequireSigning refuses a session the server does not sign (default false: signing is
	// still used whenever the server requires it).
	RequireSigning bool `yaml:"require_signing"`
	// OpTimeout bounds every SMB request, and a write that makes no progress (default 60s).
	OpTimeout time.Duration `yaml:"op_timeout"`
}

// SMB is a Share on an SMB server, written through go-smb2. Data always flows through this
// process and is hashed on the way: never a server-side copy (go-smb2's truncates files
// over 16 MiB without an error).
type SMB struct {
	o    SMBOptions
	comp compression
	mu   sync.Mutex
	conn net.Conn
	sess *smb2.Session
	fs   *smb2.Share
}

var _ Share = (*SMB)(nil)

// NewSMB connects to the share and removes temporary files abandoned more than
// DefaultStaleAge ago.
func NewSMB(ctx context.Context, o SMBOptions) (*SMB, error) {
	if o.Addr == "" || o.Share == "" {
		return nil, errors.New("dump share: smb addr and share are required")
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 60 * time.Second
	}
	o.Dir = strings.Trim(strings.ReplaceAll(o.Dir, `\`, "/"), "/")
	if o.Dir != "" {
		if err := ValidateRel(o.Dir); err != nil {
			return nil, fmt.Errorf("dump share dir: %w", err)
		}
	}
	s := &SMB{o: o, comp: defaultCompression}
	if _, err := s.share(ctx); err != nil {
		return nil, err
	}
	if _, err := s.CleanStale(ctx, DefaultStaleAge); err != nil {
		return nil, err
	}
	return s, nil
}

// Close logs off and closes the connection.
func (s *SMB) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropLocked()
	return nil
}

func (s *SMB) dropLocked() {
	if s.sess != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.sess.WithContext(ctx).Logoff()
		cancel()
	}
	if s.conn != nil {
		s.conn.Close()
	}
	s.conn, s.sess, s.fs = nil, nil, nil
}

// share returns the mounted share, dialing when there is no live session.
func (s *SMB) share(ctx context.Context) (*smb2.Share, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fs != nil {
		return s.fs, nil
	}
	addr := s.o.Addr
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "445")
	}
	dctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dump share %s: %w", s.o.Addr, err)
	}
	domain, user := smbauth.SplitUser(s.o.User)
	d := smbauth.Dialer(domain, user, s.o.Password, s.o.RequireSigning)
	sess, err := d.DialConn(dctx, conn, addr)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dump share %s: session: %w", s.o.Addr, errors.New(secret.Redact(err.Error(), s.o.Password)))
	}
	fsh, err := sess.WithContext(dctx).Mount(s.o.Share)
	if err != nil {
		sess.WithContext(dctx).Logoff()
		conn.Close()
		return nil, fmt.Errorf("dump share %s: mount %s: %w", s.o.Addr, s.o.Share, err)
	}
	s.conn, s.sess, s.fs = conn, sess, fsh
	return fsh, nil
}

// fail drops the session after a transport-level error so the next call redials.
func (s *SMB) fail(err error) {
	var te *smb2.TransportError
	if errors.As(err, &te) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		s.mu.Lock()
		s.dropLocked()
		s.mu.Unlock()
	}
}

// remote turns a validated rel into a share path: backslashes, no leading separator.
func (s *SMB) remote(rel string) string {
	if s.o.Dir != "" {
		rel = s.o.Dir + "/" + rel
	}
	return strings.ReplaceAll(rel, "/", `\`)
}

func (s *SMB) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.OpTimeout)
}

// Put implements Share.
func (s *SMB) Put(ctx context.Context, rel string, src io.Reader, size int64) (sum string, err error) {
	if err := ValidateRel(rel); err != nil {
		return "", err
	}
	fsh, err := s.share(ctx)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			s.fail(err)
		}
	}()
	dir, base := splitRel(rel)
	if s.o.Dir != "" {
		dir = strings.Trim(s.o.Dir+"/"+dir, "/")
	}
	octx, cancel := s.opCtx(ctx)
	if dir != "" {
		if err := fsh.WithContext(octx).MkdirAll(strings.ReplaceAll(dir, "/", `\`), 0o755); err != nil {
			cancel()
			return "", fmt.Errorf("put %s: %w", rel, err)
		}
	}
	cancel()
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := "." + base + "." + hex.EncodeToString(rnd[:]) + tempSuffix
	if dir != "" {
		tmp = dir + "/" + tmp
	}
	tmp = strings.ReplaceAll(tmp, "/", `\`)

	// The file is bound to one context; a watchdog cancels it when a write stalls.
	wctx, wcancel := context.WithCancelCause(ctx)
	defer wcancel(nil)
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	go watchdog(wctx, wcancel, &last, s.o.OpTimeout)

	f, err := fsh.WithContext(wctx).Create(tmp)
	if err != nil {
		return "", fmt.Errorf("put %s: %w", rel, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			cctx, cancel := context.WithTimeout(context.Background(), s.o.OpTimeout)
			fsh.WithContext(cctx).Remove(tmp)
			cancel()
		}
	}()
	h := sha256.New()
	var w io.Writer = progressWriter{w: struct{ io.Writer }{f}, last: &last}
	var cw *compressWriter
	if Compressed(rel) {
		if cw, err = newCompressWriter(w, s.comp.level); err != nil {
			return "", fmt.Errorf("put %s: %w", rel, err)
		}
		w = cw
	}
	n, err := hashCopy(wctx, w, src, size, h, nil)
	if err == nil && cw != nil {
		err = cw.Close()
	}
	if err != nil {
		if c := context.Cause(wctx); c != nil && c != context.Canceled {
			err = fmt.Errorf("%w (%v)", err, c)
		}
		return "", markFull(fmt.Errorf("put %s: %w", rel, err), smbFull)
	}
	if err := finishTemp(rel, f, n, size); err != nil {
		return "", markFull(err, smbFull)
	}
	ok = true
	octx, cancel = s.opCtx(ctx)
	defer cancel()
	if err := fsh.WithContext(octx).Rename(tmp, s.remote(rel)); err != nil {
		fsh.WithContext(octx).Remove(tmp)
		return "", fmt.Errorf("put %s: rename: %w", rel, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// StoredRel implements Share.
func (s *SMB) StoredRel(rel string, size int64) string { return s.comp.storedRel(rel, size) }

// Stat implements Share.
func (s *SMB) Stat(ctx context.Context, rel string) (FileInfo, error) {
	if err := ValidateRel(rel); err != nil {
		return FileInfo{}, err
	}
	fsh, err := s.share(ctx)
	if err != nil {
		return FileInfo{}, err
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	fi, err := fsh.WithContext(octx).Stat(s.remote(rel))
	if err != nil {
		s.fail(err)
		return FileInfo{}, fmt.Errorf("stat %s: %w", rel, err)
	}
	return FileInfo{Rel: rel, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// OpenDump opens the stored file rel for reading and says its size. Its reads are bound
// to ctx (a download ends with the request), over the share's one session.
func (s *SMB) OpenDump(ctx context.Context, rel string) (io.ReadCloser, int64, error) {
	if err := ValidateRel(rel); err != nil {
		return nil, 0, err
	}
	fsh, err := s.share(ctx)
	if err != nil {
		return nil, 0, err
	}
	f, err := fsh.WithContext(ctx).Open(s.remote(rel))
	if err != nil {
		s.fail(err)
		return nil, 0, fmt.Errorf("open %s: %w", rel, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		s.fail(err)
		return nil, 0, fmt.Errorf("stat %s: %w", rel, err)
	}
	return f, fi.Size(), nil
}

// List implements Share.
func (s *SMB) List(ctx context.Context, fn func(FileInfo) error) error {
	return s.walk(ctx, 1, func(_ *smb2.Share, rel string, fi fs.FileInfo) error {
		if strings.HasSuffix(fi.Name(), tempSuffix) {
			return nil
		}
		if _, _, _, ok := ParseLayout(rel); !ok {
			return nil
		}
		return fn(FileInfo{Rel: rel, Size: fi.Size(), ModTime: fi.ModTime()})
	})
}

// Space implements Share: the server's FileFsFullSizeInformation for the share's root (or
// its dir), the caller's available allocation units, so a quota counts.
func (s *SMB) Space(ctx context.Context) (Space, error) {
	fsh, err := s.share(ctx)
	if err != nil {
		return Space{}, err
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	info, err := fsh.WithContext(octx).Statfs(strings.ReplaceAll(s.o.Dir, "/", `\`))
	if err != nil {
		s.fail(err)
		return Space{}, fmt.Errorf("free space of %s: %w", s.o.Share, err)
	}
	bs := int64(info.BlockSize())
	return Space{Free: int64(info.AvailableBlockCount()) * bs, Total: int64(info.TotalBlockCount()) * bs}, nil
}

// smbFull reports whether err is the server's "disk full" or "quota exceeded".
func smbFull(err error) bool {
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		switch re.Code {
		case 0xC000007F, 0xC0000044: // STATUS_DISK_FULL, STATUS_QUOTA_EXCEEDED
			return true
		}
	}
	return noSpace(err)
}

// Remove implements Share.
func (s *SMB) Remove(ctx context.Context, rel string) error {
	if err := ValidateRel(rel); err != nil {
		return err
	}
	fsh, err := s.share(ctx)
	if err != nil {
		return err
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	if err := fsh.WithContext(octx).Remove(s.remote(rel)); err != nil {
		s.fail(err)
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	return nil
}

// CleanStale removes temporary files last written more than olderThan ago (SMB has no lock
// that outlives a dead writer's session, so age is the test).
func (s *SMB) CleanStale(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	err := s.walk(ctx, 8, func(fsh *smb2.Share, rel string, fi fs.FileInfo) error {
		if strings.HasSuffix(fi.Name(), tempSuffix) && fi.ModTime().Before(cutoff) {
			octx, cancel := s.opCtx(ctx)
			defer cancel()
			if fsh.WithContext(octx).Remove(s.remote(rel)) == nil {
				removed++
			}
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("clean temporary files: %w", err)
	}
	return removed, nil
}

// walk calls fn for every file below the share's root, down to depth folders, with its
// '/'-separated path below the root. A folder that vanishes meanwhile is skipped.
func (s *SMB) walk(ctx context.Context, depth int, fn func(fsh *smb2.Share, rel string, fi fs.FileInfo) error) error {
	fsh, err := s.share(ctx)
	if err != nil {
		return err
	}
	var walk func(rel string, level int) error
	walk = func(rel string, level int) error {
		dir := s.o.Dir
		if rel != "" {
			dir = strings.Trim(dir+"/"+rel, "/")
		}
		octx, cancel := s.opCtx(ctx)
		fis, err := fsh.WithContext(octx).ReadDir(strings.ReplaceAll(dir, "/", `\`))
		cancel()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			s.fail(err)
			return fmt.Errorf("list %q: %w", dir, err)
		}
		for _, fi := range fis {
			if err := ctx.Err(); err != nil {
				return err
			}
			p := fi.Name()
			if rel != "" {
				p = rel + "/" + p
			}
			if fi.IsDir() {
				if level < depth {
					if err := walk(p, level+1); err != nil {
						return err
					}
				}
				continue
			}
			if err := fn(fsh, p, fi); err != nil {
				return err
			}
		}
		return nil
	}
	return walk("", 0)
}

type progressWriter struct {
	w    io.Writer
	last *atomic.Int64
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.last.Store(time.Now().UnixNano())
	return n, err
}

// errStalled is the cause given when a transfer makes no progress for the op timeout.
var errStalled = errors.New("no progress within the operation timeout")

// watchdog cancels ctx when last (unix nanoseconds) is older than limit.
func watchdog(ctx context.Context, cancel context.CancelCauseFunc, last *atomic.Int64, limit time.Duration) {
	t := time.NewTicker(max(limit/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, last.Load())) > limit {
				cancel(fmt.Errorf("%w (%s)", errStalled, limit))
				return
			}
		}
	}
}
