//go:build !windows

package app

import (
	"os"
	"os/signal"
	"syscall"
)

func notifyHangup(c chan os.Signal) { signal.Notify(c, syscall.SIGHUP) }
