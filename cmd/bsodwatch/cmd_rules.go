package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer/native"
	"github.com/bsodwatch/bsodwatch/rules"
)

// cmdRules dispatches `bsodwatch rules lint|test`.
func cmdRules(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(e.Stderr, "usage: bsodwatch rules lint [--json] [DIR]")
		fmt.Fprintln(e.Stderr, "       bsodwatch rules test [--json] [--run REGEX] [--shared DIR] [-v] [DIR]")
		fmt.Fprintln(e.Stderr, "\nDIR defaults to the shipped library of known issues.")
		fmt.Fprintln(e.Stderr, "Exit status: 0 all good, 3 lint findings or failing tests, 2 usage or unreadable DIR.")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "lint":
		return rulesLint(e, args[1:])
	case "test":
		return rulesTest(ctx, e, args[1:])
	}
	fmt.Fprintf(e.Stderr, "bsodwatch rules: unknown subcommand %q (want lint or test)\n", args[0])
	return exitUsage
}

// rulesLoad loads DIR, or the shipped library when dir is empty. It returns the set, the
// load findings (file:line:column each), or a usage error (unreadable DIR).
func rulesLoad(dir string) (*rules.Set, rules.Errors, error) {
	s, err := rules.Load(dir)
	var es rules.Errors
	if errors.As(err, &es) {
		return nil, es, nil
	}
	return s, nil, err
}

// rulesLintFinding is one line of `rules lint --json`.
type rulesLintFinding struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func rulesLint(e *env, args []string) int {
	fs := newFlagSet(e, "rules lint", "rules lint [--json] [DIR]")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitUsage
	}
	dir := fs.Arg(0)
	s, es, err := rulesLoad(dir)
	if err != nil {
		fmt.Fprintf(e.Stderr, "bsodwatch rules lint: %v\n", err)
		return exitUsage
	}
	if s != nil {
		// Loading accepts a rule without tests (the analyzer must not drop it), but a
		// reviewed rule carries both kinds of case.
		for _, r := range s.Rules() {
			if !r.Tested() {
				es = append(es, &rules.Error{Pos: r.Pos, Msg: fmt.Sprintf("rule %q needs tests.match and tests.no_match cases", r.ID)})
			}
		}
		// Rules that can never match, or that another rule hides.
		es = append(es, s.Lint()...)
	}
	if *asJSON {
		out := struct {
			OK       bool               `json:"ok"`
			Rules    int                `json:"rules"`
			Files    int                `json:"files"`
			Version  string             `json:"version,omitempty"`
			Findings []rulesLintFinding `json:"findings"`
		}{OK: len(es) == 0, Findings: []rulesLintFinding{}}
		if s != nil {
			out.Rules, out.Files, out.Version = len(s.Rules()), len(s.Files()), s.Version()
		}
		for _, f := range es {
			out.Findings = append(out.Findings, rulesLintFinding{f.File, f.Line, f.Column, f.Msg})
		}
		rulesWriteJSON(e.Stdout, out)
	} else {
		for _, f := range es {
			fmt.Fprintln(e.Stdout, f.Error())
		}
		if len(es) == 0 {
			fmt.Fprintf(e.Stdout, "ok: %d rules in %d files (version %s)\n", len(s.Rules()), len(s.Files()), s.Version())
		} else {
			fmt.Fprintf(e.Stdout, "%d finding(s)\n", len(es))
		}
	}
	if len(es) > 0 {
		return exitFindings
	}
	return exitOK
}

func rulesTest(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "rules test", "rules test [--json] [--run REGEX] [--shared DIR] [-v] [DIR]")
	asJSON := fs.Bool("json", false, "print one JSON object")
	run := fs.String("run", "", "only test rules whose id matches this regular expression")
	shared := fs.String("shared", "", "shared test material for \"shared:\" fixtures (default $BSODWATCH_SHARED, else ../shared beside the checkout)")
	verbose := fs.Bool("v", false, "list passing cases too")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitUsage
	}
	opts := rules.TestOptions{SharedDir: rulesSharedDir(e, *shared, fs.Arg(0)), Native: rulesNative}
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			fmt.Fprintf(e.Stderr, "bsodwatch rules test: bad --run: %v\n", err)
			return exitUsage
		}
		opts.Run = re
	}
	s, es, err := rulesLoad(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(e.Stderr, "bsodwatch rules test: %v\n", err)
		return exitUsage
	}
	if es != nil {
		for _, f := range es {
			fmt.Fprintln(e.Stdout, f.Error())
		}
		fmt.Fprintf(e.Stdout, "FAIL: the rules do not load (%d finding(s))\n", len(es))
		return exitFindings
	}
	rep := s.Test(ctx, opts)
	if *asJSON {
		rulesWriteJSON(e.Stdout, struct {
			OK bool `json:"ok"`
			rules.TestReport
		}{rep.OK(), rep})
	} else {
		for _, c := range rep.Cases {
			switch {
			case c.Status == rules.StatusFail:
				fmt.Fprintf(e.Stdout, "FAIL %s %s (%s, want %s): %s\n", c.Rule, c.Pos, c.Name, c.Want, c.Detail)
			case c.Status == rules.StatusSkip:
				fmt.Fprintf(e.Stdout, "SKIP %s %s (%s): %s\n", c.Rule, c.Pos, c.Name, c.Detail)
			case *verbose:
				fmt.Fprintf(e.Stdout, "PASS %s %s (%s, want %s)\n", c.Rule, c.Pos, c.Name, c.Want)
				for _, w := range c.Why {
					fmt.Fprintf(e.Stdout, "       why: %s\n", w)
				}
			}
		}
		verdict := "ok"
		if !rep.OK() {
			verdict = "FAIL"
		}
		fmt.Fprintf(e.Stdout, "%s: %d rules, %d passed, %d failed, %d skipped\n", verdict, rep.Rules, rep.Passed, rep.Failed, rep.Skipped)
	}
	if rep.Rules == 0 {
		fmt.Fprintln(e.Stderr, "bsodwatch rules test: no rule matched --run")
	}
	if !rep.OK() {
		return exitFindings
	}
	return exitOK
}

// rulesSharedDir finds the shared test material: the flag, $BSODWATCH_SHARED, or ../shared
// beside the module checkout that holds DIR (or the working directory). "" when absent.
func rulesSharedDir(e *env, flagVal, dir string) string {
	if flagVal != "" {
		return flagVal
	}
	if v := e.Getenv("BSODWATCH_SHARED"); v != "" {
		return v
	}
	start := dir
	if start == "" {
		start = "."
	}
	abs, err := filepath.Abs(start)
	if err != nil {
		return ""
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			cand := filepath.Join(d, "..", "shared")
			if _, err := os.Stat(cand); err == nil {
				return cand
			}
			return ""
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// rulesNative reads *.dmp rule fixtures with the native engine.
func rulesNative(r io.ReaderAt, size int64) (*analysis.Analysis, error) {
	a, _, err := native.Analyze(r, size)
	return a, err
}

func rulesWriteJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
