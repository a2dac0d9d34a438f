package main

import (
	"context"
	"fmt"
)

// cmdTriage is not written yet; its issue replaces this file.
func cmdTriage(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch triage: not implemented yet")
	return exitError
}
