//go:build unix

package cdb

import (
	"errors"
	"os/exec"
	"syscall"
)

// tree is the debugger's process group: the debugger leads a new group, so one kill(-pgid)
// reaches every helper it started.
type tree struct{ cmd *exec.Cmd }

func newTree(cmd *exec.Cmd) (*tree, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return &tree{cmd: cmd}, nil
}

func (t *tree) started(*exec.Cmd) error { return nil }

func (t *tree) kill() error {
	if t.cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

func (t *tree) close() {}
