//go:build linux

package dumpshare

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directAlign is the buffer address and length alignment O_DIRECT needs (the logical block
// size is 512 or 4096 on the file systems below).
const directAlign = 4096

// directMinBytes: smaller files are written through the page cache.
const directMinBytes = 8 << 20

// directFS are the local block file systems whose O_DIRECT is well-behaved. Network and
// FUSE mounts are left alone: there O_DIRECT can mean one synchronous round trip per write.
var directFS = map[int64]bool{
	0xEF53:     true, // ext2/3/4
	0x58465342: true, // xfs
	0x9123683E: true, // btrfs
}

// startDirect switches f to O_DIRECT when it is worth it and supported. Put fsyncs every
// copy anyway, so the page cache buys nothing but a second copy of every byte in the kernel,
// which on a loaded collector is the biggest CPU cost of a copy.
func startDirect(f *os.File, size int64) bool {
	if size < directMinBytes {
		return false
	}
	var st unix.Statfs_t
	if unix.Fstatfs(int(f.Fd()), &st) != nil || !directFS[int64(st.Type)] {
		return false
	}
	return setDirect(f, true) == nil
}

func setDirect(f *os.File, on bool) error {
	fd := int(f.Fd())
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		fl |= unix.O_DIRECT
	} else {
		fl &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl)
	return err
}

// fileWriter writes to f, with O_DIRECT while the buffers allow it: the last, partial
// buffer (or any write the file system refuses with EINVAL) goes through the page cache.
type fileWriter struct {
	f      *os.File
	direct bool
}

func (w *fileWriter) Write(p []byte) (int, error) {
	if w.direct && (len(p)%directAlign != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(p)))%directAlign != 0) {
		if err := w.buffered(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	if w.direct && n == 0 && errors.Is(err, unix.EINVAL) {
		if err := w.buffered(); err != nil {
			return 0, err
		}
		return w.f.Write(p)
	}
	return n, err
}

func (w *fileWriter) buffered() error {
	w.direct = false
	return setDirect(w.f, false)
}

// alignedBuf returns n bytes starting at a directAlign boundary.
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % directAlign)
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off+n : off+n]
}
