package main

import (
	"context"
	"fmt"
)

// cmdSubmit is not written yet; its issue replaces this file.
func cmdSubmit(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch submit: not implemented yet")
	return exitError
}
