package app

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/retention"
	"github.com/bsodwatch/bsodwatch/silence"
)

// RolePruner applies the share's retention policy (share.retention) every interval.
const RolePruner = "pruner"

// shareFree is the process's one gauge of the share's free space, set by the fetcher's
// guard before each copy and by the pruner after each run.
func (p *Process) shareFree() (func(int64), error) {
	if p.freeGauge == nil {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "bsodwatch_share_free_bytes", Help: "Free space on the dump share's volume, as the share reports it."})
		if err := p.ops.Registry().Register(g); err != nil {
			return nil, err
		}
		p.freeGauge = g
	}
	g := p.freeGauge
	return func(n int64) { g.Set(float64(n)) }, nil
}

// NewPruner assembles retention over the configured share and the NATS of js, for the
// pruner role and `bsodwatch share prune|usage`. release closes the share. reg receives
// the metrics (nil: none).
func NewPruner(ctx context.Context, c *config.Config, js jetstream.JetStream, log zerolog.Logger, reg prometheus.Registerer) (*retention.Pruner, func(), error) {
	share, release, err := dumpshare.Open(ctx, c.Share.Options)
	if err != nil {
		return nil, nil, err
	}
	rd := &history.Reader{JS: js, Log: log}
	p, err := retention.NewPruner(retention.Pruner{
		Options: c.Share.Retention, Share: share, Verdicts: rd, Jobs: retention.JobsStream{JS: js},
		Silences: silence.KV{JS: js, Replicas: c.NATS.Replicas}, Marker: retention.HistoryMarker{JS: js, Reader: rd}, Log: log,
	}, reg)
	if err != nil {
		release()
		return nil, nil, placed(c, "share.retention", err)
	}
	return p, func() {
		if err := release(); err != nil {
			log.Warn().Err(err).Msg("closing the dump share")
		}
	}, nil
}

func (p *Process) pruner(ctx context.Context) (task, error) {
	c := p.cfg
	log := p.log.With().Str("role", RolePruner).Logger()
	if !c.Share.Retention.Enabled() {
		p.note("prune", "off (share.retention sets no max_age, max_total or keep_per_bucket)")
		return task{RolePruner, func(ctx context.Context) error { <-ctx.Done(); return nil }}, nil
	}
	pr, release, err := NewPruner(ctx, c, p.js, log, p.ops.Registry())
	if err != nil {
		return task{}, err
	}
	p.cleanups = append(p.cleanups, release)
	if pr.ObserveFree, err = p.shareFree(); err != nil {
		return task{}, err
	}
	p.note("prune", "every "+c.Share.Retention.WithDefaults().Interval.String())
	return task{RolePruner, func(ctx context.Context) error {
		err := pr.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}}, nil
}
