package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// cmdResults lists or counts stored verdicts.
func cmdResults(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "results", "results [--host H] [--bucket B] [--rule ID] [--since T] [--unknown] [--by host|bucket|rule] [--json]")
	conn := addHistQueueFlags(fs, e)
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
	js, closeConn, err := histConnect(ctx, e, conn)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch results:", err)
		return exitError
	}
	defer closeConn()
	rd := &history.Reader{JS: js, Log: e.Log}
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
	fmt.Fprintln(tw, "CRASHED\tHOST\tSTATUS\tBUCKET\tKNOWN ISSUE\tMARKS\tDUMP")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtCrashTime(history.CrashTime(r)), dashIfEmpty(r.Job.Host),
			dashIfEmpty(r.Status), r.Bucket(), verdictIssues(r), verdictMarks(r), shortJobID(r.Job.ID))
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
	return strings.Join(matchRuleIDs(r.Matches), ",")
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

// parseSinceFlag reads --since: an RFC 3339 time, a date or date and minute (UTC), or an age
// counted back from now (Go durations plus d for days and w for weeks).
func parseSinceFlag(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		if v, err := strconv.ParseFloat(s[:n-1], 64); err == nil && v >= 0 {
			unit := 24 * time.Hour
			if s[n-1] == 'w' {
				unit *= 7
			}
			return now.Add(-time.Duration(v * float64(unit))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time, a date (2006-01-02) or an age (36h, 7d, 2w)", s)
}

// histQueueFlags say how the history commands reach NATS. The configuration file (issue 8) will
// add authentication and TLS; until then a URL is all they take.
type histQueueFlags struct {
	url string
}

func addHistQueueFlags(fs *flag.FlagSet, e *env) *histQueueFlags {
	q := &histQueueFlags{}
	fs.StringVar(&q.url, "nats", envOr(e, "BSODWATCH_NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL (env BSODWATCH_NATS_URL)")
	return q
}

// histConnect connects to NATS and returns a JetStream context and a close function. Tests
// replace it to use an in-process server.
var histConnect = func(ctx context.Context, e *env, q *histQueueFlags) (jetstream.JetStream, func(), error) {
	if q.url == "" {
		return nil, nil, errors.New("no NATS server: set --nats or BSODWATCH_NATS_URL")
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nc, err := pipeline.Connect(cctx, pipeline.NATSOptions{URLs: strings.Split(q.url, ","), Name: "bsodwatch-cli"}, e.Log)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return js, nc.Close, nil
}

// histEnsureStreams creates the streams when they are missing. When both exist they are left as
// the roles configured them (replicas, retention): a command must not resize a cluster.
func histEnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	_, errJobs := js.Stream(ctx, pipeline.JobsStream)
	_, errResults := js.Stream(ctx, pipeline.ResultsStream)
	if errJobs == nil && errResults == nil {
		return nil
	}
	return pipeline.EnsureStreams(ctx, js, history.Options{}.StreamOptions())
}
