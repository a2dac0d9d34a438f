package retention_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/retention"
)

// memShare is a share held in memory: the benchmark's 100,000 dumps.
type memShare struct {
	files map[string]dumpshare.FileInfo
}

func (m *memShare) Put(context.Context, string, io.Reader, int64) (string, error) {
	return "", fmt.Errorf("not used")
}
func (m *memShare) StoredRel(rel string, _ int64) string { return rel }
func (m *memShare) Stat(_ context.Context, rel string) (dumpshare.FileInfo, error) {
	if fi, ok := m.files[rel]; ok {
		return fi, nil
	}
	return dumpshare.FileInfo{}, fs.ErrNotExist
}
func (m *memShare) Remove(_ context.Context, rel string) error { delete(m.files, rel); return nil }
func (m *memShare) List(_ context.Context, fn func(dumpshare.FileInfo) error) error {
	for _, fi := range m.files {
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}
func (m *memShare) Space(context.Context) (dumpshare.Space, error) {
	return dumpshare.Space{Free: 1 << 40, Total: 2 << 40}, nil
}

type memVerdicts []history.DumpRef

func (v memVerdicts) DumpRefs(_ context.Context, fn func(history.DumpRef) error) error {
	for _, r := range v {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

type memJobs map[string]bool

func (j memJobs) QueuedSharePaths(context.Context) (map[string]bool, error) { return j, nil }

type countMarker struct{ n int }

func (c *countMarker) MarkPruned(context.Context, string, time.Time) error { c.n++; return nil }

// BenchmarkPrune100k gathers, plans and applies retention over a share of 100,000 dumps
// (500 hosts, 2,000 buckets, two years) with every rule on; the share, the verdicts and the
// queue are in memory, so this is the pruner's own cost (reading 100,000 verdicts from
// JetStream adds what `results --by bucket` takes, see the README).
func BenchmarkPrune100k(b *testing.B) {
	const n = 100_000
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	files := make([]dumpshare.FileInfo, n)
	refs := make(memVerdicts, 0, n)
	jobs := memJobs{}
	for i := range files {
		host := fmt.Sprintf("host%03d", i%500)
		stored := now.Add(-time.Duration(i%730)*24*time.Hour - time.Hour)
		rel := fmt.Sprintf("%s/%s-%d.dmp", host, stored.Format("20060102T150405Z"), i)
		files[i] = dumpshare.FileInfo{Rel: rel, Size: int64(256<<10 + i%1000*1024), ModTime: stored}
		if i%997 == 0 {
			jobs[rel] = true
			continue
		}
		refs = append(refs, history.DumpRef{JobID: fmt.Sprintf("%064x", i), Host: host, SharePath: rel,
			Bucket: fmt.Sprintf("0x%x_drv%d", 0x7e+i%7, i%2000), KnownIssue: i%5 == 0, Crash: stored, Seq: uint64(i + 1)})
	}
	b.ReportAllocs()
	var removed int
	for b.Loop() {
		b.StopTimer()
		sh := &memShare{files: make(map[string]dumpshare.FileInfo, n)}
		for _, fi := range files {
			sh.files[fi.Rel] = fi
		}
		mk := &countMarker{}
		p, err := retention.NewPruner(retention.Pruner{
			Options: retention.Options{MaxAge: 365 * 24 * time.Hour, KnownIssueMaxAge: 540 * 24 * time.Hour, MaxTotal: 20 << 30, KeepPerBucket: 30},
			Share:   sh, Verdicts: refs, Jobs: jobs, Marker: mk, Log: zerolog.Nop(), Now: func() time.Time { return now },
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		_, c, err := p.RunOnce(context.Background())
		if err != nil || c.Removed == 0 || mk.n != c.Removed {
			b.Fatalf("run: %+v, %v (marked %d)", c, err, mk.n)
		}
		removed = c.Removed
	}
	b.ReportMetric(float64(removed), "removed")
}
