// Package app assembles bsodwatch's roles from one configuration, in one way for the
// all-in-one `bsodwatch run` and for each role run on its own (`fetch`, `analyze`,
// `notify`): it reaches NATS (the embedded server, or the server or cluster nats.urls names),
// ensures the streams with the configured replicas and retention, builds each role, serves
// /metrics and /healthz once per process, reloads what can be reloaded on SIGHUP, and stops
// everything in order. Commands that only talk to NATS (results, submit, reanalyze) connect
// through Dial, with the same configuration.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/notifier"
	"github.com/bsodwatch/bsodwatch/ops"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/silence"
	"github.com/bsodwatch/bsodwatch/web"
)

// Role names, as --roles takes them.
const (
	RoleFetcher  = "fetcher"
	RoleAnalyzer = "analyzer"
	RoleNotifier = "notifier"
	RoleWeb      = "web"
)

// AllRoles are the roles `bsodwatch run` runs by default, in the order they are started
// (consumers before the producer, so the first job finds a worker; the web console last,
// so that it shares the analyzer's rules).
var AllRoles = []string{RoleAnalyzer, RoleNotifier, RoleFetcher, RolePruner, RoleWeb}

// Options say what one process runs.
type Options struct {
	// Config is the merged configuration (file, environment and flags already applied).
	Config *config.Config
	// Roles to run; none runs only the embedded server (AllInOne).
	Roles []string
	// AllInOne is `bsodwatch run`: an embedded NATS server when nats.urls is empty, and the
	// local defaults under data_dir (fleet folder, dump share, rules folder).
	AllInOne bool
	// Name names the process in metrics (role label), logs and the NATS connection.
	Name string
	// Out is where console targets print verdicts.
	Out io.Writer
	Log zerolog.Logger

	// DryRun (fetcher only) copies, queues and records nothing: no NATS, no share.
	DryRun bool
	// NoHistory (analyzer only) leaves verdicts without history marks.
	NoHistory bool
}

// UsageError marks a problem with what the user asked for (configuration, flags), as opposed
// to one met while running; commands exit 2 for it.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

