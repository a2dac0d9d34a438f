//go:build !windows

package e2e

import (
	"os"
	"syscall"
)

// stoppable is the SysProcAttr that interrupt needs: nothing here.
func stoppable() *syscall.SysProcAttr { return nil }

// interrupt asks p to stop as an operator or a service manager does.
func interrupt(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// killNow kills p alone (SIGKILL); a debugger it runs is in a process group of its own and
// finishes by itself, as after a real crash.
func killNow(p *os.Process) { p.Kill() }
