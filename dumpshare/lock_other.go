//go:build !unix

package dumpshare

import "os"

// lockFile does nothing here: on Windows an open file cannot be removed by another process
// (Go opens files without FILE_SHARE_DELETE), which protects a live writer's temporary file.
func lockFile(f *os.File) error { return nil }

func syncDir(dir string) {}
