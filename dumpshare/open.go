package dumpshare

import (
	"context"
	"errors"
	"fmt"

	"github.com/bsodwatch/bsodwatch/secret"
)

// Options choose the dump share: a directory, or an SMB share. Exactly one must be set.
type Options struct {
	// Dir is a local or mounted directory.
	Dir string `yaml:"dir"`
	// SMB is a share reached through go-smb2.
	SMB *SMBOptions `yaml:"smb"`
}

// Open returns the share the options describe and a function that releases it.
func Open(ctx context.Context, o Options) (Share, func() error, error) {
	switch {
	case o.Dir != "" && o.SMB != nil:
		return nil, nil, errors.New("dump share: set dir or smb, not both")
	case o.Dir != "":
		l, err := NewLocal(o.Dir)
		if err != nil {
			return nil, nil, err
		}
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
		s, err := NewSMB(ctx, so)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	}
	return nil, nil, errors.New("dump share: set dir or smb")
}
