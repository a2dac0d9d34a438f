// Package dumpshare is the destination of copied crash dumps: a local (or mounted) directory,
// or an SMB share. Every write goes to a temporary name, is hashed while it is written,
// checked against the expected size, flushed and only then renamed into place, so a reader
// never sees half a dump and a crashed writer leaves nothing that looks like one.
//
// Layout: <host>/<UTC mtime>-<name>, for example "srv01/20240501T123456Z-MEMORY.DMP". The time
// is the dump's modification time, not the copy time, so copying the same dump again (a
// restarted fetcher) lands on the same path instead of making a second file, while a
// MEMORY.DMP overwritten by the next crash gets a new one. A dump stored compressed has
// CompressedSuffix appended (see CompressOptions); its identity stays the sha256 of the
// original bytes.
//
// Both kinds of share also list their dumps (List, Stat with the time each was written) and
// say how much room their volume has left (Space; Guard keeps a floor of free space while
// several copies run). A volume that fills during a write fails it with ErrNoSpace and
// leaves nothing behind.
package dumpshare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Share is a place to keep dump files. rel is a slash-separated path below the share root;
// it is validated, so nothing escapes the root.
type Share interface {
	// Put writes size bytes from src to rel (replacing it) and returns their sha256 in hex.
	// A negative size means "unknown": the length is then not checked. A rel ending in
	// CompressedSuffix is written zstd-compressed; the hash and size are the source's.
	// When the volume fills, the error wraps ErrNoSpace and nothing is left behind.
	Put(ctx context.Context, rel string, src io.Reader, size int64) (sha256hex string, err error)
	// StoredRel returns where a dump of size bytes laid out at rel is kept: rel, or rel with
	// CompressedSuffix when the share compresses dumps of that size.
	StoredRel(rel string, size int64) string
	// Stat describes rel; the error wraps fs.ErrNotExist when it is absent.
	Stat(ctx context.Context, rel string) (FileInfo, error)
	// Remove deletes rel.
	Remove(ctx context.Context, rel string) error
	// List calls fn for every dump kept in the share's layout (<host>/<time>-<name>, see
	// ParseLayout), in no particular order; temporaries and other files are left out. fn's
	// error stops the walk and is returned as is.
	List(ctx context.Context, fn func(FileInfo) error) error
	// Space reports the free and total space of the share's volume, as the share itself
	// tells it (statfs, or SMB's FileFsFullSizeInformation).
	Space(ctx context.Context) (Space, error)
}

// FileInfo describes a file on a share.
type FileInfo struct {
	// Rel is its path below the share root, '/'-separated.
	Rel string
	// Size is the bytes it takes on the share (a compressed dump's compressed size).
	Size int64
	// ModTime is when it was written to the share.
	ModTime time.Time
}

// ErrInvalidPath is wrapped by every validation error.
var ErrInvalidPath = errors.New("invalid path")

// ErrSizeMismatch is wrapped when Put read a different number of bytes than announced.
var ErrSizeMismatch = errors.New("size mismatch")

// tempSuffix marks files being written; CleanStale removes abandoned ones.
const tempSuffix = ".bsodwatch-tmp"

// timeLayout is the UTC timestamp in Layout: sortable, no characters Windows forbids.
const timeLayout = "20060102T150405Z"

// Layout returns where a dump named name from host, last modified at t, is kept.
func Layout(host, name string, t time.Time) (string, error) {
	if err := ValidateHost(host); err != nil {
		return "", err
	}
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return host + "/" + t.UTC().Format(timeLayout) + "-" + name, nil
}

// ParseLayout splits a path made by Layout (with or without CompressedSuffix) into the host,
// the dump's modification time and its file name; ok is false for any other path.
func ParseLayout(rel string) (host string, t time.Time, name string, ok bool) {
	host, file, found := strings.Cut(rel, "/")
	if !found || strings.Contains(file, "/") || ValidateHost(host) != nil || ValidateName(file) != nil {
		return "", time.Time{}, "", false
	}
	if len(file) < len(timeLayout)+2 || file[len(timeLayout)] != '-' {
		return "", time.Time{}, "", false
	}
	t, err := time.Parse(timeLayout, file[:len(timeLayout)])
	if err != nil {
		return "", time.Time{}, "", false
	}
	return host, t, strings.TrimSuffix(file[len(timeLayout)+1:], CompressedSuffix), true
}