func usage(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// Process is one assembled bsodwatch process.
type Process struct {
	o   Options
	cfg *config.Config
	log zerolog.Logger

	aopts analyzer.Options // checked by check

	srv *embedded.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	ops *ops.Server
	lis *ops.Listener

	roles     []task
	reloaders []reloader
	cleanups  []func()
	fetcher   *fetcher.Fetcher
	summary   [][2]string
	freeGauge prometheus.Gauge

	// shared by the roles of one process
	rules    *rules.Reloader
	silences *silence.Store
	notif    *notifier.Notifier
	web      *web.Server
	// bg runs beside the roles (watchers, writers) until the process stops.
	bg []func(context.Context)
}

type task struct {
	name string
	run  func(context.Context) error
}

// reloader is something SIGHUP reloads; reload returns why it refused, and logs nothing.
type reloader struct {
	name   string
	reload func() error
	log    func(error)
}

// Start assembles the process: NATS, streams, the ops server and every role in o.Roles.
// ctx bounds start-up (waiting for NATS and stream leaders) and the ops server's life. On
// error everything started is stopped again.
func Start(ctx context.Context, o Options) (*Process, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Name == "" {
		o.Name = strings.Join(o.Roles, "-")
	}
	p := &Process{o: o, cfg: o.Config, log: o.Log}
	if err := p.start(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Process) start(ctx context.Context) error {
	o := p.o
	if err := p.prepareDirs(); err != nil {
		return err
	}
	if err := p.check(); err != nil {
		return err
	}
	p.ops = ops.New(o.Name, o.Log)
	if !o.DryRun {
		if err := p.connect(ctx); err != nil {
			return err
		}
		p.ops.AddCheck("nats", ops.NATSCheck(p.nc))
		if err := p.ensureStreams(ctx); err != nil {
			return err
		}
	}
	for _, r := range AllRoles {
		if !slices.Contains(o.Roles, r) {
			continue
		}
		var t task
		var err error
		switch r {
		case RoleAnalyzer:
			t, err = p.analyzer(ctx)
		case RoleNotifier:
			t, err = p.notifier(ctx)
		case RoleFetcher:
			t, err = p.buildFetcher(ctx)
		case RolePruner:
			t, err = p.pruner(ctx)
		case RoleWeb:
			t, err = p.buildWeb(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
		p.roles = append(p.roles, t)
	}
	if addr := p.cfg.Metrics.Listen; addr != "" && !o.DryRun {
		l, err := p.ops.Start(ctx, p.cfg.Metrics)
		if err != nil {
			return UsageError{err}
		}
		p.lis = l
		p.note("metrics", l.URL()+"/metrics, /healthz")
		if p.web != nil {
			p.note("console", l.URL()+"/")
		}
	}
	p.linkResults()
	return nil
}

// check runs the checks of every section the roles use before anything starts, so that all
// mistakes are reported at once (keyed from the top of the file) and none after a wait for
// NATS. Flags may have changed the file's values, so they are checked again here.
func (p *Process) check() error {
	c := p.cfg
	var ps optcheck.Problems
	has := func(r string) bool { return slices.Contains(p.o.Roles, r) }
	if has(RoleAnalyzer) {
		o, err := AnalyzerOptions(c, p.o.AllInOne)
		ps.Add("analyzer", err)
		p.aopts = o
	}
	if has(RoleNotifier) {
		ps.Add("notifier", c.Notifier.Validate())
	}
	if has(RolePruner) {
		if c.Share.Dir == "" && c.Share.SMB == nil {
			ps.Addf("share", "no dump share: set share.dir or share.smb")
		}
		ps.Add("share", c.Share.Validate())
	}
	if has(RoleFetcher) {
		f := c.Fetcher
		if f.Inventory == "" && f.LDAP == nil && f.FleetDir == "" {
			ps.Addf("fetcher.inventory", "set exactly one of fetcher.inventory or fetcher.ldap (SMB hosts) or fetcher.fleet_dir (a local folder); flags --inventory or --fleet")
		}
		ps.Add("fetcher", f.Validate())
		if !p.o.DryRun {
			if c.Share.Dir == "" && c.Share.SMB == nil {
				ps.Addf("share", "no dump share: set share.dir or share.smb, or --share DIR")
			}
			ps.Add("share", c.Share.Validate())
		}
	}
	if !p.o.DryRun {
		if len(c.NATS.URLs) == 0 && !p.o.AllInOne {
			ps.Addf("nats.urls", "no NATS server: set nats.urls in the config, --nats URL or $BSODWATCH_NATS_URL")
		}
		ps.Add("nats", c.NATS.Resolve())
		if l := c.NATS.Embedded.Listen; l != "" && p.o.AllInOne && len(c.NATS.URLs) == 0 {
			if err := ops.CheckListen(l); err != nil {
				ps.Addf("nats.embedded.listen", "%s", err)
			}
		}
		ps.Add("metrics", c.Metrics.Validate())
		ps.Add("history", c.History.Validate())
	}
	if has(RoleWeb) && !p.o.DryRun {
		ps.Add("web", c.Web.Validate())
		ps.Add("metrics", webListen(c.Metrics))
	}
	if err := ps.Err(); err != nil {
		return UsageError{c.Place(err)}
	}
	return nil
}

// Summary lists what is where (data, fleet, share, nats, rules, engine, targets, metrics),
// for the start-up message.
func (p *Process) Summary() [][2]string { return p.summary }

func (p *Process) note(k, v string) { p.summary = append(p.summary, [2]string{k, v}) }

// Fetcher is the fetcher role, for a single sweep (`fetch --once`, `--dry-run`); nil when
// the process runs none.
func (p *Process) Fetcher() *fetcher.Fetcher { return p.fetcher }

// JetStream is the process's JetStream context (nil in a dry run).
func (p *Process) JetStream() jetstream.JetStream { return p.js }

// Run runs the roles until ctx ends or one of them fails, which stops the others too (a
// supervisor then restarts the whole process, not half of it). SIGHUP reloads the rules
// (and whatever else can be reloaded) and the process keeps running.
func (p *Process) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopHUP := p.watchHangup(ctx)
	defer stopHUP()
	var wg sync.WaitGroup
	for _, fn := range p.bg {
		wg.Go(func() { fn(ctx) })
	}
	for _, t := range p.roles {
		wg.Go(func() {
			err := t.run(ctx)
			if ctx.Err() == nil {
				if err == nil {
					err = errors.New("stopped unexpectedly")
				}
				cancel(fmt.Errorf("%s: %w", t.name, err))
			}
		})
	}
	if len(p.roles) == 0 {
		<-ctx.Done()
	}
	wg.Wait()
	p.log.Info().Msg("all roles stopped")
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// Reload reloads every part that can be (the analyzer's rules), logging what it refused.
// It returns the refusals joined, nil when all reloaded.
func (p *Process) Reload() error {
	var errs []error
	for _, r := range p.reloaders {
		if err := r.reload(); err != nil {
			r.log(err)
			errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
		}
	}
	return errors.Join(errs...)
}

// watchHangup reloads on SIGHUP until ctx ends. Windows has no SIGHUP; the rule folder's
// polling covers it there.
func (p *Process) watchHangup(ctx context.Context) (stop func()) {
	hup := make(chan os.Signal, 1)
	notifyHangup(hup)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				p.log.Info().Msg("SIGHUP: reloading")
				_ = p.Reload() // each refusal is logged by its part
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		<-done
	}
}

// Close stops the ops server, drains the NATS connection (pending acks and publishes go
// out), stops the embedded server and releases what the roles opened. Call it after Run.
func (p *Process) Close() {
	if p.lis != nil {
		// Start's ctx ends the listener; wait for its graceful shutdown.
		if err := p.lis.Wait(); err != nil {
			p.log.Warn().Err(err).Msg("metrics server")
		}
		p.lis = nil
	}
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	p.cleanups = nil
	if p.nc != nil {
		drain(p.nc)
		p.nc = nil
	}
	if p.srv != nil {
		p.srv.Shutdown()
		p.srv = nil
	}
}

// drain flushes a connection's pending publishes and acks, then closes it.
func drain(nc *nats.Conn) {
	done := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		nc.Close()
	}
}

// prepareDirs creates the data directory and, in the all-in-one mode, the local fleet (with
// a README and an example host) and the local dump share.
func (p *Process) prepareDirs() error {
	c := p.cfg
	if !p.o.AllInOne {
		return nil
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	p.note("data", c.DataDir)
	has := func(r string) bool { return slices.Contains(p.o.Roles, r) }
	if has(RoleFetcher) && c.Fetcher.Inventory == "" && c.Fetcher.LDAP == nil {
		fleet := c.FleetDir()
		if err := makeFleet(fleet); err != nil {
			return err
		}
		c.Fetcher.FleetDir = fleet
		sep := string(filepath.Separator)
		p.note("fleet", fleet+"  (drop a dump in "+filepath.Join(fleet, "HOSTNAME", "Minidump")+sep+" or HOSTNAME"+sep+"MEMORY.DMP)")
	}
	if (has(RoleFetcher) || has(RoleAnalyzer) || has(RolePruner)) && c.Share.SMB == nil {
		c.Share.Dir = c.ShareDir()
		if err := os.MkdirAll(c.Share.Dir, 0o755); err != nil {
			return fmt.Errorf("dump share: %w", err)
		}
		p.note("share", c.Share.Dir)
	}
	return nil
}

const fleetReadme = `This is bsodwatch's local fleet: every folder here is one host, laid out like its ADMIN$
share (C:\Windows). Drop a crash dump in and watch bsodwatch run pick it up:

    HOSTNAME/MEMORY.DMP             a kernel memory dump
    HOSTNAME/Minidump/NAME.dmp      a minidump

    HOSTNAME/System32/winevt/Logs/System.evtx
                                    its System event log: blue screens that left no
                                    dump, unexpected reboots, and what a dump's crash was

Host folder names may use letters, digits, '.', '-' and '_'. A dump is copied once its size
and time stop changing, so large files may be copied in place. Files are only read here:
bsodwatch copies them to its dump share and never changes or deletes them.
`

func makeFleet(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "example-pc", "Minidump"), 0o755); err != nil {
		return fmt.Errorf("fleet directory: %w", err)
	}
	readme := filepath.Join(dir, "README.txt")
	if _, err := os.Stat(readme); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(readme, []byte(fleetReadme), 0o644); err != nil {
			return fmt.Errorf("fleet directory: %w", err)
		}
	}
	return nil
}

