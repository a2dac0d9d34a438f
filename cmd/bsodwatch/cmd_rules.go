package main

import (
	"context"
	"fmt"
)

// cmdRules is not written yet; its issue replaces this file.
func cmdRules(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch rules: not implemented yet")
	return exitError
}
