package retention

import (
	"time"

	"github.com/bsodwatch/bsodwatch/internal/bytesize"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
)

// Options are the share's retention policy (share.retention). With none of max_age,
// max_total and keep_per_bucket set nothing is ever removed.
type Options struct {
	// MaxAge removes dumps that have been on the share longer than this (e.g. 2160h for 90
	// days). Default 0: no age limit.
	MaxAge time.Duration `yaml:"max_age"`
	// KnownIssueMaxAge replaces max_age for dumps whose verdict names a known issue (the
	// evidence for a vendor case). Default: max_age. At least max_age.
	KnownIssueMaxAge time.Duration `yaml:"known_issue_max_age"`
	// SilencedMaxAge replaces max_age for dumps of a bucket that is silenced or acknowledged
	// (KV bucket bsodwatch_silences, see package silence). Default: max_age. At least
	// max_age.
	SilencedMaxAge time.Duration `yaml:"silenced_max_age"`
	// MaxTotal caps the bytes all dumps take on the share: above it the oldest dumps go
	// first, those of known issues and silenced buckets after the others (e.g. 500GiB).
	// Default 0: no cap.
	MaxTotal bytesize.Size `yaml:"max_total"`
	// KeepPerBucket keeps only the newest N dumps (by crash time) of each bucket; older
	// ones of a bucket with N newer are removed. Failed analyses and the bucket "unknown"
	// are not capped. Default 0: no cap.
	KeepPerBucket int `yaml:"keep_per_bucket"`
	// UnanalyzedGrace: a dump with no verdict and no queued job (a copy whose job was never
	// published, a verdict aged out of the results stream) is left alone this long after
	// it reached the share, then weighed like the others. A dump whose job is still queued
	// or being analyzed is never removed. Default 168h.
	UnanalyzedGrace time.Duration `yaml:"unanalyzed_grace"`
	// Interval between two runs of the pruner role (default 1h).
	Interval time.Duration `yaml:"interval"`
}

// Defaults.
const (
	DefaultUnanalyzedGrace = 7 * 24 * time.Hour
	DefaultInterval        = time.Hour
)

// WithDefaults returns o with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.KnownIssueMaxAge <= 0 {
		o.KnownIssueMaxAge = o.MaxAge
	}
	if o.SilencedMaxAge <= 0 {
		o.SilencedMaxAge = o.MaxAge
	}
	if o.UnanalyzedGrace <= 0 {
		o.UnanalyzedGrace = DefaultUnanalyzedGrace
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	return o
}

// Enabled reports whether the policy removes anything at all.
func (o Options) Enabled() bool { return o.MaxAge > 0 || o.MaxTotal > 0 || o.KeepPerBucket > 0 }

// Validate reports every problem with o at once (optcheck.Problems keyed like the YAML).
func (o Options) Validate() error {
	var ps optcheck.Problems
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"max_age", o.MaxAge}, {"known_issue_max_age", o.KnownIssueMaxAge}, {"silenced_max_age", o.SilencedMaxAge},
		{"unanalyzed_grace", o.UnanalyzedGrace}, {"interval", o.Interval}} {
		if d.v < 0 {
			ps.Addf(d.key, "%s: must not be negative", d.v)
		}
	}
	if o.MaxAge > 0 && o.MaxAge < time.Hour {
		ps.Addf("max_age", "%s: at least 1h", o.MaxAge)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"known_issue_max_age", o.KnownIssueMaxAge}, {"silenced_max_age", o.SilencedMaxAge}} {
		if d.v > 0 && o.MaxAge == 0 {
			ps.Addf(d.key, "%s: only lengthens max_age, which is not set", d.v)
		} else if d.v > 0 && d.v < o.MaxAge {
			ps.Addf(d.key, "%s: shorter than max_age (%s); it keeps dumps longer, not shorter", d.v, o.MaxAge)
		}
	}
	if o.MaxTotal < 0 {
		ps.Addf("max_total", "%s: must not be negative", o.MaxTotal)
	}
	if o.KeepPerBucket < 0 {
		ps.Addf("keep_per_bucket", "%d: must not be negative", o.KeepPerBucket)
	}
	if o.Interval > 0 && o.Interval < time.Minute {
		ps.Addf("interval", "%s: at least 1m", o.Interval)
	}
	return ps.Err()
}
