// Package cdb runs the Microsoft console debugger (cdb.exe) on a crash dump. It finds the
// debugger, builds its command line without a shell, kills the whole process tree on timeout or
// cancellation (a job object on Windows, a process group elsewhere), caps the output it keeps,
// and records the exit code, duration and stderr. It does not parse the output: package cdbout
// does.
package cdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSymbolPath caches Microsoft's public symbols under C:\symbols.
const DefaultSymbolPath = `srv*C:\symbols*https://msdl.microsoft.com/download/symbols`

// DefaultCommands is what the debugger runs on each dump. lmvm of the culprit needs the culprit's
// name, which only !analyze knows, so a person types it in a second step. Instead of a second
// cdb run (which would open the dump and resolve symbols all over again: seconds to minutes for
// a kernel dump) the one session lists every module verbosely with lmv. lmv does not load
// symbols, costs well under a second, and adds a few hundred KiB of text at most; the worker keeps
// only the culprit's block in the result.
const DefaultCommands = "!analyze -v; lmv; q"

// Defaults for a Runner's limits.
const (
	DefaultTimeout   = 15 * time.Minute
	DefaultOutputCap = 32 << 20 // bytes of stdout kept
	stderrCap        = 64 << 10
	tailSize         = 4 << 10
	// waitDelay bounds how long Wait waits for pipes that a surviving grandchild still holds.
	waitDelay = 3 * time.Second
)

// Errors a run can end with besides a start failure or the caller's context.
var (
	ErrTimeout   = errors.New("debugger timed out")
	ErrOutputCap = errors.New("debugger output exceeded the cap")
)

// Runner runs one debugger binary. The zero limits take the defaults.
type Runner struct {
	// Path is the debugger executable (see Locate).
	Path string
	// SymbolPath is passed with -y; see SymbolPath for composing it.
	SymbolPath string
	// Commands is passed with -c (default DefaultCommands).
	Commands string
	// Timeout bounds one run; the whole process tree is killed when it expires.
	Timeout time.Duration
	// OutputCap bounds the stdout kept in memory; a run that exceeds it is killed.
	OutputCap int64
	// Env, when set, is the child's whole environment (tests); nil inherits ours.
	Env []string
}

// Output is what one run left behind.
type Output struct {
	// Stdout holds the first OutputCap bytes the debugger printed.
	Stdout []byte
	// Tail is the last few KiB printed, for failed results.
	Tail string
	// Stderr holds the first 64 KiB written to stderr.
	Stderr []byte
	// Bytes counts everything printed to stdout, kept or not.
	Bytes int64
	// Truncated is set when stdout exceeded OutputCap.
	Truncated bool
	// ExitCode is the process's exit code, -1 when it was killed or never started.
	ExitCode int
	Duration time.Duration
	Args     []string
}

// Args builds the debugger's argument vector. Each value is one argument: no shell sees it, so
// spaces, quotes and semicolons in the dump path are passed through as they are.
func Args(dump, symbolPath, commands string) []string {
	args := []string{"-z", dump}
	if symbolPath != "" {
		args = append(args, "-y", symbolPath)
	}
	return append(args, "-c", commands)
}

// SymbolPath joins private symbol paths (searched first, so a vendor's private PDBs win over
// public ones) with the base path, dropping empties and repeats.
func SymbolPath(base string, extra ...string) string {
	if base == "" {
		base = DefaultSymbolPath
	}
	seen := map[string]bool{}
	var parts []string
	for _, p := range append(append([]string{}, extra...), base) {
		p = strings.TrimSpace(p)
		if p == "" || seen[strings.ToLower(p)] {
			continue
		}
		seen[strings.ToLower(p)] = true
		parts = append(parts, p)
	}
	return strings.Join(parts, ";")
}

// Analyze runs the debugger's commands on one dump.
func (r *Runner) Analyze(ctx context.Context, dump string) (*Output, error) {
	cmds := r.Commands
	if cmds == "" {
		cmds = DefaultCommands
	}
	return r.Run(ctx, Args(dump, r.SymbolPath, cmds))
}

