package main

import (
	"context"
	"fmt"
)

// cmdConfig is not written yet; its issue replaces this file.
func cmdConfig(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch config: not implemented yet")
	return exitError
}
