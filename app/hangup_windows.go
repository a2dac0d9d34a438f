package app

import "os"

// notifyHangup does nothing: Windows has no SIGHUP (the rules folder is polled instead).
func notifyHangup(chan os.Signal) {}
