package dumpshare

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
)

func statSpace(dir string) (Space, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return Space{}, fmt.Errorf("free space of %s: %w", dir, err)
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return Space{}, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return Space{Free: int64(free), Total: int64(total)}, nil
}

// noSpace reports whether err says the volume (or the user's quota) is full.
func noSpace(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL) ||
		errors.Is(err, windows.Errno(1295)) // ERROR_DISK_QUOTA_EXCEEDED
}
