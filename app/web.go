package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bsodwatch/bsodwatch/debugout"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/hoststatus"
	"github.com/bsodwatch/bsodwatch/ops"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/silence"
	"github.com/bsodwatch/bsodwatch/web"
)

// webListen checks where the console would be served: on the ops listener, which must be
// on, and off loopback only behind a web configuration (dumps hold servers' memory).
func webListen(o ops.Options) error {
	switch {
	case o.Listen == "":
		return errors.New(`listen: the web console is served on metrics.listen (--metrics), which is ""`)
	case o.WebConfigFile == "" && !ops.IsLoopback(o.Listen):
		return fmt.Errorf("listen: %q is not a loopback address, and the web console shows crash dumps (server memory): give --web.config.file (metrics.web_config_file) with basic_auth_users, or listen on 127.0.0.1", o.Listen)
	}
	return nil
}

// silenceStore opens the silences once per process and keeps them current.
func (p *Process) silenceStore(ctx context.Context) (*silence.Store, error) {
	if p.silences != nil {
		return p.silences, nil
	}
	s, err := silence.Open(ctx, p.js, p.cfg.NATS.Replicas)
	if err != nil {
		return nil, err
	}
	p.silences = s
	p.bg = append(p.bg, func(ctx context.Context) {
		if err := s.Watch(ctx); err != nil {
			p.log.Warn().Err(err).Msg("silences")
		}
	})
	return s, nil
}

// buildWeb assembles the console: the analyzer's rules when the process runs one (else its
// own reloader of the same folder), the silences, the fetcher's host states, the dump
// share when it is a local folder, and the audit log. It is mounted on the ops listener.
func (p *Process) buildWeb(ctx context.Context) (task, error) {
	c := p.cfg
	rl := p.rules
	if rl == nil {
		dir := c.Analyzer.RulesDir
		if dir == "" && p.o.AllInOne {
			if d := filepath.Join(c.DataDir, "rules"); isDir(d) {
				dir = d
			}
		}
		var err error
		if rl, err = rules.NewReloader(dir, p.log, p.ops.Registry()); err != nil {
			return task{}, UsageError{err}
		}
		p.rules = rl
		p.reloaders = append(p.reloaders, reloader{name: "rules", reload: rl.Reload, log: rl.LogRefused})
		p.bg = append(p.bg, func(ctx context.Context) { rl.Watch(ctx, c.Analyzer.WithDefaults().RulesReload) })
	}
	sil, err := p.silenceStore(ctx)
	if err != nil {
		return task{}, err
	}
	hosts, err := hoststatus.NewReader(ctx, p.js, c.NATS.Replicas)
	if err != nil {
		return task{}, err
	}
	p.bg = append(p.bg, func(ctx context.Context) {
		if err := hosts.Watch(ctx); err != nil {
			p.log.Warn().Err(err).Msg("host status")
		}
	})
	outputs, err := debugout.Open(ctx, p.js, c.History.WithDefaults().Retention, c.NATS.Replicas)
	if err != nil {
		return task{}, err
	}
	d := web.Deps{JS: p.js, Log: p.log, Rules: rl, Silences: sil, Hosts: hosts, Outputs: outputs, Auth: c.Metrics.WebConfigFile != ""}
	switch {
	case c.Share.SMB != nil:
		// Its own session to the SMB share, for downloads. A share that cannot be reached
		// now leaves the console up with downloads refused (and says why in the log).
		share, release, err := dumpshare.Open(ctx, c.Share.Options)
		if err != nil {
			p.log.Warn().Err(err).Msg("web console: dump downloads are off")
		} else {
			p.cleanups = append(p.cleanups, func() { _ = release() })
			if o, ok := share.(web.DumpOpener); ok {
				d.Dumps = o
			}
		}
	case c.ShareDir() != "":
		if l, err := dumpshare.NewLocal(c.ShareDir()); err == nil {
			d.Dumps = l
		}
	}
	o := c.Web
	if o.AuditFile == "" {
		o.AuditFile = filepath.Join(c.DataDir, "audit.log")
	}
	srv, err := web.New(o, d)
	if err != nil {
		return task{}, UsageError{err}
	}
	p.web = srv
	p.cleanups = append(p.cleanups, func() {
		if err := srv.Close(); err != nil {
			p.log.Warn().Err(err).Msg("closing the audit log")
		}
	})
	p.ops.Handle("/", srv)
	p.ops.AddCheck("web", func(context.Context) error {
		if st := srv.IndexState(); st.Error != "" {
			return errors.New(st.Error)
		}
		return nil
	})
	p.note("audit", o.AuditFile)
	return task{RoleWeb, srv.Run}, nil
}

// linkResults points the notifier's links at the console when notifier.result_url is not
// set: web.external_url when given, else the listener of this process when it serves the
// console.
func (p *Process) linkResults() {
	if p.notif == nil {
		return
	}
	base := strings.TrimRight(p.cfg.Web.ExternalURL, "/")
	if base == "" && p.web != nil && p.lis != nil {
		base = p.lis.URL()
	}
	if base != "" {
		p.notif.SetResultURL(base + web.VerdictPath)
	}
}
