package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/rules"
)

// cmdReanalyze re-applies the current rules to stored analyses and re-issues the verdicts
// whose matches changed.
func cmdReanalyze(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "reanalyze", "reanalyze [--since T] [--rule ID] [--host H] [--rules DIR] [--dry-run] [--json]")
	conn := addNATSFlags(fs)
	var f history.Filter
	var since string
	rulesDir := fs.String("rules", envOr(e, "BSODWATCH_RULES", ""), "rule directory (env BSODWATCH_RULES; default the shipped library)")
	fs.StringVar(&since, "since", "", "only crashes at or after T: RFC 3339 time, date (2006-01-02) or age (36h, 7d, 2w)")
	rule := fs.String("rule", "", "only verdicts that matched, or now match, this rule id")
	fs.StringVar(&f.Host, "host", "", "only verdicts of this host")
	dryRun := fs.Bool("dry-run", false, "print what would change, publish nothing")
	asJSON := fs.Bool("json", false, "print one JSON object per changed verdict")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "bsodwatch reanalyze: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	var err error
	if f.Since, err = parseSinceFlag(since, time.Now()); err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch reanalyze:", err)
		return exitUsage
	}
	set, err := rules.Load(*rulesDir)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch reanalyze:", err)
		return exitUsage
	}
	nc, err := dialNATS(ctx, e, fs, conn, "reanalyze")
	if err != nil {
		return exitFor(ctx, e, "reanalyze", err)
	}
	defer nc.Close()
	ra := &history.Reanalysis{JS: nc.JS, Rules: set, Filter: f, Rule: *rule, DryRun: *dryRun}
	st, err := ra.Run(ctx, &history.Reader{JS: nc.JS, Log: e.Log}, func(c history.Change) error {
		return printChange(e.Stdout, c, *asJSON)
	})
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch reanalyze:", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitError
	}
	verb := "re-issued"
	if *dryRun {
		verb = "would re-issue (dry run)"
	}
	fmt.Fprintf(e.Stderr, "reanalyze: %d verdicts checked against rules %s, %d changed, %s %d, %d skipped (no analysis), %d lost a race\n",
		st.Checked, dashIfEmpty(set.Version()), st.Changed, verb, st.Published, st.NoAnalysis, st.Raced)
	if st.Raced > 0 {
		return exitError
	}
	return exitOK
}

// printChange prints one changed verdict: a line for the verdict, then -/+ rule lines.
func printChange(w io.Writer, c history.Change, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  %s  %s\n", shortJobID(c.ID), fmtCrashTime(c.Crash), dashIfEmpty(c.Host), c.Bucket)
	for _, id := range c.Old {
		if !slices.Contains(c.New, id) {
			fmt.Fprintf(&b, "  - %s\n", id)
		}
	}
	for _, id := range c.New {
		if !slices.Contains(c.Old, id) {
			fmt.Fprintf(&b, "  + %s\n", id)
		}
	}
	if len(c.New) == 0 {
		b.WriteString("  (now matches no rule)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
