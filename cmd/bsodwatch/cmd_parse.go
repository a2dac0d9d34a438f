package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer/cdbout"
	"github.com/bsodwatch/bsodwatch/drivers"
	"github.com/bsodwatch/bsodwatch/rules"
)

// parseOutput is the --json form: the analysis keys of DESIGN.md, plus the rule matches
// when --rules or --known was given (an empty list then means "no known issue").
type parseOutput struct {
	*analysis.Analysis
	Matches      *[]rules.Match `json:"matches,omitempty"`
	RulesVersion string         `json:"rules_version,omitempty"`
}

// cmdParse reads saved debugger output and prints what it holds. Exit status: 0 when the
// input was read (also when it held no analysis: stderr says so and JSON has complete:false);
// 1 when the file cannot be read; 2 for bad usage or a rules directory that does not load.
func cmdParse(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "parse", "parse [--json] [--known | --rules DIR] FILE|-\n\n"+
		"Reads saved debugger output (a cdb console log, a pasted !analyze -v, lm/lmvm blocks,\n"+
		"also text from mail, chat or web pages whose line breaks were lost) and prints the analysis.\n"+
		"Exit status: 0 read (stderr notes when no analysis was found), 1 cannot read FILE,\n"+
		"2 bad usage or a rules directory that does not load.")
	asJSON := fs.Bool("json", false, "print one JSON object with stable keys")
	rulesDir := fs.String("rules", "", "match the known-issue rules in `DIR` and show the matches")
	known := fs.Bool("known", false, "match the shipped known-issue library and show the matches")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	if *known && *rulesDir != "" {
		fmt.Fprintln(e.Stderr, "bsodwatch parse: give --known or --rules DIR, not both")
		return exitUsage
	}
	var set *rules.Set
	if *known || *rulesDir != "" {
		s, err := rules.Load(*rulesDir)
		if err != nil {
			fmt.Fprintf(e.Stderr, "bsodwatch parse: rules: %v\n", err)
			return exitUsage
		}
		set = s
	}
	name := fs.Arg(0)
	var in io.Reader = e.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(e.Stderr, "bsodwatch parse: %v\n", err)
			return exitError
		}
		defer f.Close()
		in = f
	} else {
		name = "stdin"
	}
	a, err := cdbout.Parse(ctxReader{ctx, in})
	if err != nil {
		fmt.Fprintf(e.Stderr, "bsodwatch parse: %s: %v\n", name, err)
		return exitError
	}
	drivers.Attribute(a)
	out := parseOutput{Analysis: a}
	if set != nil {
		m := set.Match(rules.Input{Analysis: a, Engine: "cdb"})
		if m == nil {
			m = []rules.Match{}
		}
		out.Matches, out.RulesVersion = &m, set.Version()
	}
	if !a.Complete {
		msg := "no debugger analysis found"
		if len(a.DebuggerErrors) > 0 {
			msg += " (debugger errors: " + strings.Join(a.DebuggerErrors, "; ") + ")"
		}
		fmt.Fprintf(e.Stderr, "bsodwatch parse: %s: %s\n", name, msg)
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(e.Stderr, "bsodwatch parse: %v\n", err)
			return exitError
		}
		return exitOK
	}
	writeSummary(e.Stdout, out)
	return exitOK
}

