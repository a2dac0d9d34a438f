package winsvc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// scmEnv, when set, lets TestServiceLifecycle install a service; scripts/test-windows.sh sets
// it in its throw-away Wine prefix. Without it the test does not touch the machine's services.
const scmEnv = "BSODWATCH_TEST_SCM"

// bodyFlag makes the test binary the service body of TestServiceLifecycle: started by the
// SCM as `winsvc.test.exe -winsvc.body NAME DIR`, it runs Run(NAME, ...) and leaves marker
// files in DIR.
const bodyFlag = "-winsvc.body"

func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == bodyFlag {
		os.Exit(serviceBody(os.Args[2], os.Args[3]))
	}
	os.Exit(m.Run())
}

// serviceBody is a worker in miniature: it says it runs, waits until the SCM stops it, says
// it saw the stop, and returns.
func serviceBody(name, dir string) int {
	err := Run(name, func(ctx context.Context) error {
		if err := os.WriteFile(filepath.Join(dir, "running"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return err
		}
		<-ctx.Done()
		return os.WriteFile(filepath.Join(dir, "stopped"), []byte(context.Cause(ctx).Error()), 0o644)
	})
	if err != nil {
		os.WriteFile(filepath.Join(dir, "error"), []byte(err.Error()), 0o644)
		return 1
	}
	return 0
}

// execute drives the handler as the SCM would, collecting the statuses it reports.
type execute struct {
	req      chan svc.ChangeRequest
	status   chan svc.Status
	done     chan struct{}
	exitSpec bool
	exitCode uint32
}

func startExecute(fn func(context.Context) error) (*handler, *execute) {
	h := &handler{fn: fn}
	x := &execute{req: make(chan svc.ChangeRequest), status: make(chan svc.Status, 100), done: make(chan struct{})}
	go func() {
		defer close(x.done)
		x.exitSpec, x.exitCode = h.Execute(nil, x.req, x.status)
	}()
	return h, x
}

// next returns the next status the handler reports.
func (x *execute) next(t *testing.T) svc.Status {
	t.Helper()
	select {
	case s := <-x.status:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the handler reported no status")
	}
	return svc.Status{}
}

func (x *execute) wait(t *testing.T) {
	t.Helper()
	select {
	case <-x.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Execute did not return")
	}
}

// TestExecuteStop: the worker runs as the service body; Interrogate is answered, Stop cancels
// the worker, and the service reports StopPending until the worker has returned.
func TestExecuteStop(t *testing.T) {
	for name, cmd := range map[string]svc.Cmd{"stop": svc.Stop, "shutdown": svc.Shutdown, "pre-shutdown": svc.PreShutdown} {
		t.Run(name, func(t *testing.T) {
			returned := make(chan struct{})
			h, x := startExecute(func(ctx context.Context) error {
				<-ctx.Done()
				time.Sleep(1200 * time.Millisecond) // handing the job back takes a moment
				close(returned)
				return nil
			})
			if s := x.next(t); s.State != svc.StartPending {
				t.Fatalf("first status %v, want StartPending", s.State)
			}
			running := x.next(t)
			wantAccepts := svc.AcceptStop | svc.AcceptShutdown | svc.AcceptPreShutdown
			if running.State != svc.Running || running.Accepts != wantAccepts {
				t.Fatalf("second status %+v, want Running accepting stop, shutdown and pre-shutdown", running)
			}
			x.req <- svc.ChangeRequest{Cmd: svc.Interrogate, CurrentStatus: running}
			if s := x.next(t); s != running {
				t.Fatalf("Interrogate answered %+v, want %+v", s, running)
			}
			x.req <- svc.ChangeRequest{Cmd: cmd}
			var checkpoints []uint32
			for s := x.next(t); ; s = x.next(t) {
				if s.State != svc.StopPending || s.WaitHint == 0 {
					t.Fatalf("status %+v while stopping, want StopPending with a wait hint", s)
				}
				checkpoints = append(checkpoints, s.CheckPoint)
				if len(checkpoints) >= 2 {
					break
				}
			}
			if checkpoints[1] <= checkpoints[0] {
				t.Errorf("checkpoints %v do not rise while the worker stops", checkpoints)
			}
			x.wait(t)
			select {
			case <-returned:
			default:
				t.Fatal("Execute returned before the worker did")
			}
			if x.exitSpec || x.exitCode != 0 || h.err != nil {
				t.Errorf("Execute = (%v, %d), err %v; want a clean stop", x.exitSpec, x.exitCode, h.err)
			}
		})
	}
}

// TestExecuteWorkerEnds: a worker that ends by itself ends the service; a failure is a
// service-specific exit code, which the SCM's recovery actions restart.
func TestExecuteWorkerEnds(t *testing.T) {
	boom := errors.New("nats: no servers available")
	tests := []struct {
		name     string
		err      error
		exitSpec bool
		exitCode uint32
	}{
		{"clean", nil, false, 0},
		{"failed", boom, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, x := startExecute(func(context.Context) error { return tt.err })
			x.wait(t)
			if x.exitSpec != tt.exitSpec || x.exitCode != tt.exitCode || !errors.Is(h.err, tt.err) {
				t.Errorf("Execute = (%v, %d), err %v; want (%v, %d), %v", x.exitSpec, x.exitCode, h.err, tt.exitSpec, tt.exitCode, tt.err)
			}
			var last svc.Status
			for len(x.status) > 0 {
				last = <-x.status
			}
			if last.State != svc.StopPending {
				t.Errorf("last status %v, want StopPending", last.State)
			}
		})
	}
}

