// Package retention keeps the dump share within its policy (share.retention): it weighs
// every dump on the share against what its verdict says (bucket, known issue, crash time),
// whether its analysis has finished, and which buckets people have silenced or
// acknowledged, and decides which dumps to remove and why. The verdict of a removed dump is
// kept, marked "dump pruned" with the date (pipeline.Result.PrunedAt).
//
// The rules, in order:
//
//   - A dump whose job is still in the jobs stream (queued or being analyzed) is kept.
//     So is one with no verdict and no job for unanalyzed_grace after it reached the share.
//   - A dump whose verdict was marked pruned is removed (an earlier removal did not finish).
//   - keep_per_bucket: of each bucket, only the newest N dumps by crash time are kept.
//   - max_age: a dump on the share longer than max_age is removed; known_issue_max_age and
//     silenced_max_age replace it for dumps of a known issue or a silenced/acknowledged
//     bucket.
//   - max_total: while the dumps left take more than max_total, the oldest is removed,
//     the dumps of known issues and silenced buckets after all others.
//
// Decide is pure (no I/O), so 100,000 dumps are planned in well under a second; Pruner
// gathers its inputs from the share and NATS and carries the plan out.
package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/internal/bytesize"
)

// Rules that remove a dump.
const (
	RuleMaxAge        = "max_age"
	RuleKeepPerBucket = "keep_per_bucket"
	RuleMaxTotal      = "max_total"
	RuleMarkedPruned  = "marked_pruned"
)

// Dump is one dump on the share, with what is known about its analysis.
type Dump struct {
	Rel  string
	Host string
	// Size is the bytes it takes on the share; Stored when it was written there.
	Size   int64
	Stored time.Time
	// Verdict is what its newest stored verdict says; nil when there is none.
	Verdict *Verdict
	// Pending is set while its job is in the jobs stream.
	Pending bool
}

// Verdict is what retention reads in a dump's verdict.
type Verdict struct {
	// JobIDs are the verdicts made from this file (usually one).
	JobIDs     []string
	Bucket     string
	Failed     bool
	KnownIssue bool
	// Silenced is set when the bucket is silenced or acknowledged now.
	Silenced bool
	Crash    time.Time
	PrunedAt time.Time
}

// Removal is a dump the plan removes and why.
type Removal struct {
	Rel    string    `json:"share_path"`
	Host   string    `json:"host"`
	Bucket string    `json:"bucket,omitempty"`
	JobIDs []string  `json:"job_ids,omitempty"`
	Size   int64     `json:"size"`
	Stored time.Time `json:"stored"`
	// Rule is the rule that applied (max_age, keep_per_bucket, max_total, marked_pruned);
	// Why says it in words.
	Rule string `json:"rule"`
	Why  string `json:"why"`
}

// Plan is what a run removes, and what the share holds before and after.
type Plan struct {
	Remove []Removal `json:"remove"`
	// Dumps and Bytes are what the share holds now; KeptBytes what stays.
	Dumps     int   `json:"dumps"`
	Bytes     int64 `json:"bytes"`
	KeptBytes int64 `json:"kept_bytes"`
	// Pending dumps (job queued) and Unanalyzed ones (no verdict, within the grace) are kept
	// whatever the rules say.
	Pending    int `json:"pending"`
	Unanalyzed int `json:"unanalyzed"`
	// Warnings say where the policy could not be met.
	Warnings []string `json:"warnings,omitempty"`
}

