package web

import (
	"fmt"
	"time"
)

// Chart is a stacked bar chart of crashes over time, drawn as SVG by the page templates
// (no script): one bar per time bin, split into known, unknown and failed.
type Chart struct {
	Width, Height float64
	Bars          []Bar
	// Axis labels under the bars; YMax is the tallest bar's count.
	Labels []Label
	YMax   int
	Total  int
	// Span says what the chart covers ("last 30 days, by day").
	Span string
}

// Bar is one time bin.
type Bar struct {
	X, W  float64
	Segs  []Seg
	Title string // "2024-07-19: 12 crashes (10 known)"
}

// Seg is one class's part of a bar.
type Seg struct {
	Y, H  float64
	Class string
}

// Label is an axis label.
type Label struct {
	X      float64
	Text   string
	Anchor string // start, middle, end
}

const (
	chartW, chartH = 720.0, 160.0
	chartTop       = 8.0
	chartBottom    = 22.0 // room for the labels
)

// Ranges the charts offer, by URL value.
var ranges = []struct {
	key  string
	span time.Duration
	bin  time.Duration
	text string
}{
	{"24h", 24 * time.Hour, time.Hour, "last 24 hours, by hour"},
	{"7d", 7 * 24 * time.Hour, 6 * time.Hour, "last 7 days, by 6 hours"},
	{"30d", 30 * 24 * time.Hour, 24 * time.Hour, "last 30 days, by day"},
	{"1y", 365 * 24 * time.Hour, 7 * 24 * time.Hour, "last year, by week"},
	{"all", 0, 0, "every stored crash"},
}

// window picks the chart's time range: the one asked for, else the last 30 days when a
// crash falls in them, else everything stored (dumps from old crashes, say).
func window(key string, items []*item, now time.Time) (from, to time.Time, bin time.Duration, k, text string) {
	if key == "" {
		key = "all"
		for _, it := range items { // newest first
			if !it.Crash.Before(now.Add(-30 * 24 * time.Hour)) {
				key = "30d"
			}
			break
		}
	}
	for _, r := range ranges {
		if r.key != key {
			continue
		}
		if r.span > 0 {
			to = now.Truncate(r.bin).Add(r.bin)
			return to.Add(-r.span), to, r.bin, r.key, r.text
		}
	}
	// all: from the oldest crash to the newest, in at most 60 bins of a round size
	to, from = now, now.Add(-24*time.Hour)
	if len(items) > 0 {
		to, from = items[0].Crash, items[len(items)-1].Crash
	}
	span := to.Sub(from)
	for _, b := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour} {
		bin = b
		if span/b < 60 {
			break
		}
	}
	from = from.Truncate(bin)
	to = to.Truncate(bin).Add(bin)
	return from, to, bin, "all", "every stored crash, by " + binWord(bin)
}

func binWord(d time.Duration) string {
	switch d {
	case time.Hour:
		return "hour"
	case 6 * time.Hour:
		return "6 hours"
	case 24 * time.Hour:
		return "day"
	case 7 * 24 * time.Hour:
		return "week"
	case 30 * 24 * time.Hour:
		return "30 days"
	}
	return "year"
}

// chart draws the items (any order) that fall in [from, to) in bins of bin.
func chart(items []*item, from, to time.Time, bin time.Duration, span string) *Chart {
	n := max(int(to.Sub(from)/bin), 1)
	if n > 400 {
		n = 400
	}
	type counts struct{ known, unknown, failed int }
	cs := make([]counts, n)
	total := 0
	for _, it := range items {
		if it.Crash.Before(from) || !it.Crash.Before(to) {
			continue
		}
		i := min(int(it.Crash.Sub(from)/bin), n-1)
		switch it.Class() {
		case "known":
			cs[i].known++
		case "failed":
			cs[i].failed++
		default:
			cs[i].unknown++
		}
		total++
	}
	ymax := 1
	for _, c := range cs {
		ymax = max(ymax, c.known+c.unknown+c.failed)
	}
	c := &Chart{Width: chartW, Height: chartH, YMax: ymax, Total: total, Span: span}
	plotH := chartH - chartTop - chartBottom
	w := chartW / float64(n)
	layout := "2006-01-02"
	if bin < 24*time.Hour {
		layout = "01-02 15:04"
	}
	for i, cc := range cs {
		x := float64(i) * w
		start := from.Add(time.Duration(i) * bin)
		b := Bar{X: x, W: max(w-1, 1), Title: fmt.Sprintf("%s: %d crashes (%d known, %d unknown, %d failed)",
			start.UTC().Format(layout), cc.known+cc.unknown+cc.failed, cc.known, cc.unknown, cc.failed)}
		y := chartH - chartBottom
		for _, p := range []struct {
			n     int
			class string
		}{{cc.known, "known"}, {cc.unknown, "unknown"}, {cc.failed, "failed"}} {
			if p.n == 0 {
				continue
			}
			h := float64(p.n) / float64(ymax) * plotH
			y -= h
			b.Segs = append(b.Segs, Seg{Y: y, H: h, Class: p.class})
		}
		c.Bars = append(c.Bars, b)
	}
	c.Labels = append(c.Labels, Label{X: 0, Text: from.UTC().Format(layout), Anchor: "start"})
	if n > 2 {
		c.Labels = append(c.Labels, Label{X: float64(n/2)*w + w/2, Text: from.Add(time.Duration(n/2) * bin).UTC().Format(layout), Anchor: "middle"})
	}
	if n > 1 {
		c.Labels = append(c.Labels, Label{X: chartW, Text: from.Add(time.Duration(n-1) * bin).UTC().Format(layout), Anchor: "end"})
	}
	return c
}
