package retention

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/silence"
)

// Verdicts lists what the stored verdicts say of their dumps (*history.Reader has it). An
// error must end the listing: a partial one would make analyzed dumps look unanalyzed.
type Verdicts interface {
	DumpRefs(ctx context.Context, fn func(history.DumpRef) error) error
}

// Jobs returns the share paths of the jobs still in the jobs stream (queued, or being
// analyzed: a job leaves the stream only after its verdict is stored).
type Jobs interface {
	QueuedSharePaths(ctx context.Context) (map[string]bool, error)
}

// Silences returns the buckets silenced or acknowledged at now (silence.KV has it).
type Silences interface {
	Active(ctx context.Context, now time.Time) (map[string]silence.Entry, error)
}

// Marker marks a job's verdict "dump pruned" at the given time; a verdict already marked is
// no error.
type Marker interface {
	MarkPruned(ctx context.Context, jobID string, at time.Time) error
}

// Pruner gathers the share's dumps and what NATS knows of them, and carries out plans.
type Pruner struct {
	Options  Options
	Share    dumpshare.Share
	Verdicts Verdicts
	Jobs     Jobs
	// Silences may be nil (no bucket is silenced).
	Silences Silences
	Marker   Marker
	Log      zerolog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ObserveFree is told the share's free space after each run (a gauge), when set.
	ObserveFree func(int64)
	// After waits between two runs of Run (default time.After).
	After func(time.Duration) <-chan time.Time

	m *metrics
}

