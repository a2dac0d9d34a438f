//go:build unix

package dumpshare

import (
	"os"
	"syscall"
)

// lockFile takes a non-blocking exclusive lock on f, released when f is closed (or its
// process dies, which is the point: a dead writer's temporary file is unlocked).
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// syncDir flushes a directory entry (the rename) to disk; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
