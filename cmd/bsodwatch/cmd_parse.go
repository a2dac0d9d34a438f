package main

import (
	"context"
	"fmt"
)

// cmdParse is not written yet; its issue replaces this file.
func cmdParse(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch parse: not implemented yet")
	return exitError
}