// ValidateHost checks a host name used as a directory: letters, digits, '.', '-' and '_'
// only (DNS names and IPv4 addresses), not starting with '.' or '-', and not a device name.
func ValidateHost(host string) error {
	if host == "" || len(host) > 253 {
		return fmt.Errorf("host name %q: %w: must be 1 to 253 characters", host, ErrInvalidPath)
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("host name %q: %w: character %q not allowed", host, ErrInvalidPath, r)
		}
	}
	if host[0] == '.' || host[0] == '-' {
		return fmt.Errorf("host name %q: %w: must not start with %q", host, ErrInvalidPath, host[0])
	}
	return checkElem(host, "host name")
}

// ValidateName checks a single file name taken from a remote host: no separators, no "..",
// no drive letter or stream (':'), no control characters, no characters Windows forbids,
// no trailing dot or space, and not a device name such as CON, NUL, COM1 or LPT1.
func ValidateName(name string) error {
	if name == "" || len(name) > 200 {
		return fmt.Errorf("file name %q: %w: must be 1 to 200 bytes", name, ErrInvalidPath)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("file name %q: %w: not UTF-8", name, ErrInvalidPath)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r) {
			return fmt.Errorf("file name %q: %w: character %q not allowed", name, ErrInvalidPath, r)
		}
	}
	if strings.HasSuffix(name, tempSuffix) {
		return fmt.Errorf("file name %q: %w: reserved suffix %s", name, ErrInvalidPath, tempSuffix)
	}
	return checkElem(name, "file name")
}

// checkElem rejects ".", "..", names ending in dot or space and DOS device names (which
// Windows resolves to devices in any directory and with any extension).
func checkElem(s, what string) error {
	if s == "." || s == ".." {
		return fmt.Errorf("%s %q: %w", what, s, ErrInvalidPath)
	}
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, " ") {
		return fmt.Errorf("%s %q: %w: must not end in a dot or space", what, s, ErrInvalidPath)
	}
	stem := strings.ToUpper(s)
	if i := strings.IndexByte(stem, '.'); i >= 0 {
		stem = stem[:i]
	}
	stem = strings.TrimRight(stem, " ")
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return fmt.Errorf("%s %q: %w: device name", what, s, ErrInvalidPath)
	}
	if strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT") {
		// COM1..COM9, COM0 and the superscript forms COM¹ COM² COM³ (runes, not bytes).
		rest := []rune(stem)[3:]
		if len(rest) == 1 && strings.ContainsRune("0123456789¹²³", rest[0]) {
			return fmt.Errorf("%s %q: %w: device name", what, s, ErrInvalidPath)
		}
	}
	return nil
}

// ValidateRel checks a share-relative path: slash-separated, every element a valid name
// (see ValidateName), not absolute, no drive letter, no empty or ".." element.
func ValidateRel(rel string) error {
	if rel == "" {
		return fmt.Errorf("path %q: %w: empty", rel, ErrInvalidPath)
	}
	if strings.ContainsRune(rel, 0) {
		return fmt.Errorf("path %q: %w: NUL byte", rel, ErrInvalidPath)
	}
	if strings.HasPrefix(rel, "/") || strings.ContainsRune(rel, '\\') {
		return fmt.Errorf("path %q: %w: must be relative and use '/'", rel, ErrInvalidPath)
	}
	for _, el := range strings.Split(rel, "/") {
		if err := ValidateName(el); err != nil {
			return fmt.Errorf("path %q: %w", rel, err)
		}
	}
	return nil
}

// tempFile is a temporary file of Put, local or on SMB.
type tempFile interface {
	Sync() error
	Close() error
}

// finishTemp checks that n bytes were the announced size (unless it is negative), then
// flushes and closes the temporary file, so only complete, durable data is renamed into place.
func finishTemp(rel string, f tempFile, n, size int64) error {
	if size >= 0 && n != size {
		return fmt.Errorf("put %s: %w: wrote %d bytes, want %d", rel, ErrSizeMismatch, n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: sync: %w", rel, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put %s: close: %w", rel, err)
	}
	return nil
}

// markFull adds ErrNoSpace to err when full says it is the volume's (or a quota's) refusal.
func markFull(err error, full func(error) bool) error {
	if err != nil && !errors.Is(err, ErrNoSpace) && full(err) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// splitRel returns the directory part ("" at the root) and the base name of a valid rel.
func splitRel(rel string) (dir, base string) {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i], rel[i+1:]
	}
	return "", rel
}
