package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bsodwatch/bsodwatch/app"
	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/ops"
)

const runSynopsis = `run [--config FILE] [--data DIR] [--roles LIST] [--metrics ADDR] [--web.config.file FILE] [--nats.listen ADDR]

Runs the whole pipeline in one process: an embedded NATS server with JetStream under
DATA/nats, the fetcher, the analyzer, the notifier, the pruner (share.retention) and the web
console. Without a config file it watches the local fleet folder DATA/fleet (one subfolder
per host, laid out like ADMIN$: MEMORY.DMP, Minidump/), copies new dumps to DATA/share,
analyzes them (cdb when found, else the native engine) with the shipped rules (or DATA/rules
when present), prints verdicts here and shows them in the web console at the printed address
(beside /metrics; on loopback only unless --web.config.file gives TLS and users; with
--metrics "" there is no console).

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
	rolesFlag := fs.String("roles", strings.Join(app.AllRoles, ","), "roles to run here, comma-separated; none runs only the embedded NATS server")
	var metricsAddr, natsListen, webConfig optString
	fs.Var(&metricsAddr, "metrics", "address of /metrics, /healthz and the web console, \"\" for none (default metrics.listen, "+ops.DefaultListen+")")
	fs.Var(&webConfig, "web.config.file", "Prometheus exporter-toolkit web configuration (TLS, basic_auth_users) for that address (default metrics.web_config_file)")
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
		return exitFor(ctx, e, "run", err)
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
	if webConfig.set {
		cfg.Metrics.WebConfigFile = absPath(webConfig.v)
	}
	if natsListen.set {
		cfg.NATS.Embedded.Listen = natsListen.v
	}
	if cfg.Metrics.Listen == "" && !flagsSet(fs)["roles"] {
		// The console lives on the metrics address: with none, run has no console.
		roles = slices.DeleteFunc(roles, func(r string) bool { return r == app.RoleWeb })
	}
	if len(roles) == 0 && len(cfg.NATS.URLs) > 0 {
		fmt.Fprintln(e.Stderr, "bsodwatch run: --roles none with nats.urls leaves nothing to run")
		return exitUsage
	}
	o := app.Options{Config: cfg, Roles: roles, AllInOne: true, Name: "run"}
	return exitFor(ctx, e, "run", runProcess(ctx, e, o, true))
}

func parseRoles(s string) ([]string, error) {
	if s == "none" || s == "" {
		return nil, nil
	}
	var roles []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if !slices.Contains(app.AllRoles, r) {
			return nil, fmt.Errorf("unknown role %q in --roles (want %s or none)", r, strings.Join(app.AllRoles, ","))
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return roles, nil
}

// absPath makes a path given on the command line absolute ("" stays "").
func absPath(p string) string {
	if p == "" {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
