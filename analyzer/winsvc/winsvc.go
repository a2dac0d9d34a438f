// Package winsvc runs the analyzer worker as a Windows service: install, uninstall, start and
// stop it through the service control manager, run it under the SCM with a clean stop (the
// worker's context is cancelled, which kills cdb and hands the job back to the queue), and send
// warnings and errors to the Event Log. Off Windows every function says "Windows only".
package winsvc

import (
	"errors"
	"time"
)

// DefaultName is the service's name (and Event Log source).
const DefaultName = "bsodwatch-analyzer"

// ErrWindowsOnly is returned off Windows.
var ErrWindowsOnly = errors.New("the Windows service is Windows only")

// stopTimeout bounds how long Stop waits for the service to report Stopped, and the wait hint
// the service gives the SCM while it stops (killing cdb and handing the job back is quick).
const stopTimeout = 30 * time.Second
