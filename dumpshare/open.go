package dumpshare

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/bsodwatch/bsodwatch/internal/bytesize"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/secret"
)

// Options choose the dump share: a directory, or an SMB share. Exactly one must be set.
type Options struct {
	// Dir is a local or mounted directory.
	Dir string `yaml:"dir"`
	// SMB is a share reached through go-smb2.
	SMB *SMBOptions `yaml:"smb"`
	// MinFree is the free space the fetcher leaves on the share's volume: a copy that would
	// leave less is deferred (reason share_full) until space is back, e.g. 10GiB. Default 0:
	// copies only need room for themselves.
	MinFree bytesize.Size `yaml:"min_free"`
	// Compress stores big dumps zstd-compressed.
	Compress CompressOptions `yaml:"compress"`
}

// Open returns the share the options describe and a function that releases it.
func Open(ctx context.Context, o Options) (Share, func() error, error) {
	switch {
	case o.Dir != "" && o.SMB != nil:
		return nil, nil, errors.New("dump share: set dir or smb, not both")
	case o.Dir != "":
		comp, err := newCompression(o.Compress)
		if err != nil {
			return nil, nil, err
		}
		l, err := NewLocal(o.Dir)
		if err != nil {
			return nil, nil, err
		}
		l.comp = comp
		return l, func() error { return nil }, nil
	case o.SMB != nil:
		so := *o.SMB
		if so.Password.IsZero() {
			pw, err := secret.Load("", so.PasswordFile, so.PasswordEnv)
			if err != nil {
				return nil, nil, fmt.Errorf("dump share password: %w", err)
			}
			so.Password = pw
		}
		comp, err := newCompression(o.Compress)
		if err != nil {
			return nil, nil, err
		}
		s, err := NewSMB(ctx, so)
		if err != nil {
			return nil, nil, err
		}
		s.comp = comp
		return s, s.Close, nil
	}
	return nil, nil, errors.New("dump share: set dir or smb")
}

// Validate reports every problem with o at once (optcheck.Problems keyed like the YAML).
// It reads the SMB password from its file or variable (never printing it) and checks that
// an existing dir is a directory; a missing one is created when the share is opened.
func (o Options) Validate() error {
	var ps optcheck.Problems
	switch {
	case o.Dir != "" && o.SMB != nil:
		ps.Addf("smb", "set dir or smb, not both")
	case o.Dir != "":
		if fi, err := os.Stat(o.Dir); err == nil && !fi.IsDir() {
			ps.Addf("dir", "%s is not a directory", o.Dir)
		}
	}
	if o.MinFree < 0 {
		ps.Addf("min_free", "%s: must not be negative", o.MinFree)
	}
	if o.Compress.MinSize < 0 {
		ps.Addf("compress.min_size", "%s: must not be negative", o.Compress.MinSize)
	}
	if _, err := o.Compress.encoderLevel(); err != nil {
		ps.Addf("compress.level", "%s", err)
	}
	if s := o.SMB; s != nil {
		if s.Addr == "" {
			ps.Addf("smb.addr", "required (host or host:port)")
		}
		if s.Share == "" {
			ps.Addf("smb.share", "required (the share name, e.g. dumps)")
		} else if strings.ContainsAny(s.Share, `/\:`) {
			ps.Addf("smb.share", "%q: a share name, without slashes", s.Share)
		}
		if s.Dir != "" {
			if err := ValidateRel(s.Dir); err != nil {
				ps.Addf("smb.dir", "%s", err)
			}
		}
		if s.User == "" {
			ps.Addf("smb.user", "required")
		}
		if s.Password.IsZero() {
			ps.Secret("smb.password", "", s.PasswordFile, s.PasswordEnv)
		}
		if s.OpTimeout < 0 {
			ps.Addf("smb.op_timeout", "%s: must not be negative", s.OpTimeout)
		}
	}
	return ps.Err()
}
