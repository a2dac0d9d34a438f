package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
)

// cmdReanalyze re-applies the current rules to stored analyses and re-issues the verdicts
// whose matches changed.
func cmdReanalyze(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "reanalyze", "reanalyze [--since T] [--rule ID] [--host H] [--rules DIR] [--dry-run] [--json]")
	conn := addHistQueueFlags(fs, e)
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
	js, closeConn, err := histConnect(ctx, e, conn)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch reanalyze:", err)
		return exitError
	}
	defer closeConn()
	ra := &reanalyzer{js: js, set: set, filter: f, rule: *rule, dryRun: *dryRun}
	st, err := ra.run(ctx, &history.Reader{JS: js, Log: e.Log}, func(c reanalyzeChange) error {
		return c.print(e.Stdout, *asJSON)
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
		st.checked, dashIfEmpty(set.Version()), st.changed, verb, st.published, st.noAnalysis, st.raced)
	if st.raced > 0 {
		return exitError
	}
	return exitOK
}

// reanalyzeMatcher is what reanalyze needs of a rule set.
type reanalyzeMatcher interface {
	Match(rules.Input) []rules.Match
	Version() string
}

// reanalyzer matches stored analyses against a rule set.
type reanalyzer struct {
	js     jetstream.JetStream
	set    reanalyzeMatcher
	filter history.Filter
	rule   string
	dryRun bool
}

type reanalyzeCounts struct {
	checked, changed, published, noAnalysis, raced int
}

// reanalyzeChange is one verdict whose matches differ under the current rules.
type reanalyzeChange struct {
	ID     string    `json:"id"`
	Host   string    `json:"host"`
	Bucket string    `json:"bucket"`
	Crash  time.Time `json:"crashed"`
	Old    []string  `json:"old"`
	New    []string  `json:"new"`
	// Published is false on a dry run.
	Published bool `json:"published"`
}

func (c reanalyzeChange) print(w io.Writer, asJSON bool) error {
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

// run scans the stored verdicts, reports every change through report and, unless dry-run,
// publishes the corrected verdict in place of the old one. A verdict replaced meanwhile (by
// an analyzer or another reanalyze) is left alone and counted as raced.
func (ra *reanalyzer) run(ctx context.Context, rd *history.Reader, report func(reanalyzeChange) error) (reanalyzeCounts, error) {
	var st reanalyzeCounts
	version := ra.set.Version()
	err := rd.Scan(ctx, ra.filter.Since, func(en history.Entry) error {
		r := en.Result
		if !ra.filter.Match(r) {
			return nil
		}
		if r.Analysis == nil {
			st.noAnalysis++
			return nil
		}
		st.checked++
		matches := ra.set.Match(rules.Input{Analysis: r.Analysis, Engine: r.Engine})
		if matches == nil {
			matches = []rules.Match{}
		}
		old, now := matchRuleIDs(r.Matches), matchRuleIDs(matches)
		if ra.rule != "" && !containsRuleID(old, ra.rule) && !containsRuleID(now, ra.rule) {
			return nil
		}
		if sameRuleIDs(old, now) {
			return nil
		}
		st.changed++
		c := reanalyzeChange{ID: r.Job.ID, Host: r.Job.Host, Bucket: r.Bucket(), Crash: history.CrashTime(r), Old: old, New: now}
		if !ra.dryRun {
			r.Matches, r.PreviousMatches, r.RulesVersion, r.Reprocessed = matches, old, version, true
			if err := ra.publish(ctx, r, en.Seq); err != nil {
				if errors.Is(err, errReanalyzeRaced) {
					st.raced++
					return nil
				}
				return err
			}
			c.Published = true
			st.published++
		}
		return report(c)
	})
	return st, err
}

var errReanalyzeRaced = errors.New("verdict replaced meanwhile")

// publish puts r on its subject only if the verdict read at seq is still the last there.
func (ra *reanalyzer) publish(ctx context.Context, r *pipeline.Result, seq uint64) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode verdict %s: %w", r.Job.ID, err)
	}
	_, err = ra.js.Publish(ctx, pipeline.ResultSubject(r.Job.ID), data,
		jetstream.WithMsgID(r.MsgID()), jetstream.WithExpectLastSequencePerSubject(seq))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return errReanalyzeRaced
		}
		return fmt.Errorf("publish verdict %s: %w", r.Job.ID, err)
	}
	return nil
}

func matchRuleIDs(ms []rules.Match) []string {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// sameRuleIDs compares two match lists as sets: the rule order alone is no reason to re-issue.
func sameRuleIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

func containsRuleID(ids []string, id string) bool {
	return slices.ContainsFunc(ids, func(s string) bool { return strings.EqualFold(s, id) })
}
