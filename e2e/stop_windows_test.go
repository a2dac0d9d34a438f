package e2e

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/windows"
)

// stoppable starts the process in a process group of its own, so that a Ctrl-Break can be
// sent to it alone (and not to the tests).
func stoppable() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
}

// interrupt asks p to stop as a person at its console does: Ctrl-Break, which Go delivers as
// os.Interrupt. Windows has no SIGTERM to send another process, and Process.Signal(os.Interrupt)
// is not implemented there. Under Wine 8 this fails: its console does not route control events
// to a process group (scripts/test-windows.sh skips the test that needs it).
func interrupt(p *os.Process) error {
	if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(p.Pid)); err != nil {
		return fmt.Errorf("send Ctrl-Break to %d: %w", p.Pid, err)
	}
	return nil
}
