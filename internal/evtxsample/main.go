// Command evtxsample writes the synthetic System log of eventlogtest.CrashHistory to a file,
// for scripts/evtx-crosscheck.sh, which has python-evtx read it.
package main

import (
	"fmt"
	"os"

	"github.com/bsodwatch/bsodwatch/eventlog/eventlogtest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: evtxsample OUT.evtx")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], eventlogtest.CrashHistory(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "evtxsample:", err)
		os.Exit(1)
	}
}
