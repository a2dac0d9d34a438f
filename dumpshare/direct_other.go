//go:build !linux

package dumpshare

import "os"

// startDirect: unbuffered writes are only used on Linux.
func startDirect(f *os.File, size int64) bool { return false }

type fileWriter struct {
	f      *os.File
	direct bool
}

func (w *fileWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func alignedBuf(n int) []byte { return make([]byte, n) }
