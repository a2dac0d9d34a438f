//go:build unix

package dumpshare

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

func statSpace(dir string) (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Space{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := int64(st.Bsize)
	return Space{Free: int64(st.Bavail) * bs, Total: int64(st.Blocks) * bs}, nil
}

// noSpace reports whether err says the volume (or the user's quota) is full.
func noSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
