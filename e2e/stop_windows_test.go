package e2e

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

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

// killNow kills p (TerminateProcess) and then the processes it started. A role killed while
// it creates a debugger leaves a child that never runs: created suspended, to be resumed once
// it is in the debugger's job object (analyzer/cdb). On Windows that window is a few
// instructions wide; under Wine, where creating a process takes a good part of a second, the
// fault tests hit it, and such a child, stuck for ever, would keep the test's output open.
func killNow(p *os.Process) {
	p.Kill()
	for _, c := range children(uint32(p.Pid)) {
		if h, err := windows.OpenProcess(windows.PROCESS_TERMINATE, false, c); err == nil {
			windows.TerminateProcess(h, 1)
			windows.CloseHandle(h)
		}
	}
}

// children lists the processes whose parent is pid.
func children(pid uint32) []uint32 {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return nil
	}
	defer windows.CloseHandle(snap)
	var out []uint32
	e := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		if e.ParentProcessID == pid && e.ProcessID != pid {
			out = append(out, e.ProcessID)
		}
	}
	return out
}
