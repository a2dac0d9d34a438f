// Package dirsource is the fetcher's local source: a "fleet" directory whose every subfolder
// is a host laid out like its ADMIN$ share (MEMORY.DMP, Minidump\*.dmp). The all-in-one mode
// uses it, and it is how dumps reach bsodwatch from tools that already collect them.
package dirsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
)

// Source reads hosts from subfolders of a directory.
type Source struct {
	root string
}

var (
	_ fetcher.Source    = (*Source)(nil)
	_ fetcher.Inventory = (*Source)(nil)
)

// New returns a source on dir, which must exist.
func New(dir string) (*Source, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("fleet directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("fleet directory %s: not a directory", dir)
	}
	return &Source{root: dir}, nil
}

// Hosts implements fetcher.Inventory: every subfolder with a valid host name.
func (s *Source) Hosts(ctx context.Context) ([]fetcher.Host, error) {
	des, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("fleet directory: %w", err)
	}
	var hosts []fetcher.Host
	for _, de := range des {
		if de.IsDir() && dumpshare.ValidateHost(de.Name()) == nil {
			hosts = append(hosts, fetcher.Host{Name: de.Name()})
		}
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	return hosts, nil
}

// Open implements fetcher.Source. An os.Root confines every lookup to the host's folder,
// symbolic links included.
func (s *Source) Open(ctx context.Context, h fetcher.Host) (fetcher.Session, error) {
	if err := dumpshare.ValidateHost(h.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", fetcher.ErrConfig, err)
	}
	dir := h.Name
	if h.Dir != "" {
		d := strings.Trim(strings.ReplaceAll(h.Dir, `\`, "/"), "/")
		if !fs.ValidPath(d) {
			return nil, fmt.Errorf("%w: host %s: bad dir %q", fetcher.ErrConfig, h.Name, h.Dir)
		}
		dir = path.Join(dir, d)
	}
	parent, err := os.OpenRoot(s.root)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", fetcher.ErrOffline, err)
	}
	defer parent.Close()
	r, err := parent.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s: %w", fetcher.ErrOffline, h.Name, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", fetcher.ErrDenied, h.Name, err)
	}
	return &session{root: r}, nil
}

type session struct{ root *os.Root }

func name(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func (s *session) ReadDir(ctx context.Context, dir string) ([]fetcher.Entry, error) {
	f, err := s.root.Open(name(dir))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := make([]fetcher.Entry, 0, len(des))
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			continue
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, fetcher.Entry{Name: de.Name(), Size: fi.Size(), ModTime: fi.ModTime(), Dir: fi.IsDir()})
	}
	return out, nil
}

func (s *session) Stat(ctx context.Context, p string) (fetcher.Entry, error) {
	fi, err := s.root.Stat(name(p))
	if err != nil {
		return fetcher.Entry{}, err
	}
	return fetcher.Entry{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), Dir: fi.IsDir()}, nil
}

func (s *session) Open(ctx context.Context, p string) (fetcher.File, error) {
	return s.root.Open(name(p))
}

func (s *session) Close() error { return s.root.Close() }

var _ fetcher.EventLogOpener = (*session)(nil)

// OpenEventLog implements fetcher.EventLogOpener on a fleet folder
// (DATA/fleet/<host>/System32/winevt/Logs/System.evtx). os.Open shares read and write on
// Windows (FILE_SHARE_READ|FILE_SHARE_WRITE), so it opens a live log there too.
func (s *session) OpenEventLog(ctx context.Context, name string) (fetcher.LogFile, error) {
	p := strings.Trim(strings.ReplaceAll(name, `\`, "/"), "/")
	if !fs.ValidPath(p) {
		return nil, fmt.Errorf("%w: event log path %q", fetcher.ErrConfig, name)
	}
	f, err := s.root.Open(p)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return &logFile{File: f, size: fi.Size()}, nil
}

type logFile struct {
	*os.File
	size int64
}

func (f *logFile) Size() int64 { return f.size }
