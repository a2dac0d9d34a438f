package main

import (
	"context"
	"fmt"
)

// cmdRun is not written yet; its issue replaces this file.
func cmdRun(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch run: not implemented yet")
	return exitError
}
