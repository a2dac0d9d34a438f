package web

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/history"
)

// Filter selects verdicts; its URL form (Query) is what pages and the API share, so a
// filtered list is a link that can be sent to someone.
type Filter struct {
	Host   string // exact, any case
	Bucket string // exact, any case
	Rule   string // a known issue or flag rule id
	// Since and Until bound the crash time (Until excluded).
	Since, Until time.Time
	// Class is known, unknown or failed.
	Class string
	Kind  string // a verdict kind: bugcheck, exception, manual, ...
	// Text is found, any case, in the host, headline, bucket, culprit or a known issue's title.
	Text string
}

// Paging.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// ParseFilter reads a filter and a page (offset, limit) from URL parameters: host, bucket,
// rule, since, until (RFC 3339, a date, or an age such as 36h, 7d, 2w), class
// (known|unknown|failed; unknown=1 is short for class=unknown), kind, q, offset, limit.
func ParseFilter(v url.Values, now time.Time) (f Filter, offset, limit int, err error) {
	f = Filter{
		Host: strings.TrimSpace(v.Get("host")), Bucket: strings.TrimSpace(v.Get("bucket")),
		Rule: strings.TrimSpace(v.Get("rule")), Class: v.Get("class"), Kind: v.Get("kind"),
		Text: strings.TrimSpace(v.Get("q")),
	}
	if b, _ := strconv.ParseBool(v.Get("unknown")); b {
		f.Class = "unknown"
	}
	switch f.Class {
	case "", "known", "unknown", "failed":
	default:
		return f, 0, 0, fmt.Errorf("class %q: want known, unknown or failed", f.Class)
	}
	for _, p := range []struct {
		key string
		t   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := strings.TrimSpace(v.Get(p.key)); s != "" {
			t, err := history.ParseSince(s, now)
			if err != nil {
				return f, 0, 0, fmt.Errorf("%s: %w", p.key, err)
			}
			*p.t = t
		}
	}
	limit = DefaultLimit
	if s := v.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > MaxLimit {
			return f, 0, 0, fmt.Errorf("limit %q: want 1 to %d", s, MaxLimit)
		}
	}
	if s := v.Get("offset"); s != "" {
		if offset, err = strconv.Atoi(s); err != nil || offset < 0 {
			return f, 0, 0, fmt.Errorf("offset %q: want 0 or more", s)
		}
	}
	return f, offset, limit, nil
}

// Query is the filter as URL parameters (times in RFC 3339).
func (f Filter) Query() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("host", f.Host)
	set("bucket", f.Bucket)
	set("rule", f.Rule)
	set("class", f.Class)
	set("kind", f.Kind)
	set("q", f.Text)
	if !f.Since.IsZero() {
		v.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		v.Set("until", f.Until.UTC().Format(time.RFC3339))
	}
	return v
}

// Empty reports whether f selects everything.
func (f Filter) Empty() bool { return len(f.Query()) == 0 }

func (f Filter) match(it *item) bool {
	switch {
	case f.Host != "" && !strings.EqualFold(f.Host, it.Host),
		f.Bucket != "" && !strings.EqualFold(f.Bucket, it.Bucket),
		f.Rule != "" && !it.HasRule(f.Rule),
		!f.Since.IsZero() && it.Crash.Before(f.Since),
		!f.Until.IsZero() && !it.Crash.Before(f.Until),
		f.Class != "" && f.Class != it.Class(),
		f.Kind != "" && f.Kind != it.Kind:
		return false
	}
	if f.Text != "" {
		q := strings.ToLower(f.Text)
		in := func(s string) bool { return strings.Contains(strings.ToLower(s), q) }
		if !in(it.Host) && !in(it.Headline) && !in(it.Bucket) && !in(it.Culprit) &&
			!slices.ContainsFunc(it.Issues, func(m analysis.Match) bool { return in(m.Title) || in(m.ID) }) {
			return false
		}
	}
	return true
}

// list returns the page of verdicts passing f, newest crash first, and how many pass.
func (x *index) list(f Filter, offset, limit int) ([]*item, int) {
	var out []*item
	total := 0
	for _, it := range x.items() {
		if !f.match(it) {
			continue
		}
		if total >= offset && len(out) < limit {
			out = append(out, it)
		}
		total++
	}
	return out, total
}

// HostSummary is one host's crashes.
type HostSummary struct {
	Host    string    `json:"host"`
	Crashes int       `json:"crashes"`
	First   time.Time `json:"first_crash"`
	Last    time.Time `json:"last_crash"`
	// LastID and LastHeadline are the newest verdict's.
	LastID       string `json:"last_verdict_id"`
	LastHeadline string `json:"last_headline"`
	LastClass    string `json:"last_class"`
	// CrashLoop is set when one of its verdicts was marked a crash loop.
	CrashLoop bool `json:"crash_loop"`
	Buckets   int  `json:"buckets"`
	// Fetcher is the fetcher's view of the host, when it reports one.
	Fetcher *HostState `json:"fetcher,omitempty"`
	items   []*item
}

// HostState is the fetcher's view of a host.
type HostState struct {
	State   string    `json:"state"`
	Error   string    `json:"error,omitempty"`
	Checked time.Time `json:"checked"`
	Since   time.Time `json:"since"`
	LastOK  time.Time `json:"last_ok,omitzero"`
}

