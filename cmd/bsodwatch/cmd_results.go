package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bsodwatch/bsodwatch/app"
	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/notifier/chat"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// cmdResults lists or counts stored verdicts.
func cmdResults(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "results", "results [--host H] [--bucket B] [--rule ID] [--since T] [--unknown] [--by host|bucket|rule] [--json]")
	conn := addNATSFlags(fs)
	var f history.Filter
	var since string
	fs.StringVar(&f.Host, "host", "", "only verdicts of this host")
	fs.StringVar(&f.Bucket, "bucket", "", "only verdicts of this bucket")
	fs.StringVar(&f.Rule, "rule", "", "only verdicts that matched this rule id")
	fs.StringVar(&since, "since", "", "only crashes at or after T: RFC 3339 time, date (2006-01-02) or age (36h, 7d, 2w)")
	fs.BoolVar(&f.Unknown, "unknown", false, "only verdicts that matched no rule")
	by := fs.String("by", "", "count verdicts by host, bucket or rule instead of listing them")
	limit := fs.Int("limit", 0, "list at most N verdicts (0: all)")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "bsodwatch results: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	var err error
	if f.Since, err = parseSinceFlag(since, time.Now()); err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch results:", err)
		return exitUsage
	}
	switch *by {
	case "", history.ByHost, history.ByBucket, history.ByRule:
	default:
		fmt.Fprintf(e.Stderr, "bsodwatch results: --by %q: want host, bucket or rule\n", *by)
		return exitUsage
	}
	nc, err := dialNATS(ctx, e, fs, conn, "results")
	if err != nil {
		return exitFor(ctx, e, "results", err)
	}
	defer nc.Close()
	rd := &history.Reader{JS: nc.JS, Log: e.Log}
	if *by != "" {
		counts, err := rd.Count(ctx, f, *by)
		if err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch results:", err)
			return exitError
		}
		if *asJSON {
			enc := json.NewEncoder(e.Stdout)
			for _, c := range counts {
				if err := enc.Encode(c); err != nil {
					return exitError
				}
			}
			return exitOK
		}
		tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tCOUNT\tLAST CRASH\n", strings.ToUpper(*by))
		for _, c := range counts {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", c.Key, c.Count, fmtCrashTime(c.Last))
		}
		tw.Flush()
		return exitOK
	}
	entries, err := rd.List(ctx, f)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch results:", err)
		return exitError
	}
	if *limit > 0 && len(entries) > *limit {
		entries = entries[:*limit]
	}
	rs := make([]*pipeline.Result, len(entries))
	for i, en := range entries {
		rs[i] = en.Result
	}
	if err := printVerdictTable(e.Stdout, rs, *asJSON); err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch results:", err)
		return exitError
	}
	return exitOK
}

// printVerdictTable prints verdicts as a table, or as JSON lines (the stored result as is).
func printVerdictTable(w io.Writer, rs []*pipeline.Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range rs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CRASHED\tHOST\tSTATUS\tBUCKET\tKNOWN ISSUE\tMARKS\tDUMP\tVERDICT")
	for _, r := range rs {
		v := verdict.Ensure(r)
		headline, _ := chat.CapRunes(v.Headline, 80)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtCrashTime(history.CrashTime(r)), dashIfEmpty(r.Job.Host),
			dashIfEmpty(r.Status), r.Bucket(), verdictIssues(r), verdictMarks(r), shortJobID(r.Job.ID), headline)
	}
	return tw.Flush()
}

func verdictIssues(r *pipeline.Result) string {
	if len(r.Matches) == 0 {
		if r.Status == pipeline.StatusFailed {
			return "(analysis failed: " + firstLineOf(r.Error) + ")"
		}
		return "-"
	}
	return strings.Join(history.RuleIDs(r.Matches), ",")
}

func verdictMarks(r *pipeline.Result) string {
	var m []string
	if r.Marks.NewBucket {
		m = append(m, "new")
	}
	if r.Marks.Regression {
		m = append(m, "regression")
	}
	if r.Marks.CrashLoop {
		m = append(m, "crash-loop")
	}
	if r.Reprocessed {
		m = append(m, "reprocessed")
	}
	if !r.PrunedAt.IsZero() {
		m = append(m, "dump-pruned "+r.PrunedAt.UTC().Format("2006-01-02"))
	}
	if len(m) == 0 {
		return "-"
	}
	return strings.Join(m, ",")
}

func shortJobID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return dashIfEmpty(id)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func fmtCrashTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// parseSinceFlag reads --since (history.ParseSince).
func parseSinceFlag(s string, now time.Time) (time.Time, error) {
	t, err := history.ParseSince(s, now)
	if err != nil {
		return t, fmt.Errorf("--since %w", err)
	}
	return t, nil
}

// natsFlags say how the commands a person runs (results, submit, reanalyze) reach NATS: the
// same configuration file as the roles (nats.urls with authentication and TLS), --nats or
// $BSODWATCH_NATS_URL over it, else the embedded server of a `bsodwatch run` on this machine
// (found through data_dir, --data).
type natsFlags struct {
	config, url, data string
}

func addNATSFlags(fs *flag.FlagSet) *natsFlags {
	q := &natsFlags{}
	fs.StringVar(&q.config, "config", "", "configuration file (default $"+configEnv+"): nats.urls, credentials, TLS")
	fs.StringVar(&q.url, "nats", "", "NATS server `URLS`, comma-separated (nats.urls; env "+natsURLEnv+"; default: the bsodwatch run of --data)")
	fs.StringVar(&q.data, "data", "", "data directory (`DIR`) of the bsodwatch run to reach when no NATS URL is given (data_dir)")
	return q
}

// dialNATS connects a command: configuration, then flags over it (app.Dial).
func dialNATS(ctx context.Context, e *env, fs *flag.FlagSet, q *natsFlags, name string) (*app.Conn, error) {
	cfg, err := natsConfig(e, fs, q)
	if err != nil {
		return nil, err
	}
	return app.Dial(ctx, cfg, name, e.Log)
}

// natsConfig is the configuration with the NATS flags laid over it.
func natsConfig(e *env, fs *flag.FlagSet, q *natsFlags) (*config.Config, error) {
	cfg, err := loadConfig(e, q.config)
	if err != nil {
		return nil, err
	}
	overrideNATS(e, cfg, q.url, flagsSet(fs)["nats"])
	if q.data != "" {
		abs, err := filepath.Abs(q.data)
		if err != nil {
			return nil, app.UsageError{Err: err}
		}
		cfg.DataDir = abs
	}
	return cfg, nil
}
