package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/dirsource"
	"github.com/bsodwatch/bsodwatch/fetcher/ldapinv"
	"github.com/bsodwatch/bsodwatch/fetcher/smbsource"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/notifier"
	"github.com/bsodwatch/bsodwatch/ops"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/pipeline/embedded"
	"github.com/bsodwatch/bsodwatch/rules"
)

// Role names for --roles.
const (
	roleFetcher  = "fetcher"
	roleAnalyzer = "analyzer"
	roleNotifier = "notifier"
)

var allRoles = []string{roleFetcher, roleAnalyzer, roleNotifier}

// In the all-in-one mode a person drops a dump into the fleet folder and watches it flow, so
// the local fleet is swept far more often than the fetcher's default for real hosts.
const (
	fleetInterval    = 5 * time.Second
	fleetStableAfter = 2 * time.Second
)

const runSynopsis = `run [--config FILE] [--data DIR] [--roles LIST] [--metrics ADDR] [--nats.listen ADDR]

Runs the whole pipeline in one process: an embedded NATS server with JetStream under
DATA/nats, the fetcher, the analyzer and the notifier. Without a config file it watches the
local fleet folder DATA/fleet (one subfolder per host, laid out like ADMIN$: MEMORY.DMP,
Minidump/), copies new dumps to DATA/share, analyzes them (cdb when found, else the native
engine) with the shipped rules (or DATA/rules when present) and prints verdicts here.

With nats.urls in the config it joins that NATS server or cluster instead of embedding one;
--roles runs only some roles ("none": only the embedded server). SIGINT/SIGTERM stop it
cleanly: copies in flight are finished or discarded, unfinished jobs go back to the queue.`

// optString is a string flag that remembers whether it was given (so "" can mean "off").
type optString struct {
	v   string
	set bool
}

func (o *optString) String() string     { return o.v }
func (o *optString) Set(s string) error { o.v, o.set = s, true; return nil }

func cmdRun(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "run", runSynopsis)
	file := fs.String("config", "", "configuration file (default $"+configEnv+", else built-in defaults)")
	data := fs.String("data", "", "data directory (default: data_dir of the config, else "+config.DefaultDataDir(func(string) string { return "" })+"-like platform default)")
	rolesFlag := fs.String("roles", strings.Join(allRoles, ","), "roles to run here, comma-separated; none runs only the embedded NATS server")
	var metricsAddr, natsListen optString
	fs.Var(&metricsAddr, "metrics", "address of /metrics and /healthz, \"\" for none (default metrics.listen, "+ops.DefaultListen+")")
	fs.Var(&natsListen, "nats.listen", "also serve the embedded NATS on this TCP address (default nats.embedded.listen)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "bsodwatch run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	roles, err := parseRoles(*rolesFlag)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch run:", err)
		return exitUsage
	}
	cfg, err := loadConfig(e, *file)
	if err != nil {
		printConfigErrors(e, err)
		return exitUsage
	}
	if *data != "" {
		abs, err := filepath.Abs(*data)
		if err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch run:", err)
			return exitUsage
		}
		cfg.DataDir = abs
	}
	if metricsAddr.set {
		cfg.Metrics.Listen = metricsAddr.v
	}
	if natsListen.set {
		cfg.NATS.Embedded.Listen = natsListen.v
	}
	if len(roles) == 0 && len(cfg.NATS.URLs) > 0 {
		fmt.Fprintln(e.Stderr, "bsodwatch run: --roles none with nats.urls leaves nothing to run")
		return exitUsage
	}
	r := &runner{e: e, cfg: cfg, roles: roles, log: e.Log}
	return exitFor(ctx, e, "run", r.run(ctx))
}

