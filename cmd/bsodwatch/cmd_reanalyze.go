package main

import (
	"context"
	"fmt"
)

// cmdReanalyze is not written yet; its issue replaces this file.
func cmdReanalyze(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch reanalyze: not implemented yet")
	return exitError
}
