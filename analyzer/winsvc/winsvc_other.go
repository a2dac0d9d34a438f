//go:build !windows

package winsvc

import (
	"context"

	"github.com/rs/zerolog"
)

// IsService reports whether the process was started by the service control manager.
func IsService() bool { return false }

// Run runs fn as the service name until the SCM stops it.
func Run(name string, fn func(ctx context.Context) error) error { return ErrWindowsOnly }

// Install carries out p: the service, its recovery actions and its Event Log source. The
// notes say what the service manager could not set up.
func Install(p Plan) (notes []string, err error) { return nil, ErrWindowsOnly }

// Uninstall stops and removes the service and its Event Log source.
func Uninstall(name string) error { return ErrWindowsOnly }

// Start starts the installed service.
func Start(name string) error { return ErrWindowsOnly }

// Stop stops the service and waits until it has stopped.
func Stop(ctx context.Context, name string) error { return ErrWindowsOnly }

// EventLog returns a writer that sends warnings and errors to the Event Log under source
// name, and a function that closes it.
func EventLog(name string) (zerolog.LevelWriter, func(), error) { return nil, nil, ErrWindowsOnly }
