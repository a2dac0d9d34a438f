package main

import (
	"context"
	"fmt"
)

// cmdResults is not written yet; its issue replaces this file.
func cmdResults(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch results: not implemented yet")
	return exitError
}
