package retention

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const mib = 1 << 20

func dump(rel string, ageDays int, size int64, v *Verdict) Dump {
	host, _, _ := strings.Cut(rel, "/")
	return Dump{Rel: rel, Host: host, Size: size, Stored: now.Add(-time.Duration(ageDays) * 24 * time.Hour), Verdict: v}
}

func verdict(bucket string, crashDaysAgo int) *Verdict {
	return &Verdict{JobIDs: []string{"job-" + bucket + fmt.Sprint(crashDaysAgo)}, Bucket: bucket, Crash: now.Add(-time.Duration(crashDaysAgo) * 24 * time.Hour)}
}

type row struct{ rel, rule, why string }

func rows(p *Plan) []row {
	out := []row{}
	for _, r := range p.Remove {
		out = append(out, row{r.Rel, r.Rule, r.Why})
	}
	return out
}

func TestDecide(t *testing.T) {
	known := verdict("B1", 100)
	known.KnownIssue = true
	silenced := verdict("B2", 100)
	silenced.Silenced = true
	failed := verdict("unknown", 5)
	failed.Failed = true
	pruned := verdict("B3", 3)
	pruned.PrunedAt = now.Add(-24 * time.Hour)
	pending := dump("h1/20260101T000000Z-pending.dmp", 400, mib, nil)
	pending.Pending = true

	tests := []struct {
		name     string
		o        Options
		dumps    []Dump
		want     []row
		kept     int64
		warnings []string
	}{
		{"no policy removes nothing", Options{}, []Dump{dump("h1/20260101T000000Z-a.dmp", 900, mib, verdict("B", 900))}, []row{}, mib, nil},
		{"max_age, and what its analysis protects", Options{MaxAge: 90 * 24 * time.Hour}, []Dump{
			dump("h1/20260101T000000Z-old.dmp", 91, mib, verdict("B", 91)),
			dump("h1/20260101T000000Z-young.dmp", 89, mib, verdict("B", 89)),
			pending,
			dump("h1/20260101T000000Z-unanalyzed.dmp", 3, mib, nil),
			dump("h1/20260101T000000Z-orphan.dmp", 100, mib, nil),
		}, []row{
			{"h1/20260101T000000Z-old.dmp", "max_age", "on the share 91d (max_age 90d)"},
			{"h1/20260101T000000Z-orphan.dmp", "max_age", "on the share 100d (max_age 90d)"},
		}, 3 * mib, nil},
		{"known issues and silenced buckets are kept longer", Options{MaxAge: 90 * 24 * time.Hour, KnownIssueMaxAge: 180 * 24 * time.Hour, SilencedMaxAge: 120 * 24 * time.Hour}, []Dump{
			dump("h1/20260101T000000Z-known.dmp", 150, mib, known),
			dump("h1/20260101T000000Z-silenced.dmp", 150, mib, silenced),
			dump("h2/20260101T000000Z-known-too-old.dmp", 200, mib, &Verdict{JobIDs: []string{"x"}, Bucket: "B9", KnownIssue: true, Crash: now}),
		}, []row{
			{"h1/20260101T000000Z-silenced.dmp", "max_age", "on the share 150d (silenced or acknowledged bucket: silenced_max_age 120d)"},
			{"h2/20260101T000000Z-known-too-old.dmp", "max_age", "on the share 200d (known issue: known_issue_max_age 180d)"},
		}, mib, nil},
		{"keep_per_bucket keeps the newest crashes, not failed ones", Options{KeepPerBucket: 2}, []Dump{
			dump("h1/20260101T000000Z-c1.dmp", 1, mib, verdict("B", 10)),
			dump("h2/20260101T000000Z-c2.dmp", 1, mib, verdict("B", 20)),
			dump("h3/20260101T000000Z-c3.dmp", 1, mib, verdict("B", 30)),
			dump("h3/20260101T000000Z-c4.dmp", 1, mib, verdict("B", 5)),
			dump("h4/20260101T000000Z-f1.dmp", 1, mib, failed),
			dump("h4/20260101T000000Z-f2.dmp", 1, mib, failed),
			dump("h4/20260101T000000Z-f3.dmp", 1, mib, failed),
		}, []row{
			{"h2/20260101T000000Z-c2.dmp", "keep_per_bucket", "bucket B has 2 newer dumps (keep_per_bucket 2)"},
			{"h3/20260101T000000Z-c3.dmp", "keep_per_bucket", "bucket B has 2 newer dumps (keep_per_bucket 2)"},
		}, 5 * mib, nil},
		{"max_total: oldest first, known issues last, protected never", Options{MaxTotal: 3 * mib}, []Dump{
			dump("h1/20260101T000000Z-known-oldest.dmp", 50, mib, known),
			dump("h1/20260101T000000Z-old.dmp", 40, mib, verdict("B", 40)),
			dump("h1/20260101T000000Z-mid.dmp", 30, mib, verdict("B", 30)),
			dump("h1/20260101T000000Z-new.dmp", 1, mib, verdict("B", 1)),
			pending,
		}, []row{
			{"h1/20260101T000000Z-old.dmp", "max_total", "the share holds 5.0 MiB, over max_total 3.0 MiB; oldest first"},
			{"h1/20260101T000000Z-mid.dmp", "max_total", "the share holds 4.0 MiB, over max_total 3.0 MiB; oldest first"},
		}, 3 * mib, nil},
		{"max_total that only unfinished dumps break", Options{MaxTotal: mib}, []Dump{
			pending,
			dump("h1/20260101T000000Z-fresh.dmp", 0, 2*mib, nil),
		}, []row{}, 3 * mib, []string{"the share still holds 3.0 MiB after pruning, over max_total 1.0 MiB: the rest are dumps whose analysis has not finished (1) or that are not analyzed yet (1)"}},
		{"a verdict marked pruned whose file is still there", Options{}, []Dump{
			dump("h1/20260101T000000Z-left.dmp", 3, mib, pruned),
		}, []row{{"h1/20260101T000000Z-left.dmp", "marked_pruned", "its verdict was marked pruned on 2026-05-31; an earlier removal did not finish"}}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(tt.o, tt.dumps, now)
			if d := cmp.Diff(tt.want, rows(p), cmp.AllowUnexported(row{})); d != "" {
				t.Errorf("removals (-want +got):\n%s", d)
			}
			if p.KeptBytes != tt.kept {
				t.Errorf("kept %d bytes, want %d", p.KeptBytes, tt.kept)
			}
			if d := cmp.Diff(tt.warnings, p.Warnings); d != "" {
				t.Errorf("warnings (-want +got):\n%s", d)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, ""},
		{Options{MaxAge: 90 * 24 * time.Hour, KnownIssueMaxAge: 180 * 24 * time.Hour, MaxTotal: 1 << 40, KeepPerBucket: 20}, ""},
		{Options{MaxAge: -time.Hour}, "max_age: -1h0m0s: must not be negative"},
		{Options{MaxAge: time.Minute}, "max_age: 1m0s: at least 1h"},
		{Options{MaxAge: 48 * time.Hour, SilencedMaxAge: 24 * time.Hour}, "silenced_max_age: 24h0m0s: shorter than max_age (48h0m0s); it keeps dumps longer, not shorter"},
		{Options{KnownIssueMaxAge: 24 * time.Hour}, "known_issue_max_age: 24h0m0s: only lengthens max_age, which is not set"},
		{Options{KeepPerBucket: -1, MaxTotal: -5, Interval: time.Second}, "max_total: -5: must not be negative; keep_per_bucket: -1: must not be negative; interval: 1s: at least 1m"},
	} {
		got := ""
		if err := c.o.Validate(); err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("Validate(%+v) = %q, want %q", c.o, got, c.want)
		}
	}
}

