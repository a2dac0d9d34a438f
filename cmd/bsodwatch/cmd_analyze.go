package main

import (
	"context"
	"fmt"
)

// cmdAnalyze is not written yet; its issue replaces this file.
func cmdAnalyze(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.Stderr, "bsodwatch analyze: not implemented yet")
	return exitError
}
