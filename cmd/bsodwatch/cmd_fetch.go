package main

import (
	"context"
	"fmt"
)

// cmdFetch is not written yet; its issue replaces this file.
func cmdFetch(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch fetch: not implemented yet")
	return exitError
}
