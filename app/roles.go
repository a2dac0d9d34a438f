package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/debugout"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/dirsource"
	"github.com/bsodwatch/bsodwatch/fetcher/ldapinv"
	"github.com/bsodwatch/bsodwatch/fetcher/smbsource"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/hoststatus"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/notifier"
	"github.com/bsodwatch/bsodwatch/rules"
)

// In the all-in-one mode a person drops a dump into the fleet folder and watches it flow, so
// the local fleet is swept far more often than the fetcher's default for real hosts.
const (
	fleetInterval    = 5 * time.Second
	fleetStableAfter = 2 * time.Second
)

// AnalyzerOptions returns the analyzer's options as a process runs them: defaults applied,
// the share defaulting to share.dir (in the all-in-one mode to <data_dir>/share), and in the
// all-in-one mode the rules folder <data_dir>/rules when it exists. They are checked (every
// problem at once).
func AnalyzerOptions(c *config.Config, allInOne bool) (analyzer.Options, error) {
	o := c.Analyzer
	switch {
	case o.ShareDir != "":
	case allInOne:
		o.ShareDir = c.ShareDir()
	default:
		o.ShareDir = c.Share.Dir // where the fetchers copy to
	}
	if o.RulesDir == "" && allInOne {
		if d := filepath.Join(c.DataDir, "rules"); isDir(d) {
			o.RulesDir = d
		}
	}
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return o, UsageError{err}
	}
	return o, nil
}

func (p *Process) analyzer(ctx context.Context) (task, error) {
	c := p.cfg
	reg := p.ops.Registry()
	o := p.aopts
	rl, err := rules.NewReloader(o.RulesDir, p.log, reg)
	if err != nil {
		return task{}, UsageError{err}
	}
	p.rules = rl
	p.reloaders = append(p.reloaders, reloader{name: "rules", reload: rl.Reload, log: rl.LogRefused})
	p.ops.AddCheck("rules", func(context.Context) error {
		if rl.Current() == nil {
			return errors.New("no rules loaded")
		}
		return nil
	})
	deps := analyzer.Deps{JS: p.js, Log: p.log, Registerer: reg, Rules: func() analyzer.RuleSet { return rl.Current() }}
	if deps.Output, err = debugout.Open(ctx, p.js, c.History.WithDefaults().Retention, c.NATS.Replicas); err != nil {
		return task{}, err
	}
	if !p.o.NoHistory {
		if deps.Marker, err = history.NewMarker(ctx, p.js, c.History, reg); err != nil {
			return task{}, err
		}
	}
	w, err := analyzer.New(o, deps)
	if err != nil {
		return task{}, UsageError{err}
	}
	if o.RulesDir == "" {
		where := "shipped library"
		if p.o.AllInOne {
			where += " (put your own in " + filepath.Join(c.DataDir, "rules") + ")"
		}
		p.note("rules", where)
	} else {
		p.note("rules", o.RulesDir)
	}
	p.note("engine", w.Engine())
	return task{RoleAnalyzer, func(ctx context.Context) error {
		go rl.Watch(ctx, o.RulesReload)
		return w.Run(ctx)
	}}, nil
}

func (p *Process) notifier(ctx context.Context) (task, error) {
	c := p.cfg
	n, err := notifier.New(c.Notifier, p.o.Out, p.log.With().Str("role", RoleNotifier).Logger(), p.ops.Registry())
	if err != nil {
		return task{}, UsageError{err}
	}
	p.notif = n
	sil, err := p.silenceStore(ctx)
	if err != nil {
		return task{}, err
	}
	n.SetSilencer(sil)
	names := make([]string, len(c.Notifier.Targets))
	for i, t := range c.Notifier.Targets {
		names[i] = t.Name + " (" + t.Type + ")"
	}
	p.note("notify", strings.Join(names, ", "))
	return task{RoleNotifier, func(ctx context.Context) error {
		// Silences set before a restart are honoured from the first verdict on.
		select {
		case <-sil.Ready():
		case <-time.After(10 * time.Second):
			p.log.Warn().Msg("silences not loaded within 10s; notifying meanwhile")
		case <-ctx.Done():
			return nil
		}
		return n.Run(ctx, p.js, c.NATS.Replicas)
	}}, nil
}

func (p *Process) buildFetcher(ctx context.Context) (task, error) {
	c := p.cfg
	o := c.Fetcher
	log := p.log.With().Str("role", RoleFetcher).Logger()
	d := fetcher.Deps{Log: log, Registerer: p.ops.Registry(), DryRun: p.o.DryRun}
	if o.Inventory != "" || o.LDAP != nil {
		src, err := smbsource.New(o, smbsource.WithLogger(log))
		if err != nil {
			return task{}, UsageError{err}
		}
		p.cleanups = append(p.cleanups, src.Close) // ends Kerberos ticket renewal
		inv, err := ldapinv.ForFetcher(o, src.Kerberos, log)
		if err != nil {
			return task{}, UsageError{err}
		}
		d.Inventory, d.Source = inv, src
		hosts := []string{}
		if o.Inventory != "" {
			hosts = append(hosts, o.Inventory)
		}
		if o.LDAP != nil {
			hosts = append(hosts, strings.Join(o.LDAP.URLs, ", "))
		}
		p.note("hosts", strings.Join(hosts, " + ")+" (SMB)")
	} else {
		src, err := dirsource.New(o.FleetDir)
		if err != nil {
			return task{}, UsageError{err}
		}
		d.Inventory, d.Source = src, src
		if p.o.AllInOne {
			if o.Interval == 0 {
				o.Interval = fleetInterval
			}
			if o.StableAfter == 0 {
				o.StableAfter = fleetStableAfter
			}
			if o.EventLog.Interval == 0 {
				o.EventLog.Interval = fleetInterval
			}
		}
	}
	if !p.o.DryRun {
		share, release, err := dumpshare.Open(ctx, c.Share.Options)
		if err != nil {
			return task{}, err
		}
		p.cleanups = append(p.cleanups, func() {
			if err := release(); err != nil {
				log.Warn().Err(err).Msg("closing the dump share")
			}
		})
		state, err := fetcher.NewKVState(ctx, p.js)
		if err != nil {
			return task{}, err
		}
		observe, err := p.shareFree()
		if err != nil {
			return task{}, err
		}
		d.Share, d.State, d.Publisher = share, state, intake.NewPublisher(p.js)
		d.Guard = &dumpshare.Guard{Space: share.Space, MinFree: int64(c.Share.MinFree), Observe: observe}
		rec, err := hoststatus.NewRecorder(ctx, p.js, c.NATS.Replicas, log)
		if err != nil {
			return task{}, err
		}
		d.Hosts = rec
		p.bg = append(p.bg, rec.Run)
	}
	f, err := fetcher.New(o, d)
	if err != nil {
		return task{}, UsageError{err}
	}
	p.fetcher = f
	return task{RoleFetcher, func(ctx context.Context) error {
		err := f.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}}, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