// TestServiceLifecycle installs the test binary itself as a service, with the real service
// manager (Wine's under make test-windows): the stored command line must give back the
// plan's argv, the settings the plan asks for must be set or named in the notes, Start must
// run the body under the SCM, Stop must reach the worker's context, and Uninstall must leave
// neither the service nor its Event Log source.
func TestServiceLifecycle(t *testing.T) {
	if os.Getenv(scmEnv) == "" {
		t.Skipf("installs a Windows service: set %s=1 in an elevated session to run it (make test-windows does, in its own Wine prefix)", scmEnv)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("bsodwatch-test-%d", os.Getpid())
	dir := t.TempDir()
	// Arguments a careless command line would split or unquote.
	plan := NewPlan(name, exe, []string{bodyFlag, name, dir})
	notes, err := Install(plan)
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	t.Cleanup(func() { Uninstall(name) })
	for _, n := range notes {
		t.Logf("install note: %s", n)
	}
	noted := func(what string) bool {
		for _, n := range notes {
			if len(n) >= len(what) && n[:len(what)] == what {
				return true
			}
		}
		return false
	}

	m, err := mgr.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		t.Fatalf("the installed service cannot be opened: %v", err)
	}
	cmdLine, startType, display := serviceConfig(t, s)
	argv, err := windows.DecomposeCommandLine(cmdLine)
	if err != nil {
		t.Fatalf("stored command line %s: %v", cmdLine, err)
	}
	if d := cmp.Diff(append([]string{exe}, plan.Args...), argv); d != "" {
		t.Errorf("command line %s parses to another argv (-want +got):\n%s", cmdLine, d)
	}
	if startType != mgr.StartAutomatic || display != plan.DisplayName {
		t.Errorf("start type %d, display name %q; want automatic, %q", startType, display, plan.DisplayName)
	}
	if !noted("delayed auto-start") {
		// mgr's Config reads the delayed flag too, which a manager lacking it cannot answer.
		if cfg, err := s.Config(); err != nil || !cfg.DelayedAutoStart {
			t.Errorf("delayed auto-start neither set (%+v, %v) nor named in the notes", cfg, err)
		}
	}
	if acts, err := s.RecoveryActions(); missingAPI(err) && noted("recovery actions") {
		t.Logf("recovery actions cannot be read back here (%v): not checked", err)
	} else if err != nil || len(acts) != len(plan.Restarts) {
		t.Errorf("recovery actions %v (%v), want %d restarts", acts, err, len(plan.Restarts))
	} else {
		for i, a := range acts {
			if a.Type != mgr.ServiceRestart || a.Delay != plan.Restarts[i] {
				t.Errorf("recovery action %d = %+v, want a restart after %s", i, a, plan.Restarts[i])
			}
		}
	}
	s.Close()
	src := `SYSTEM\CurrentControlSet\Services\EventLog\Application\` + name
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, src, registry.QUERY_VALUE); err != nil {
		t.Errorf("event log source not registered: %v", err)
	} else {
		k.Close()
	}
	if _, err := Install(plan); err == nil {
		t.Error("a second install of the same service succeeded")
	}

	if err := Start(name); err != nil {
		t.Fatalf("start: %v", err)
	}
	waitFile(t, filepath.Join(dir, "running"), dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Stop(ctx, name); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stopped")); err != nil {
		t.Errorf("the worker did not see the stop: %v", err)
	} else if string(b) != context.Canceled.Error() {
		t.Errorf("worker context ended with %q, want %q", b, context.Canceled)
	}

	if err := Uninstall(name); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if s, err := m.OpenService(name); err == nil {
		s.Close()
		t.Error("the service is still there after uninstall")
	}
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, src, registry.QUERY_VALUE); err == nil {
		k.Close()
		t.Error("the event log source is still registered after uninstall")
	}
	if err := Uninstall(name); err == nil {
		t.Error("uninstalling a service that is gone succeeded")
	}
}

// serviceConfig reads the service's basic configuration (QueryServiceConfig only).
func serviceConfig(t *testing.T, s *mgr.Service) (cmdLine string, startType uint32, display string) {
	t.Helper()
	n := uint32(1024)
	for {
		b := make([]uint64, (n+7)/8) // aligned for the struct
		p := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&b[0]))
		err := windows.QueryServiceConfig(s.Handle, p, uint32(len(b)*8), &n)
		if err == nil {
			return windows.UTF16PtrToString(p.BinaryPathName), p.StartType, windows.UTF16PtrToString(p.DisplayName)
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) || n <= uint32(len(b)*8) {
			t.Fatalf("query service config: %v", err)
		}
	}
}

// waitFile waits for the service body's marker file, or reports the body's own error.
func waitFile(t *testing.T, path, dir string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if b, err := os.ReadFile(filepath.Join(dir, "error")); err == nil {
			t.Fatalf("the service body failed: %s", b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear: the service body never ran under the SCM", filepath.Base(path))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEventLogWriter: warnings and errors are sent to the Event Log (under Wine the Event Log
// is a stub that accepts everything, so this checks the writer's side only); lower levels are
// dropped. Every write reports the whole message written, as zerolog expects.
func TestEventLogWriter(t *testing.T) {
	if os.Getenv(scmEnv) == "" {
		t.Skipf("writes to the Application Event Log: set %s=1 to run it (make test-windows does, in its own Wine prefix)", scmEnv)
	}
	w, closeLog, err := EventLog(fmt.Sprintf("bsodwatch-test-log-%d", os.Getpid()))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer closeLog()
	msg := []byte(`{"level":"warn","message":"bsodwatch winsvc test"}`)
	for _, level := range []zerolog.Level{zerolog.DebugLevel, zerolog.InfoLevel, zerolog.WarnLevel, zerolog.ErrorLevel, zerolog.FatalLevel} {
		if n, err := w.WriteLevel(level, msg); err != nil || n != len(msg) {
			t.Errorf("level %s: wrote %d of %d bytes: %v", level, n, len(msg), err)
		}
	}
	if n, err := w.Write(msg); err != nil || n != len(msg) {
		t.Errorf("Write: %d of %d bytes: %v", n, len(msg), err)
	}
}