func parseRoles(s string) ([]string, error) {
	if s == "none" || s == "" {
		return nil, nil
	}
	var roles []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if !slices.Contains(allRoles, r) {
			return nil, fmt.Errorf("unknown role %q in --roles (want %s or none)", r, strings.Join(allRoles, ","))
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return roles, nil
}

// runner assembles and runs the roles of one process.
type runner struct {
	e     *env
	cfg   *config.Config
	roles []string
	log   zerolog.Logger

	srv *embedded.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	ops *ops.Server

	summary [][2]string // what is where, printed at start
}

func (r *runner) has(role string) bool { return slices.Contains(r.roles, role) }

func (r *runner) note(k, v string) { r.summary = append(r.summary, [2]string{k, v}) }

// run starts everything, waits for ctx to end (or a role to fail) and stops it all.
func (r *runner) run(ctx context.Context) error {
	if err := r.prepareDirs(); err != nil {
		return err
	}
	if err := r.connect(ctx); err != nil {
		return err
	}
	defer r.close()
	r.ops = ops.New("run", r.log)
	r.ops.AddCheck("nats", ops.NATSCheck(r.nc))
	if err := r.ensureStreams(ctx); err != nil {
		return err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var tasks []task
	for _, build := range []struct {
		role string
		fn   func(context.Context) (task, error)
	}{{roleAnalyzer, r.analyzer}, {roleNotifier, r.notifier}, {roleFetcher, r.fetcher}} {
		if !r.has(build.role) {
			continue
		}
		t, err := build.fn(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", build.role, err)
		}
		tasks = append(tasks, t)
	}
	wait, err := r.serveOps(ctx, r.cfg.Metrics.Listen)
	if err != nil {
		return err
	}
	defer wait()
	r.printSummary()

	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Go(func() {
			err := t.run(ctx)
			if ctx.Err() == nil {
				// A role that returns on its own has failed (or ended): stop the others too, so
				// a supervisor restarts the whole process rather than half of it.
				if err == nil {
					err = errors.New("stopped unexpectedly")
				}
				cancel(fmt.Errorf("%s: %w", t.name, err))
			}
		})
	}
	if len(tasks) == 0 {
		<-ctx.Done()
	}
	wg.Wait()
	r.log.Info().Msg("all roles stopped")
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// serveOps starts /metrics and /healthz on addr ("" for none); wait blocks until the server
// has stopped after ctx ended. A bad address is a usage error.
func (r *runner) serveOps(ctx context.Context, addr string) (wait func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	l, err := r.ops.Start(ctx, addr)
	if err != nil {
		return nil, usageError{err}
	}
	r.note("metrics", "http://"+l.Addr().String()+"/metrics, /healthz")
	return func() {
		if err := l.Wait(); err != nil {
			r.log.Warn().Err(err).Msg("metrics server")
		}
	}, nil
}

type task struct {
	name string
	run  func(context.Context) error
}

// prepareDirs creates the data directory and, for the all-in-one defaults, the local fleet
// (with a README and an example host) and the local dump share.
func (r *runner) prepareDirs() error {
	c := r.cfg
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	r.note("data", c.DataDir)
	if r.has(roleFetcher) && c.Fetcher.Inventory == "" && c.Fetcher.LDAP == nil {
		fleet := c.FleetDir()
		if err := makeFleet(fleet); err != nil {
			return err
		}
		c.Fetcher.FleetDir = fleet
		r.note("fleet", fleet+"  (drop a dump in "+filepath.Join(fleet, "HOSTNAME", "Minidump")+string(filepath.Separator)+" or HOSTNAME"+string(filepath.Separator)+"MEMORY.DMP)")
	}
	if (r.has(roleFetcher) || r.has(roleAnalyzer)) && c.Share.SMB == nil {
		c.Share.Dir = c.ShareDir()
		if err := os.MkdirAll(c.Share.Dir, 0o755); err != nil {
			return fmt.Errorf("dump share: %w", err)
		}
		r.note("share", c.Share.Dir)
	}
	return nil
}

const fleetReadme = `This is bsodwatch's local fleet: every folder here is one host, laid out like its ADMIN$
share (C:\Windows). Drop a crash dump in and watch bsodwatch run pick it up:

    HOSTNAME/MEMORY.DMP             a kernel memory dump
    HOSTNAME/Minidump/NAME.dmp      a minidump

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

// connect starts the embedded server (unless nats.urls names one) and connects to it.
func (r *runner) connect(ctx context.Context) error {
	c := r.cfg
	if len(c.NATS.URLs) > 0 {
		o := c.NATS.NATSOptions
		if o.Name == "" {
			o.Name = "bsodwatch-" + strings.Join(r.roles, "-")
		}
		nc, err := pipeline.Connect(ctx, o, r.log)
		if err != nil {
			return err
		}
		r.nc = nc
		r.note("nats", strings.Join(c.NATS.URLs, ", "))
	} else {
		if err := c.NATS.Resolve(); err != nil {
			return err
		}
		pw, token := c.NATS.Secrets()
		store := c.StoreDir()
		srv, err := embedded.Start(embedded.Options{
			StoreDir: store, Listen: c.NATS.Embedded.Listen, ServerName: "bsodwatch",
			User: c.NATS.User, Password: pw, Token: token,
		})
		if err != nil {
			return err
		}
		r.srv = srv
		where := "in-process only"
		if u := srv.ClientURL(); u != "" {
			where = "listening on " + u
		}
		r.note("nats", "embedded, "+where+", store "+store)
		if len(r.roles) == 0 {
			return r.connectEmbedded()
		}
		if err := r.connectEmbedded(); err != nil {
			srv.Shutdown()
			return err
		}
	}
	js, err := jetstream.New(r.nc)
	if err != nil {
		r.close()
		return fmt.Errorf("jetstream: %w", err)
	}
	r.js = js
	return nil
}

func (r *runner) connectEmbedded() error {
	nc, err := r.srv.Connect("bsodwatch-run")
	if err != nil {
		return err
	}
	r.nc = nc
	return nil
}

// close drains the connection (pending publishes and acks go out) and stops the server.
func (r *runner) close() {
	if r.nc != nil {
		done := make(chan struct{})
		r.nc.SetClosedHandler(func(*nats.Conn) { close(done) })
		if err := r.nc.Drain(); err != nil {
			r.nc.Close()
		} else {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				r.nc.Close()
			}
		}
		r.nc = nil
	}
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv = nil
	}
}

// ensureStreams creates the streams; a cluster that is still electing its leader refuses for
// a moment, so it retries until ctx ends.
func (r *runner) ensureStreams(ctx context.Context) error {
	if r.js == nil {
		return nil
	}
	so := r.cfg.History.StreamOptions()
	so.Replicas = r.cfg.NATS.Replicas
	for wait := 500 * time.Millisecond; ; wait = min(wait*2, 10*time.Second) {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := pipeline.EnsureStreams(actx, r.js, so)
		cancel()
		if err == nil {
			return nil
		}
		r.log.Warn().Err(err).Msg("JetStream streams not ready; retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("streams: %w", err)
		case <-time.After(wait):
		}
	}
}

func (r *runner) analyzer(ctx context.Context) (task, error) {
	c := r.cfg
	reg := r.ops.Registry()
	o := c.Analyzer
	if o.ShareDir == "" {
		o.ShareDir = c.ShareDir()
	}
	rulesDir := o.RulesDir
	if rulesDir == "" {
		if d := filepath.Join(c.DataDir, "rules"); isDir(d) {
			rulesDir = d
		}
	}
	rl, err := rules.NewReloader(rulesDir, r.log, reg)
	if err != nil {
		return task{}, fmt.Errorf("rules: %w", err)
	}
	r.ops.AddCheck("rules", func(context.Context) error {
		if rl.Current() == nil {
			return errors.New("no rules loaded")
		}
		return nil
	})
	marker, err := history.NewMarker(ctx, r.js, c.History, reg)
	if err != nil {
		return task{}, err
	}
	w, err := analyzer.New(o, analyzer.Deps{
		JS: r.js, Log: r.log, Registerer: reg, Marker: marker,
		Rules: func() analyzer.RuleSet { return rl.Current() },
	})
	if err != nil {
		return task{}, err
	}
	if rulesDir == "" {
		r.note("rules", "shipped library (put your own in "+filepath.Join(c.DataDir, "rules")+")")
	} else {
		r.note("rules", rulesDir)
	}
	r.note("engine", w.Engine())
	return task{roleAnalyzer, func(ctx context.Context) error {
		if rulesDir != "" {
			go rl.Watch(ctx, o.WithDefaults().RulesReload)
		}
		return w.Run(ctx)
	}}, nil
}

func (r *runner) notifier(context.Context) (task, error) {
	n, err := notifier.New(r.cfg.Notifier, r.e.Stdout, r.log, r.ops.Registry())
	if err != nil {
		return task{}, err
	}
	names := make([]string, len(r.cfg.Notifier.Targets))
	for i, t := range r.cfg.Notifier.Targets {
		names[i] = t.Name + " (" + t.Type + ")"
	}
	r.note("notify", strings.Join(names, ", "))
	return task{roleNotifier, func(ctx context.Context) error {
		return n.Run(ctx, r.js, r.cfg.NATS.Replicas)
	}}, nil
}

func (r *runner) fetcher(ctx context.Context) (task, error) {
	c := r.cfg
	o := c.Fetcher
	d := fetcher.Deps{Log: r.log, Registerer: r.ops.Registry()}
	if o.Inventory != "" || o.LDAP != nil {
		src, err := smbsource.New(o, smbsource.WithLogger(r.log))
		if err != nil {
			return task{}, err
		}
		inv, err := ldapinv.ForFetcher(o, src.Kerberos, r.log)
		if err != nil {
			src.Close()
			return task{}, err
		}
		d.Inventory, d.Source = inv, src
		r.note("hosts", strings.TrimPrefix(o.Inventory+ldapNote(o), " + ")+" (SMB)")
	} else {
		src, err := dirsource.New(o.FleetDir)
		if err != nil {
			return task{}, err
		}
		d.Inventory, d.Source = src, src
		if o.Interval == 0 {
			o.Interval = fleetInterval
		}
		if o.StableAfter == 0 {
			o.StableAfter = fleetStableAfter
		}
	}
	share, release, err := dumpshare.Open(ctx, c.Share)
	if err != nil {
		return task{}, err
	}
	state, err := fetcher.NewKVState(ctx, r.js)
	if err != nil {
		release()
		return task{}, err
	}
	d.Share, d.State, d.Publisher = share, state, fetcher.NewJetStreamPublisher(r.js)
	f, err := fetcher.New(o, d)
	if err != nil {
		release()
		return task{}, err
	}
	return task{roleFetcher, func(ctx context.Context) error {
		defer release()
		err := f.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}}, nil
}

func (r *runner) printSummary() {
	w := r.e.Stdout
	fmt.Fprintf(w, "bsodwatch run: %s\n", rolesText(r.roles))
	for _, kv := range r.summary {
		fmt.Fprintf(w, "  %-8s %s\n", kv[0], kv[1])
	}
	fmt.Fprintln(w, "Stop with Ctrl-C.")
	if f, ok := w.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
}

func rolesText(roles []string) string {
	if len(roles) == 0 {
		return "embedded NATS server only"
	}
	if len(roles) == len(allRoles) {
		return "all-in-one (fetcher, analyzer, notifier)"
	}
	return strings.Join(roles, ", ")
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// ldapNote names the directory a fetcher reads, for the start-up notes.
func ldapNote(o fetcher.Options) string {
	if o.LDAP == nil {
		return ""
	}
	return " + " + strings.Join(o.LDAP.URLs, ", ")
}