// Run runs the debugger with args. The Output is never nil. The error is nil when the process
// ran to its end, whatever its exit code; otherwise it is ErrTimeout, ErrOutputCap, the
// context's error, or a start failure.
func (r *Runner) Run(ctx context.Context, args []string) (*Output, error) {
	out := &Output{ExitCode: -1, Args: args}
	if r.Path == "" {
		return out, errors.New("no debugger path")
	}
	timeout, capBytes := r.Timeout, r.OutputCap
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if capBytes <= 0 {
		capBytes = DefaultOutputCap
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	runCtx, cancelTimeout := context.WithTimeoutCause(runCtx, timeout, ErrTimeout)
	defer cancelTimeout()

	stdout := &capture{limit: capBytes, overflow: func() { cancel(ErrOutputCap) }}
	stderr := &capture{limit: stderrCap}
	cmd := exec.CommandContext(runCtx, r.Path, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = r.Env
	cmd.WaitDelay = waitDelay
	tree, err := newTree(cmd)
	if err != nil {
		return out, fmt.Errorf("prepare %s: %w", r.Path, err)
	}
	defer tree.close()
	// killed records that the run ended by our kill (timeout, output cap, cancellation): the
	// exit code is then -1, whatever code the platform's kill leaves (a job object's
	// TerminateJobObject sets one of its choosing, which must not pass for cdb's own).
	var killed atomic.Bool
	cmd.Cancel = func() error {
		killed.Store(true)
		return tree.kill()
	}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return out, fmt.Errorf("start %s: %w", r.Path, err)
	}
	if err := tree.started(cmd); err != nil {
		_ = tree.kill()
		_ = cmd.Process.Kill() // it may not be in the tree yet
		_ = cmd.Wait()
		return out, fmt.Errorf("start %s: %w", r.Path, err)
	}
	waitErr := cmd.Wait()
	out.Duration = time.Since(start)
	// Helpers the debugger left behind die with it, whatever the outcome.
	_ = tree.kill()

	out.Stdout, out.Tail, out.Bytes, out.Truncated = stdout.result()
	out.Stderr, _, _, _ = stderr.result()
	if cmd.ProcessState != nil && !killed.Load() {
		out.ExitCode = cmd.ProcessState.ExitCode()
	}
	if cause := context.Cause(runCtx); runCtx.Err() != nil {
		switch {
		case errors.Is(cause, ErrTimeout):
			return out, fmt.Errorf("%w after %s", ErrTimeout, timeout)
		case errors.Is(cause, ErrOutputCap):
			return out, fmt.Errorf("%w of %d bytes", ErrOutputCap, capBytes)
		case ctx.Err() != nil:
			return out, context.Cause(ctx)
		}
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return out, fmt.Errorf("run %s: %w", r.Path, waitErr)
	}
	return out, nil
}

// capture keeps the first limit bytes and the last tailSize bytes written to it, counts the
// rest, and calls overflow once when the limit is passed.
type capture struct {
	mu       sync.Mutex
	limit    int64
	head     bytes.Buffer
	tail     []byte // ring of the last tailSize bytes
	n        int64
	overflow func()
	over     bool
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += int64(len(p))
	if room := c.limit - int64(c.head.Len()); room > 0 {
		c.head.Write(p[:min(int64(len(p)), room)])
	}
	c.tail = append(c.tail, p...)
	if len(c.tail) > 2*tailSize {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-tailSize:]...)
	}
	if c.n > c.limit && !c.over {
		c.over = true
		if c.overflow != nil {
			c.overflow()
		}
	}
	return len(p), nil
}

func (c *capture) result() (head []byte, tail string, n int64, truncated bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tail
	if len(t) > tailSize {
		t = t[len(t)-tailSize:]
	}
	return bytes.Clone(c.head.Bytes()), strings.ToValidUTF8(string(t), ""), c.n, c.n > c.limit
}
