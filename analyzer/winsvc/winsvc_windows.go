//go:build windows

package winsvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

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

// Install carries out p: the service, its recovery actions and its Event Log source. The
// notes say what the service manager could not set up because it lacks the setting (see
// missingAPI); any other failure removes the half-made service and is the error.
func Install(p Plan) (notes []string, err error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, fmt.Errorf("connect to the service manager (run as administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(p.Name); err == nil {
		s.Close()
		return nil, fmt.Errorf("service %s already exists (uninstall it first)", p.Name)
	}
	s, err := m.CreateService(p.Name, p.Exe, mgr.Config{
		DisplayName: p.DisplayName,
		Description: p.Description,
		StartType:   mgr.StartAutomatic,
	}, p.Args...)
	if err != nil {
		return nil, fmt.Errorf("create service %s: %w", p.Name, err)
	}
	defer s.Close()
	fail := func(err error) ([]string, error) {
		s.Delete()
		return nil, err
	}
	lacks := func(what, instead string, err error) {
		notes = append(notes, fmt.Sprintf("%s not set: the service manager lacks it (%v); %s", what, err, instead))
	}
	if p.DelayedAutoStart {
		if err := setDelayedAutoStart(s); missingAPI(err) {
			lacks("delayed auto-start", "the service starts automatically, without the delay", err)
		} else if err != nil {
			return fail(fmt.Errorf("set delayed auto-start: %w", err))
		}
	}
	if len(p.Restarts) > 0 {
		actions := make([]mgr.RecoveryAction, len(p.Restarts))
		for i, d := range p.Restarts {
			actions[i] = mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: d}
		}
		if err := s.SetRecoveryActions(actions, uint32(p.ResetPeriod/time.Second)); missingAPI(err) {
			lacks("recovery actions", "a failed service is not restarted", err)
		} else if err != nil {
			return fail(fmt.Errorf("set recovery actions: %w", err))
		} else if _, err := s.RecoveryActions(); missingAPI(err) {
			// Wine's manager accepts them without keeping them.
			notes = append(notes, fmt.Sprintf("recovery actions accepted but cannot be read back (%v): a failed service may not be restarted", err))
		}
	}
	if p.RecoveryOnExitCode {
		// Not fatal, as ever: the restarts still follow a crash.
		if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
			notes = append(notes, fmt.Sprintf("recovery on a non-zero exit code not set (%v); only crashes restart the service", err))
		}
	}
	if err := eventlog.InstallAsEventCreate(p.EventSource, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil && !isAlreadyExists(err) {
		// An existing source from an earlier install is fine.
		return fail(fmt.Errorf("register event log source: %w", err))
	}
	return notes, nil
}

func isAlreadyExists(err error) bool {
	return errors.Is(err, windows.ERROR_ALREADY_EXISTS) || strings.Contains(strings.ToLower(err.Error()), "already exists")
}

// setDelayedAutoStart marks an automatic service as delayed (SERVICE_CONFIG_DELAYED_AUTO_START_INFO).
func setDelayedAutoStart(s *mgr.Service) error {
	info := windows.SERVICE_DELAYED_AUTO_START_INFO{IsDelayedAutoStartUp: 1}
	return windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&info)))
}

// missingAPI reports whether err says that the service manager does not know the setting at
// all: an information level or call it does not implement. Every Windows release this runs on
// (Vista and later) knows each setting Install makes, so only a stand-in such as Wine's answers
// this way; a Windows answer of any other kind stays an error.
func missingAPI(err error) bool {
	return errors.Is(err, windows.ERROR_INVALID_LEVEL) || errors.Is(err, windows.ERROR_CALL_NOT_IMPLEMENTED) ||
		errors.Is(err, windows.ERROR_NOT_SUPPORTED)
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