// manyDumps makes n dumps over 500 hosts and 2,000 buckets, a fifth of them known issues,
// spread over two years on the share.
func manyDumps(n int) []Dump {
	out := make([]Dump, n)
	for i := range out {
		v := &Verdict{JobIDs: []string{fmt.Sprintf("%064x", i)}, Bucket: fmt.Sprintf("0x%x_drv%d", 0x7e+i%7, i%2000), KnownIssue: i%5 == 0,
			Crash: now.Add(-time.Duration(i%730) * 24 * time.Hour)}
		out[i] = Dump{Rel: fmt.Sprintf("host%03d/20260101T000000Z-%d.dmp", i%500, i), Host: fmt.Sprintf("host%03d", i%500),
			Size: int64(256<<10 + i%1000*1024), Stored: v.Crash.Add(time.Hour), Verdict: v, Pending: i%997 == 0}
	}
	return out
}

// BenchmarkDecide100k plans a share of 100,000 dumps with every rule on.
func BenchmarkDecide100k(b *testing.B) {
	dumps := manyDumps(100_000)
	o := Options{MaxAge: 365 * 24 * time.Hour, KnownIssueMaxAge: 540 * 24 * time.Hour, MaxTotal: 20 << 30, KeepPerBucket: 30}
	b.ReportAllocs()
	var p *Plan
	for b.Loop() {
		p = Decide(o, dumps, now)
	}
	b.ReportMetric(float64(len(p.Remove)), "removals")
}