// connect joins nats.urls, or in the all-in-one mode starts the embedded server.
func (p *Process) connect(ctx context.Context) error {
	c := p.cfg
	if len(c.NATS.URLs) > 0 {
		o := c.NATS.NATSOptions
		if o.Name == "" {
			o.Name = "bsodwatch-" + p.o.Name
		}
		nc, err := pipeline.Connect(ctx, o, p.log)
		if err != nil {
			return err
		}
		p.nc = nc
		p.note("nats", strings.Join(c.NATS.URLs, ", "))
	} else {
		if !p.o.AllInOne {
			return usage("no NATS server: set nats.urls in the config, --nats URL or $BSODWATCH_NATS_URL")
		}
		srv, where, err := startEmbedded(c)
		if err != nil {
			return err
		}
		p.srv = srv
		p.note("nats", where)
		if p.nc, err = srv.Connect("bsodwatch-" + p.o.Name); err != nil {
			return err
		}
	}
	js, err := jetstream.New(p.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	p.js = js
	return nil
}

// ensureStreams creates the streams with the configured replicas and retention; a cluster
// that is still electing its leader refuses for a moment, so it retries until ctx ends.
func (p *Process) ensureStreams(ctx context.Context) error {
	so := StreamOptions(p.cfg)
	for wait := 500 * time.Millisecond; ; wait = min(wait*2, 10*time.Second) {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := pipeline.EnsureStreams(actx, p.js, so)
		cancel()
		if err == nil {
			return nil
		}
		p.log.Warn().Err(err).Msg("JetStream streams not ready; retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("streams: %w", err)
		case <-time.After(wait):
		}
	}
}

// StreamOptions are the stream settings a configuration asks for: nats.replicas and
// history.retention.
func StreamOptions(c *config.Config) pipeline.StreamOptions {
	so := c.History.StreamOptions()
	so.Replicas = c.NATS.Replicas
	return so
}