// NewPruner checks the options and registers the metrics on reg (nil: none).
func NewPruner(p Pruner, reg prometheus.Registerer) (*Pruner, error) {
	if err := p.Options.Validate(); err != nil {
		return nil, err
	}
	if p.Share == nil || p.Verdicts == nil || p.Jobs == nil || p.Marker == nil {
		return nil, errors.New("retention: share, verdicts, jobs and marker are required")
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.After == nil {
		p.After = time.After
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	p.m = m
	return &p, nil
}

// Gather lists the share's dumps with their verdicts, queued jobs and silences. The share is
// listed first, then the jobs, then the verdicts: a job that finishes between the two
// reads has stored its verdict before it left the jobs stream, so no analyzed dump is seen
// as unanalyzed.
func (p *Pruner) Gather(ctx context.Context) ([]Dump, error) {
	var dumps []Dump
	byRel := map[string]int{}
	err := p.Share.List(ctx, func(fi dumpshare.FileInfo) error {
		host, _, _, _ := dumpshare.ParseLayout(fi.Rel)
		byRel[fi.Rel] = len(dumps)
		dumps = append(dumps, Dump{Rel: fi.Rel, Host: host, Size: fi.Size, Stored: fi.ModTime})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the share: %w", err)
	}
	queued, err := p.Jobs.QueuedSharePaths(ctx)
	if err != nil {
		return nil, fmt.Errorf("read queued jobs: %w", err)
	}
	for rel := range queued {
		if i, ok := byRel[rel]; ok {
			dumps[i].Pending = true
		}
	}
	var held map[string]silence.Entry
	if p.Silences != nil {
		if held, err = p.Silences.Active(ctx, p.Now()); err != nil {
			return nil, fmt.Errorf("read silences: %w", err)
		}
	}
	newest := map[string]uint64{}
	err = p.Verdicts.DumpRefs(ctx, func(r history.DumpRef) error {
		i, ok := byRel[r.SharePath]
		if !ok {
			return nil // its dump is gone already, or on another share
		}
		d := &dumps[i]
		v := d.Verdict
		if v == nil {
			v = &Verdict{PrunedAt: r.PrunedAt}
			d.Verdict = v
		}
		v.JobIDs = append(v.JobIDs, r.JobID)
		v.KnownIssue = v.KnownIssue || r.KnownIssue
		if r.PrunedAt.IsZero() {
			v.PrunedAt = time.Time{} // one verdict still unmarked: the dump is not pruned yet
		}
		if r.Seq >= newest[r.SharePath] {
			newest[r.SharePath] = r.Seq
			v.Bucket, v.Failed, v.Crash = r.Bucket, r.Failed, r.Crash
		}
		if _, ok := held[r.Bucket]; ok {
			v.Silenced = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read verdicts: %w", err)
	}
	for i := range dumps {
		if v := dumps[i].Verdict; v != nil && v.Crash.IsZero() {
			v.Crash = dumps[i].Stored
		}
	}
	return dumps, nil
}

// Plan gathers and decides.
func (p *Pruner) Plan(ctx context.Context) (*Plan, error) {
	dumps, err := p.Gather(ctx)
	if err != nil {
		return nil, err
	}
	return Decide(p.Options, dumps, p.Now()), nil
}

// Outcome is what became of one planned removal.
type Outcome struct {
	Removal
	// Removed is set once the file is gone and its verdicts are marked.
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
}

// Counts sum up one Apply.
type Counts struct {
	Removed int   `json:"removed"`
	Bytes   int64 `json:"bytes_removed"`
	Failed  int   `json:"failed"`
}

// Apply carries out a plan: for each dump it first marks its verdicts "dump pruned" (so
// no verdict is ever left pointing at a dump that silently vanished), then removes the
// file. A dump whose mark fails is left for the next run; one whose removal fails is
// removed by the next run (rule marked_pruned). report, when set, is told each outcome.
func (p *Pruner) Apply(ctx context.Context, plan *Plan, report func(Outcome) error) (Counts, error) {
	var c Counts
	at := p.Now().UTC()
	for _, r := range plan.Remove {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		o := Outcome{Removal: r}
		err := p.remove(ctx, r, at)
		if err != nil {
			o.Error = err.Error()
			c.Failed++
			p.m.errors.Inc()
			p.Log.Warn().Str("share_path", r.Rel).Err(err).Msg("dump not pruned; trying again next run")
		} else {
			o.Removed = true
			c.Removed++
			c.Bytes += r.Size
			p.m.pruned.WithLabelValues(r.Rule).Inc()
			p.m.prunedBytes.Add(float64(r.Size))
			p.Log.Info().Str("share_path", r.Rel).Str("rule", r.Rule).Str("why", r.Why).Int64("size", r.Size).Msg("dump pruned")
		}
		if report != nil {
			if err := report(o); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

func (p *Pruner) remove(ctx context.Context, r Removal, at time.Time) error {
	for _, id := range r.JobIDs {
		if err := p.Marker.MarkPruned(ctx, id, at); err != nil && !errors.Is(err, history.ErrNoVerdict) {
			return fmt.Errorf("mark verdict %s pruned: %w", id, err)
		}
	}
	if err := p.Share.Remove(ctx, r.Rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// RunOnce plans and applies once, and updates the gauges.
func (p *Pruner) RunOnce(ctx context.Context) (*Plan, Counts, error) {
	start := time.Now()
	plan, err := p.Plan(ctx)
	if err != nil {
		p.m.errors.Inc()
		return nil, Counts{}, err
	}
	c, err := p.Apply(ctx, plan, nil)
	p.m.dumps.Set(float64(plan.Dumps - c.Removed))
	p.m.bytes.Set(float64(plan.Bytes - c.Bytes))
	if p.ObserveFree != nil {
		if sp, serr := p.Share.Space(ctx); serr == nil {
			p.ObserveFree(sp.Free)
		}
	}
	for _, w := range plan.Warnings {
		p.Log.Warn().Msg(w)
	}
	p.Log.Info().Int("dumps", plan.Dumps).Int("removed", c.Removed).Int64("bytes_removed", c.Bytes).Int("failed", c.Failed).
		Int("pending", plan.Pending).Int("unanalyzed", plan.Unanalyzed).Float64("seconds", time.Since(start).Seconds()).Msg("retention run done")
	return plan, c, err
}

// Run applies the policy every Options.Interval until ctx ends. A failed run is logged and
// the next one tries again.
func (p *Pruner) Run(ctx context.Context) error {
	every := p.Options.WithDefaults().Interval
	for {
		if _, _, err := p.RunOnce(ctx); err != nil && ctx.Err() == nil {
			p.Log.Error().Err(err).Msg("retention run failed; trying again next interval")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.After(every):
		}
	}
}

type metrics struct {
	dumps, bytes prometheus.Gauge
	pruned       *prometheus.CounterVec
	prunedBytes  prometheus.Counter
	errors       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		dumps:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "bsodwatch_share_dumps", Help: "Dumps on the share after the last retention run."}),
		bytes:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "bsodwatch_share_bytes", Help: "Bytes the dumps take on the share after the last retention run."}),
		pruned:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bsodwatch_share_pruned_total", Help: "Dumps removed by retention, by rule."}, []string{"rule"}),
		prunedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "bsodwatch_share_pruned_bytes_total", Help: "Bytes removed by retention."}),
		errors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "bsodwatch_share_prune_errors_total", Help: "Retention runs that failed and dumps that could not be pruned."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.dumps, m.bytes, m.pruned, m.prunedBytes, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