// hosts groups the verdicts passing f by host, newest crash first, with each host's
// buckets and verdicts.
func (x *index) hosts(f Filter) []*HostSummary { return x.hostsOf(f, true) }

// hostsOf is hosts; without detail it leaves out Buckets and the verdicts (the overview
// needs neither, and they are most of the cost).
func (x *index) hostsOf(f Filter, detail bool) []*HostSummary {
	by := map[string]*HostSummary{}
	var order []*HostSummary
	buckets := map[string]map[string]bool{}
	for _, it := range x.items() { // newest first
		if !f.match(it) {
			continue
		}
		h := by[it.HostKey]
		if h == nil {
			h = &HostSummary{Host: it.Host, Last: it.Crash, LastID: it.ID, LastHeadline: it.Headline, LastClass: it.Class()}
			by[it.HostKey] = h
			order = append(order, h)
			if detail {
				buckets[it.HostKey] = map[string]bool{}
			}
		}
		h.Crashes++
		h.First = it.Crash
		h.CrashLoop = h.CrashLoop || it.Marks.CrashLoop
		if detail {
			buckets[it.HostKey][it.Bucket] = true
			h.items = append(h.items, it)
		}
	}
	for k, h := range by {
		h.Buckets = len(buckets[k])
	}
	return order
}

// BucketSummary is one bucket's crashes.
type BucketSummary struct {
	Bucket  string    `json:"bucket"`
	Crashes int       `json:"crashes"`
	Hosts   int       `json:"hosts"`
	First   time.Time `json:"first_crash"`
	Last    time.Time `json:"last_crash"`
	// Headline is the newest verdict's; LastID its id.
	Headline string `json:"headline"`
	LastID   string `json:"last_verdict_id"`
	Class    string `json:"class"`
	// Issue is the known issue of the newest verdict, when there is one.
	Issue *IssueRef `json:"known_issue,omitempty"`
	// New and Regression are set when a verdict of the bucket was so marked.
	New        bool `json:"new_bucket"`
	Regression bool `json:"regression"`
	// Silenced and Acknowledged are the entries people set in force now.
	Silenced     *Mark `json:"silenced,omitempty"`
	Acknowledged *Mark `json:"acknowledged,omitempty"`
	hostNames    []string
	items        []*item
}

// IssueRef names a known issue.
type IssueRef struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
}

// Mark is an acknowledgement or silence as the API shows it.
type Mark struct {
	Until   time.Time `json:"until"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// buckets groups the verdicts passing f by bucket, most crashes first.
func (x *index) buckets(f Filter) []*BucketSummary {
	by := map[string]*BucketSummary{}
	hosts := map[string]map[string]bool{}
	for _, it := range x.items() {
		if !f.match(it) {
			continue
		}
		b := by[it.Bucket]
		if b == nil {
			b = &BucketSummary{Bucket: it.Bucket, Last: it.Crash, Headline: it.Headline, LastID: it.ID, Class: it.Class()}
			if len(it.Issues) > 0 {
				m := it.Issues[0]
				b.Issue = &IssueRef{ID: m.ID, Title: m.Title, Severity: m.Severity}
			}
			by[it.Bucket] = b
			hosts[it.Bucket] = map[string]bool{}
		}
		b.Crashes++
		b.First = it.Crash
		b.New = b.New || it.Marks.NewBucket
		b.Regression = b.Regression || it.Marks.Regression
		if !hosts[it.Bucket][it.HostKey] {
			hosts[it.Bucket][it.HostKey] = true
			b.hostNames = append(b.hostNames, it.Host)
		}
		b.items = append(b.items, it)
	}
	out := make([]*BucketSummary, 0, len(by))
	for k, b := range by {
		b.Hosts = len(hosts[k])
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b *BucketSummary) int {
		return cmp.Or(cmp.Compare(b.Crashes, a.Crashes), b.Last.Compare(a.Last), strings.Compare(a.Bucket, b.Bucket))
	})
	return out
}

// IssueSummary is how often one known issue was hit.
type IssueSummary struct {
	IssueRef
	Crashes int       `json:"crashes"`
	Hosts   int       `json:"hosts"`
	Last    time.Time `json:"last_crash"`
}

// issues counts the known issues hit by verdicts passing f, most crashes first.
func (x *index) issues(f Filter) []*IssueSummary {
	by := map[string]*IssueSummary{}
	hosts := map[string]map[string]bool{}
	for _, it := range x.items() {
		if !f.match(it) {
			continue
		}
		for _, m := range it.Issues {
			s := by[m.ID]
			if s == nil {
				s = &IssueSummary{IssueRef: IssueRef{ID: m.ID, Title: m.Title, Severity: m.Severity}, Last: it.Crash}
				by[m.ID] = s
				hosts[m.ID] = map[string]bool{}
			}
			s.Crashes++
			hosts[m.ID][it.HostKey] = true
		}
	}
	out := make([]*IssueSummary, 0, len(by))
	for k, s := range by {
		s.Hosts = len(hosts[k])
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *IssueSummary) int {
		return cmp.Or(cmp.Compare(b.Crashes, a.Crashes), strings.Compare(a.ID, b.ID))
	})
	return out
}
