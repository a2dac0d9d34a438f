//go:build !unix && !windows

package cdb

import "os/exec"

// tree kills only the debugger itself: this platform has neither process groups nor job
// objects.
type tree struct{ cmd *exec.Cmd }

func newTree(cmd *exec.Cmd) (*tree, error) { return &tree{cmd: cmd}, nil }
func (t *tree) started(*exec.Cmd) error    { return nil }
func (t *tree) close()                     {}
func (t *tree) kill() error {
	if t.cmd.Process == nil {
		return nil
	}
	return t.cmd.Process.Kill()
}