// Decide applies the policy o to dumps at now. It does not change dumps.
func Decide(o Options, dumps []Dump, now time.Time) *Plan {
	o = o.WithDefaults()
	p := &Plan{Dumps: len(dumps), Remove: []Removal{}}
	type cand struct {
		i        int
		d        *Dump
		extended bool
	}
	removed := make([]bool, len(dumps))
	remove := func(i int, rule, why string) {
		d := &dumps[i]
		removed[i] = true
		r := Removal{Rel: d.Rel, Host: d.Host, Size: d.Size, Stored: d.Stored, Rule: rule, Why: why}
		if v := d.Verdict; v != nil {
			r.Bucket, r.JobIDs = v.Bucket, v.JobIDs
		}
		p.Remove = append(p.Remove, r)
	}
	var eligible []int
	for i := range dumps {
		d := &dumps[i]
		p.Bytes += d.Size
		switch {
		case d.Pending:
			p.Pending++
		case d.Verdict == nil && now.Sub(d.Stored) < o.UnanalyzedGrace:
			p.Unanalyzed++
		case d.Verdict != nil && !d.Verdict.PrunedAt.IsZero():
			remove(i, RuleMarkedPruned, fmt.Sprintf("its verdict was marked pruned on %s; an earlier removal did not finish", day(d.Verdict.PrunedAt)))
		default:
			eligible = append(eligible, i)
		}
	}

	if n := o.KeepPerBucket; n > 0 {
		byBucket := map[string][]int{}
		for _, i := range eligible {
			if v := dumps[i].Verdict; v != nil && !v.Failed && v.Bucket != "" && v.Bucket != "unknown" {
				byBucket[v.Bucket] = append(byBucket[v.Bucket], i)
			}
		}
		for b, is := range byBucket {
			if len(is) <= n {
				continue
			}
			slices.SortFunc(is, func(a, c int) int {
				return cmp.Or(dumps[c].Verdict.Crash.Compare(dumps[a].Verdict.Crash), dumps[c].Stored.Compare(dumps[a].Stored), strings.Compare(dumps[a].Rel, dumps[c].Rel))
			})
			for _, i := range is[n:] {
				remove(i, RuleKeepPerBucket, fmt.Sprintf("bucket %s has %d newer dumps (keep_per_bucket %d)", b, n, n))
			}
		}
	}

	var left []cand
	for _, i := range eligible {
		if removed[i] {
			continue
		}
		d := &dumps[i]
		limit, what := o.MaxAge, "max_age"
		extended := false
		if v := d.Verdict; v != nil {
			if v.KnownIssue && o.KnownIssueMaxAge > limit {
				limit, what = o.KnownIssueMaxAge, "known issue: known_issue_max_age"
			}
			if v.Silenced && o.SilencedMaxAge > limit {
				limit, what = o.SilencedMaxAge, "silenced or acknowledged bucket: silenced_max_age"
			}
			extended = v.KnownIssue || v.Silenced
		}
		if age := now.Sub(d.Stored); limit > 0 && age > limit {
			remove(i, RuleMaxAge, fmt.Sprintf("on the share %s (%s %s)", days(age), what, days(limit)))
			continue
		}
		left = append(left, cand{i, d, extended})
	}

	kept := p.Bytes
	for _, r := range p.Remove {
		kept -= r.Size
	}
	if max := int64(o.MaxTotal); max > 0 && kept > max {
		slices.SortFunc(left, func(a, b cand) int {
			if a.extended != b.extended {
				if a.extended {
					return 1
				}
				return -1
			}
			return cmp.Or(a.d.Stored.Compare(b.d.Stored), strings.Compare(a.d.Rel, b.d.Rel))
		})
		for _, c := range left {
			if kept <= max {
				break
			}
			remove(c.i, RuleMaxTotal, fmt.Sprintf("the share holds %s, over max_total %s; oldest first", bytesize.Size(kept).Human(), bytesize.Size(max).Human()))
			kept -= c.d.Size
		}
		if kept > max {
			p.Warnings = append(p.Warnings, fmt.Sprintf("the share still holds %s after pruning, over max_total %s: the rest are dumps whose analysis has not finished (%d) or that are not analyzed yet (%d)",
				bytesize.Size(kept).Human(), bytesize.Size(max).Human(), p.Pending, p.Unanalyzed))
		}
	}
	p.KeptBytes = kept
	return p
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// days writes a duration in days (hours below two days).
func days(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
