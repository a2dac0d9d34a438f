// Package winsvc runs the analyzer worker as a Windows service: install, uninstall, start and
// stop it through the service control manager, run it under the SCM with a clean stop (the
// worker's context is cancelled, which kills cdb and hands the job back to the queue), and send
// warnings and errors to the Event Log. Off Windows every function says "Windows only".
//
// Install follows a Plan, which any OS can build and check. Where the service manager lacks a
// setting that every supported Windows has (Wine's, which runs this package's tests, has no
// delayed auto-start), Install carries on without it and says so in its notes; on Windows the
// same failure would be an error.
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

// Plan is what Install sets up.
type Plan struct {
	Name        string
	DisplayName string
	Description string
	// Exe and Args are the service's command line (the SCM's ImagePath).
	Exe  string
	Args []string
	// The service starts automatically at boot; DelayedAutoStart waits until the other
	// automatic services (the network among them) have started.
	DelayedAutoStart bool
	// Restarts are the recovery actions: after the n-th failure the SCM restarts the service
	// after Restarts[n-1] (the last one repeats). The count of failures is reset after
	// ResetPeriod without one.
	Restarts    []time.Duration
	ResetPeriod time.Duration
	// RecoveryOnExitCode makes a stop with a non-zero exit code (the worker giving up) a
	// failure too, not only a crash.
	RecoveryOnExitCode bool
	// EventSource is the Application Event Log source the service writes to.
	EventSource string
}

// NewPlan is the plan for the analyzer service name running exe with args.
func NewPlan(name, exe string, args []string) Plan {
	return Plan{
		Name:               name,
		DisplayName:        "bsodwatch analyzer",
		Description:        "Analyzes queued Windows crash dumps with cdb and publishes verdicts.",
		Exe:                exe,
		Args:               append([]string(nil), args...),
		DelayedAutoStart:   true,
		Restarts:           []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute},
		ResetPeriod:        24 * time.Hour,
		RecoveryOnExitCode: true,
		EventSource:        name,
	}
}
