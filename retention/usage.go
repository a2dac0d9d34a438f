package retention

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/dumpshare"
)

// Group is the space one host, bucket or age range takes.
type Group struct {
	Key    string    `json:"key"`
	Dumps  int       `json:"dumps"`
	Bytes  int64     `json:"bytes"`
	Oldest time.Time `json:"oldest"`
	Newest time.Time `json:"newest"`
}

// Usage is what the share holds, by host, bucket and age.
type Usage struct {
	Total      Group           `json:"total"`
	Space      dumpshare.Space `json:"space"`
	Compressed int             `json:"compressed"`
	Pending    int             `json:"pending"`
	NoVerdict  int             `json:"no_verdict"`
	ByHost     []Group         `json:"by_host"`
	ByBucket   []Group         `json:"by_bucket"`
	ByAge      []Group         `json:"by_age"`
}

// NoVerdictKey is the bucket key of dumps without a verdict.
const NoVerdictKey = "(no verdict)"

// ages are the age ranges of Usage.ByAge, by time on the share.
var ages = []struct {
	key string
	max time.Duration
}{
	{"< 1d", 24 * time.Hour}, {"1-7d", 7 * 24 * time.Hour}, {"7-30d", 30 * 24 * time.Hour},
	{"30-90d", 90 * 24 * time.Hour}, {"90-365d", 365 * 24 * time.Hour}, {"> 1y", 1<<63 - 1},
}

// Summarize sums dumps up by host, bucket and age at now; groups are ordered by bytes,
// largest first (ages from youngest to oldest).
func Summarize(dumps []Dump, sp dumpshare.Space, now time.Time) *Usage {
	u := &Usage{Space: sp, Total: Group{Key: "total"}}
	hosts, buckets := map[string]*Group{}, map[string]*Group{}
	byAge := make([]Group, len(ages))
	for i := range ages {
		byAge[i].Key = ages[i].key
	}
	add := func(g *Group, d *Dump) {
		g.Dumps++
		g.Bytes += d.Size
		if g.Oldest.IsZero() || d.Stored.Before(g.Oldest) {
			g.Oldest = d.Stored
		}
		if d.Stored.After(g.Newest) {
			g.Newest = d.Stored
		}
	}
	get := func(m map[string]*Group, k string) *Group {
		g := m[k]
		if g == nil {
			g = &Group{Key: k}
			m[k] = g
		}
		return g
	}
	for i := range dumps {
		d := &dumps[i]
		add(&u.Total, d)
		add(get(hosts, strings.ToLower(d.Host)), d)
		b := NoVerdictKey
		if d.Verdict != nil {
			b = d.Verdict.Bucket
		} else {
			u.NoVerdict++
		}
		add(get(buckets, b), d)
		if d.Pending {
			u.Pending++
		}
		if dumpshare.Compressed(d.Rel) {
			u.Compressed++
		}
		age := now.Sub(d.Stored)
		for j := range ages {
			if age < ages[j].max {
				add(&byAge[j], d)
				break
			}
		}
	}
	u.ByHost, u.ByBucket = sorted(hosts), sorted(buckets)
	for _, g := range byAge {
		if g.Dumps > 0 {
			u.ByAge = append(u.ByAge, g)
		}
	}
	return u
}

func sorted(m map[string]*Group) []Group {
	out := make([]Group, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), strings.Compare(a.Key, b.Key)) })
	return out
}