// ctxReader stops a long read (a huge file, a pipe) when the command is interrupted.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeSummary prints what a person wants first: the bugcheck, the culprit module with
// vendor, path and timestamp, the bucket; then the rest.
func writeSummary(w io.Writer, out parseOutput) {
	a := out.Analysis
	row := func(label, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-11s %s\n", label+":", v)
		}
	}
	switch {
	case a.BugcheckCode != "":
		name := a.BugcheckName
		if name == "" {
			name = "bugcheck"
		}
		fmt.Fprintf(w, "%s (%s)\n", name, a.BugcheckCode)
	case a.ExceptionCode != "":
		fmt.Fprintf(w, "exception %s in %s\n", a.ExceptionCode, orDash(a.ProcessName))
	case a.Complete:
		fmt.Fprintln(w, "analysis without bugcheck or exception code")
	case len(a.Modules) > 0:
		fmt.Fprintln(w, "module listing (no analysis)")
	default:
		fmt.Fprintln(w, "no analysis found")
	}
	culprit := a.CulpritName()
	if c := culprit; c != "" {
		v := drivers.Line(a.Culprit)
		if v == "" || a.Culprit.Vendor == "" && !a.IsMicrosoft(c) {
			v = strings.TrimPrefix(v+", third-party", ", ")
		}
		m := a.Module(c)
		if m == nil && analysisModuleIs(a, c) {
			m = a.Module(a.ImageName)
		}
		row("culprit", v)
		if a.CulpritIsBlamed() {
			row("found by", analysis.BlamedByText(a.BlamedBy))
		}
		if a.CulpritIsTopFrame() {
			row("found by", analysis.WhyTopFrame)
		}
		if a.Suspect != "" && strings.EqualFold(c, a.Suspect) {
			row("why", a.SuspectWhy)
		}
		if m != nil {
			row("path", m.ImagePath)
			row("timestamp", m.Timestamp)
			row("version", m.FileVersion)
		}
	}
	bucket := a.FailureBucketID
	if bucket == "" {
		bucket = a.BucketID
	}
	row("bucket", bucket)
	if len(a.Args) > 0 {
		row("args", strings.Join(a.Args, " "))
	}
	if a.BugcheckCode != "" {
		row("exception", a.ExceptionCode)
	}
	row("process", a.ProcessName)
	row("symbol", a.SymbolName)
	if a.ModuleName != "" || a.ImageName != "" {
		row("module", strings.TrimSpace(a.ModuleName+" "+paren(a.ImageName)))
	}
	row("image ver", a.ImageVersion)
	row("followup", a.FollowupName)
	if a.Complete && len(a.Stack) > 0 {
		fmt.Fprintf(w, "  stack (%d frames):\n", len(a.Stack))
		for i, f := range a.Stack {
			if i == 8 {
				fmt.Fprintf(w, "    ... %d more\n", len(a.Stack)-i)
				break
			}
			fmt.Fprintf(w, "    %s\n", frameString(f))
		}
	}
	for _, m := range a.Modules {
		if a.Complete && m.Name == culprit {
			continue // shown above
		}
		fmt.Fprintf(w, "  module %s %s-%s %s\n", m.Name, m.Start, m.End, m.SymbolStatus)
		for _, kv := range [][2]string{{"path", m.ImagePath}, {"timestamp", m.Timestamp}, {"checksum", m.Checksum},
			{"size", m.ImageSize}, {"version", m.FileVersion}, {"company", m.CompanyName}} {
			if kv[1] != "" {
				fmt.Fprintf(w, "    %-10s %s\n", kv[0]+":", kv[1])
			}
		}
	}
	row("debugger", a.DebuggerVersion)
	row("dump", a.DumpFile)
	row("symbols", a.SymbolPath)
	for _, d := range a.Diagnostics {
		fmt.Fprintf(w, "  error:      [%s] %s\n", d.Kind, d.Message)
	}
	if out.Matches != nil {
		if len(*out.Matches) == 0 {
			fmt.Fprintln(w, "no known issue matched")
		}
		for _, m := range *out.Matches {
			fmt.Fprintf(w, "known issue %s [%s]: %s\n", m.ID, m.Severity, m.Title)
			for _, why := range m.Why {
				fmt.Fprintf(w, "  why: %s\n", why)
			}
			for _, r := range m.Remedy {
				fmt.Fprintf(w, "  remedy: %s\n", r)
			}
		}
	}
}

func analysisModuleIs(a *analysis.Analysis, c string) bool {
	return strings.EqualFold(a.ModuleName, c)
}

func frameString(f analysis.Frame) string {
	s := f.Symbol
	if f.Module != "" {
		s = f.Module
		if f.Symbol != "" {
			s += "!" + f.Symbol
		}
	}
	if f.Offset != "" {
		s += "+" + f.Offset
	}
	if f.Source != "" {
		s += " [" + f.Source + "]"
	}
	return s
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
