package history

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/rules"
)

// Matcher is what re-analysis needs of a rule set (*rules.Set has it).
type Matcher interface {
	Match(rules.Input) []rules.Match
	Version() string
}

// Reanalysis re-applies a rule set to stored verdicts and re-issues those whose known issues
// changed, in place (Reissue), marked reprocessed with the rules they replaced.
type Reanalysis struct {
	JS     jetstream.JetStream
	Rules  Matcher
	Filter Filter
	// Rule limits the run to verdicts that matched, or now match, this rule id.
	Rule string
	// DryRun reports the changes and publishes nothing.
	DryRun bool
}

// ReanalysisCounts say what a run did.
type ReanalysisCounts struct {
	Checked, Changed, Published, NoAnalysis, Raced int
}

// Change is one verdict whose matches differ under the rules.
type Change struct {
	ID     string    `json:"id"`
	Host   string    `json:"host"`
	Bucket string    `json:"bucket"`
	Crash  time.Time `json:"crashed"`
	Old    []string  `json:"old"`
	New    []string  `json:"new"`
	// Published is false on a dry run.
	Published bool `json:"published"`
}

// Run scans the stored verdicts, reports every change through report and, unless a dry run,
// re-issues the corrected verdict. A verdict replaced meanwhile is left alone and counted as
// raced.
func (ra *Reanalysis) Run(ctx context.Context, rd *Reader, report func(Change) error) (ReanalysisCounts, error) {
	var st ReanalysisCounts
	err := rd.Scan(ctx, ra.Filter.Since, func(en Entry) error {
		r := en.Result
		if !ra.Filter.Match(r) {
			return nil
		}
		if r.Analysis == nil {
			st.NoAnalysis++
			return nil
		}
		st.Checked++
		c, changed, err := Reapply(ctx, ra.JS, ra.Rules, en, ra.Rule, ra.DryRun)
		switch {
		case errors.Is(err, ErrRaced):
			st.Changed++
			st.Raced++
			return nil
		case err != nil:
			return err
		case !changed:
			return nil
		}
		st.Changed++
		if c.Published {
			st.Published++
		}
		return report(c)
	})
	return st, err
}

// Reapply matches rs against the analysis stored in en and, when the known issues differ
// (and, with rule set, when the verdict matched or now matches that rule id), re-issues the
// verdict in place marked reprocessed, unless dryRun. It reports the change and whether
// there was one; ErrRaced when the verdict was replaced after en was read. A verdict
// without an analysis has nothing to match and is left as it is.
func Reapply(ctx context.Context, js jetstream.JetStream, rs Matcher, en Entry, rule string, dryRun bool) (Change, bool, error) {
	r := en.Result
	if r.Analysis == nil {
		return Change{}, false, nil
	}
	matches := rs.Match(rules.Input{Analysis: r.Analysis, Engine: r.Engine})
	if matches == nil {
		matches = []analysis.Match{}
	}
	old, now := RuleIDs(r.Matches), RuleIDs(matches)
	if rule != "" && !containsFold(old, rule) && !containsFold(now, rule) {
		return Change{}, false, nil
	}
	if sameSet(old, now) {
		return Change{}, false, nil
	}
	c := Change{ID: r.Job.ID, Host: r.Job.Host, Bucket: r.Bucket(), Crash: CrashTime(r), Old: old, New: now}
	if dryRun {
		return c, true, nil
	}
	r.Matches, r.PreviousMatches, r.RulesVersion, r.Reprocessed = matches, old, rs.Version(), true
	if err := Reissue(ctx, js, r, en.Seq); err != nil {
		return c, true, err
	}
	c.Published = true
	return c, true, nil
}

// RuleIDs lists the rule IDs of matches, in order.
func RuleIDs(ms []analysis.Match) []string {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// sameSet compares two ID lists as sets: the rule order alone is no reason to re-issue.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func containsFold(ids []string, id string) bool {
	return slices.ContainsFunc(ids, func(s string) bool { return strings.EqualFold(s, id) })
}
