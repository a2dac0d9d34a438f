// Package history answers questions across stored verdicts (which hosts crash, which buckets,
// which known issues) by reading the results stream, and marks new verdicts that deserve
// attention: a bucket never seen before, a bucket back after a quiet period, a host that keeps
// crashing.
package history

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// Options configure history. The zero value takes the documented defaults.
type Options struct {
	// RegressionQuiet is how long a bucket must have been silent for its return to be marked a
	// regression. Default 30 days (720h).
	RegressionQuiet time.Duration `yaml:"regression_quiet"`
	// CrashLoopCount crashes of one host within CrashLoopWindow mark a crash loop.
	// Defaults 3 and 24h.
	CrashLoopCount  int           `yaml:"crash_loop_count"`
	CrashLoopWindow time.Duration `yaml:"crash_loop_window"`
	// Retention is how long verdicts (the results stream) and the marker's memory of buckets
	// and hosts are kept. Default a year (8760h).
	Retention time.Duration `yaml:"retention"`
	// Bucket is the JetStream KV bucket the marker keeps its state in. Default
	// "bsodwatch_history".
	Bucket string `yaml:"bucket"`
}

// Defaults.
const (
	DefaultRegressionQuiet = 30 * 24 * time.Hour
	DefaultCrashLoopCount  = 3
	DefaultCrashLoopWindow = 24 * time.Hour
	DefaultRetention       = 365 * 24 * time.Hour
	DefaultBucket          = "bsodwatch_history"
)

// WithDefaults returns o with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.RegressionQuiet <= 0 {
		o.RegressionQuiet = DefaultRegressionQuiet
	}
	if o.CrashLoopCount <= 0 {
		o.CrashLoopCount = DefaultCrashLoopCount
	}
	if o.CrashLoopWindow <= 0 {
		o.CrashLoopWindow = DefaultCrashLoopWindow
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	return o
}

// StreamOptions returns the stream sizing that carries the retention to
// pipeline.EnsureStreams.
func (o Options) StreamOptions() pipeline.StreamOptions {
	return pipeline.StreamOptions{ResultsMaxAge: o.WithDefaults().Retention}
}

// CrashTime is when the crash of a verdict happened, as well as bsodwatch knows: the dump's
// own system time, else the file's modification time, else when it was found or analyzed.
// History orders, filters and marks by it, so that a batch of old dumps submitted today lands
// where it belongs in time.
func CrashTime(r *pipeline.Result) time.Time {
	if v := r.Verdict; v != nil && !v.CrashTime.IsZero() {
		return v.CrashTime
	}
	if h := r.Job.Header; h != nil && !h.SystemTime.IsZero() {
		return h.SystemTime
	}
	for _, t := range []time.Time{r.Job.ModTime, r.Job.DetectedAt, r.AnalyzedAt} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// Filter selects verdicts. Empty fields match everything; string fields compare without
// regard to case.
type Filter struct {
	Host   string
	Bucket string
	Rule   string
	// Since keeps verdicts whose crash time is at or after it.
	Since time.Time
	// Unknown keeps only verdicts that matched no rule.
	Unknown bool
}

// Match reports whether r passes the filter.
func (f Filter) Match(r *pipeline.Result) bool {
	if f.Host != "" && !strings.EqualFold(f.Host, r.Job.Host) {
		return false
	}
	if f.Bucket != "" && !strings.EqualFold(f.Bucket, r.Bucket()) {
		return false
	}
	if issues, _ := analysis.Explaining(r.Matches); f.Unknown && len(issues) > 0 {
		return false
	}
	if f.Rule != "" && !slices.ContainsFunc(r.Matches, func(m analysis.Match) bool { return strings.EqualFold(m.ID, f.Rule) }) {
		return false
	}
	if !f.Since.IsZero() && CrashTime(r).Before(f.Since) {
		return false
	}
	return true
}

// Validate reports every problem with o at once (optcheck.Problems keyed like the YAML).
func (o Options) Validate() error {
	var ps optcheck.Problems
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"regression_quiet", o.RegressionQuiet}, {"crash_loop_window", o.CrashLoopWindow}, {"retention", o.Retention}} {
		if d.v < 0 {
			ps.Addf(d.key, "%s: must not be negative", d.v)
		}
	}
	if o.Retention > 0 && o.Retention < time.Hour {
		ps.Addf("retention", "%s: at least 1h", o.Retention)
	}
	if o.CrashLoopCount < 0 || o.CrashLoopCount == 1 {
		ps.Addf("crash_loop_count", "%d: want 2 or more", o.CrashLoopCount)
	}
	if o.Bucket != "" && !bucketRE.MatchString(o.Bucket) {
		ps.Addf("bucket", "%q: letters, digits, - and _ only", o.Bucket)
	}
	return ps.Err()
}

// bucketRE is what JetStream accepts as a KV bucket name.
var bucketRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// ParseSince reads a point in time as people write it: an RFC 3339 time, a date or date and
// minute (UTC), or an age counted back from now (Go durations plus d for days and w for
// weeks: 36h, 7d, 2w). An empty string is the zero time.
func ParseSince(s string, now time.Time) (time.Time, error) {
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
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time, a date (2006-01-02) or an age (36h, 7d, 2w)", s)
}
