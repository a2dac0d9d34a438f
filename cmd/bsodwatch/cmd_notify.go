package main

import (
	"context"
	"fmt"
)

// cmdNotify is not written yet; its issue replaces this file.
func cmdNotify(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch notify: not implemented yet")
	return exitError
}
