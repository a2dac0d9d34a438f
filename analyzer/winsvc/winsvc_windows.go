//go:build windows

package winsvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// IsService reports whether the process was started by the service control manager.
func IsService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// Run runs fn as the service name until the SCM stops it or fn returns.
func Run(name string, fn func(ctx context.Context) error) error {
	h := &handler{fn: fn}
	if err := svc.Run(name, h); err != nil {
		return fmt.Errorf("run service %s: %w", name, err)
	}
	return h.err
}

type handler struct {
	fn  func(ctx context.Context) error
	err error
}

// Execute reports StartPending, Running, then on Stop/Shutdown/PreShutdown cancels the worker
// and reports StopPending with a rising checkpoint until it has returned.
func (h *handler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.fn(ctx) }()
	accepts := svc.AcceptStop | svc.AcceptShutdown | svc.AcceptPreShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case h.err = <-done:
			status <- svc.Status{State: svc.StopPending}
			if h.err != nil {
				return true, 1 // service-specific exit code: the SCM's recovery restarts it
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown, svc.PreShutdown:
				cancel()
				checkpoint := uint32(1)
				tick := time.NewTicker(time.Second)
				for stopping := true; stopping; {
					status <- svc.Status{State: svc.StopPending, CheckPoint: checkpoint, WaitHint: uint32(stopTimeout / time.Millisecond)}
					select {
					case h.err = <-done:
						stopping = false
					case <-tick.C:
						checkpoint++
					}
				}
				tick.Stop()
				return false, 0
			}
		}
	}
}

// Install creates the service to run exe with args, starting automatically (delayed, after
// the network is up), restarting on failure, and registers its Event Log source.
func Install(name, exe string, args []string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager (run as administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(name); err == nil {
		s.Close()
		return fmt.Errorf("service %s already exists (uninstall it first)", name)
	}
	s, err := m.CreateService(name, exe, mgr.Config{
		DisplayName:      "bsodwatch analyzer",
		Description:      "Analyzes queued Windows crash dumps with cdb and publishes verdicts.",
		StartType:        mgr.StartAutomatic,
		DelayedAutoStart: true,
	}, args...)
	if err != nil {
		return fmt.Errorf("create service %s: %w", name, err)
	}
	defer s.Close()
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Minute},
	}, 24*60*60); err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	_ = s.SetRecoveryActionsOnNonCrashFailures(true)
	if err := eventlog.InstallAsEventCreate(name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		// An existing source from an earlier install is fine.
		if !isAlreadyExists(err) {
			s.Delete()
			return fmt.Errorf("register event log source: %w", err)
		}
	}
	return nil
}

func isAlreadyExists(err error) bool {
	return errors.Is(err, windows.ERROR_ALREADY_EXISTS) || strings.Contains(strings.ToLower(err.Error()), "already exists")
}

// Uninstall stops and removes the service and its Event Log source.
func Uninstall(name string) error {
	s, done, err := openService(name)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	_ = stop(ctx, s) // a stopped service is fine
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	// The source may be gone already (installed by hand, removed twice): nothing to do.
	_ = eventlog.Remove(name)
	return nil
}

// Start starts the installed service.
func Start(name string) error {
	s, done, err := openService(name)
	if err != nil {
		return err
	}
	defer done()
	if err := s.Start(); err != nil {
		return fmt.Errorf("start service %s: %w", name, err)
	}
	return nil
}

// openService opens an installed service; done closes it and the manager connection.
func openService(name string) (s *mgr.Service, done func(), err error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the service manager (run as administrator): %w", err)
	}
	s, err = m.OpenService(name)
	if err != nil {
		m.Disconnect()
		return nil, nil, fmt.Errorf("service %s is not installed: %w", name, err)
	}
	return s, func() { s.Close(); m.Disconnect() }, nil
}

// Stop stops the service and waits until it has stopped.
func Stop(ctx context.Context, name string) error {
	s, done, err := openService(name)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	return stop(ctx, s)
}

func stop(ctx context.Context, s *mgr.Service) error {
	st, err := s.Control(svc.Stop)
	if err != nil {
		return fmt.Errorf("stop service: %w", err)
	}
	for st.State != svc.Stopped {
		select {
		case <-ctx.Done():
			return fmt.Errorf("service still stopping: %w", ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
		if st, err = s.Query(); err != nil {
			return fmt.Errorf("query service: %w", err)
		}
	}
	return nil
}

// EventLog returns a writer that sends warnings and errors to the Event Log under source
// name (lower levels are dropped: the Event Log is for people), and a function closing it.
func EventLog(name string) (zerolog.LevelWriter, func(), error) {
	l, err := eventlog.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("open event log %s: %w", name, err)
	}
	return &eventWriter{l: l}, func() { l.Close() }, nil
}

type eventWriter struct{ l *eventlog.Log }

// Event IDs: 1 warning, 2 error.
func (w *eventWriter) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	switch {
	case level >= zerolog.ErrorLevel:
		return len(p), w.l.Error(2, string(p))
	case level == zerolog.WarnLevel:
		return len(p), w.l.Warning(1, string(p))
	}
	return len(p), nil
}

func (w *eventWriter) Write(p []byte) (int, error) { return len(p), nil }
