package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bsodwatch/bsodwatch/app"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/ops"
)

const fetchSynopsis = `fetch [--config FILE] [--inventory FILE | --fleet DIR] [--share DIR] [--nats URL] [--once] [--dry-run] [--interval D] [--json] [--metrics ADDR]

Polls the hosts of fetcher.inventory and fetcher.ldap (Active Directory) over SMB (or a
local fleet directory), copies new dumps to the dump share and queues a job for each; reads
each host's System event log over the same session and queues the blue screens that left no
dump (fetcher.eventlog). Reads the same configuration file as run
(sections nats, share, fetcher, metrics); the flags override it for quick use.
` + precedenceHelp + `
Environment: BSODWATCH_CONFIG, BSODWATCH_NATS_URL (NATS_URL also works).`

func cmdFetch(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "fetch", fetchSynopsis)
	file := fs.String("config", "", "configuration file (default $"+configEnv+", else built-in defaults)")
	inventory := fs.String("inventory", "", "hosts file (YAML or one host per line), polled over SMB (fetcher.inventory)")
	fleet := fs.String("fleet", "", "local fleet directory: each subfolder is a host laid out like ADMIN$ (fetcher.fleet_dir)")
	share := fs.String("share", "", "dump share directory, local or mounted (share.dir)")
	natsURL := fs.String("nats", "", "NATS server URLs, comma-separated (nats.urls; env "+natsURLEnv+" or NATS_URL)")
	user := fs.String("user", "", `SMB user for hosts without credentials: DOMAIN\user (fetcher.credentials.default)`)
	passEnv := fs.String("password-env", "", "environment variable holding the SMB password")
	passFile := fs.String("password-file", "", "file holding the SMB password")
	once := fs.Bool("once", false, "sweep once and exit; the exit status says whether anything failed")
	dryRun := fs.Bool("dry-run", false, "say what would be copied; copy, queue and record nothing")
	interval := fs.Duration("interval", 0, "time between sweeps (fetcher.interval, default 5m)")
	stableAfter := fs.Duration("stable-after", 0, "a dump must keep its size and mtime this long before it is copied (fetcher.stable_after, default 5s)")
	jsonOut := fs.Bool("json", false, "print the sweep report as JSON (with --once or --dry-run)")
	var metricsAddr optString
	fs.Var(&metricsAddr, "metrics", "address of /metrics and /healthz while running, \"\" for none (metrics.listen, default "+ops.DefaultListen+")")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "bsodwatch fetch: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := loadConfig(e, *file)
	if err != nil {
		return exitFor(ctx, e, "fetch", err)
	}
	set := flagsSet(fs)
	o := &cfg.Fetcher
	// A flag naming the source replaces the file's source of the other kind.
	if set["inventory"] {
		o.Inventory, o.FleetDir = *inventory, ""
	}
	if set["fleet"] {
		o.FleetDir = *fleet
		if !set["inventory"] {
			o.Inventory = ""
		}
	}
	if set["share"] {
		cfg.Share.Options = dumpshare.Options{Dir: *share, MinFree: cfg.Share.MinFree, Compress: cfg.Share.Compress}
	}
	if !set["nats"] && e.Getenv(natsURLEnv) == "" && e.Getenv("NATS_URL") != "" {
		cfg.NATS.URLs = splitList(e.Getenv("NATS_URL"))
	}
	overrideNATS(e, cfg, *natsURL, set["nats"])
	if set["interval"] {
		o.Interval = *interval
	}
	if set["stable-after"] {
		o.StableAfter = *stableAfter
	}
	if metricsAddr.set {
		cfg.Metrics.Listen = metricsAddr.v
	}
	if *user != "" {
		if o.Credentials == nil {
			o.Credentials = map[string]fetcher.Credential{}
		}
		o.Credentials["default"] = fetcher.Credential{User: *user, PasswordEnv: *passEnv, PasswordFile: *passFile}
	}
	ao := app.Options{Config: cfg, Roles: []string{app.RoleFetcher}, Name: app.RoleFetcher, DryRun: *dryRun}
	if !*once && !*dryRun {
		return exitFor(ctx, e, "fetch", runProcess(ctx, e, ao, false))
	}
	cfg.Metrics.Listen = "" // one sweep: nothing to scrape
	ao.Out, ao.Log = e.Stdout, e.Log
	p, err := app.Start(ctx, ao)
	if err != nil {
		return exitFor(ctx, e, "fetch", err)
	}
	defer p.Close()
	rep, err := p.Fetcher().Sweep(ctx)
	if err != nil {
		return exitFor(ctx, e, "fetch", err)
	}
	printFetchReport(e, rep, *jsonOut, *dryRun)
	if !rep.OK() {
		return exitError
	}
	return exitOK
}

func printFetchReport(e *env, rep *fetcher.Report, asJSON, dryRun bool) {
	if asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		return
	}
	for _, p := range rep.Planned {
		fmt.Fprintf(e.Stdout, "would copy %s %s -> %s (%d bytes, modified %s)\n", p.Host, p.SourcePath, p.SharePath, p.Size, p.ModTime.Format(time.RFC3339))
	}
	for _, c := range rep.Copied {
		fmt.Fprintf(e.Stdout, "queued %s %s -> %s (%d bytes, sha256 %s)\n", c.Host, c.SourcePath, c.SharePath, c.Size, c.SHA256)
	}
	verb := "queued"
	if dryRun {
		verb = "would queue"
	}
	for _, c := range rep.Crashes {
		what := c.Kind
		if c.BugcheckCode != "" {
			what += " " + c.BugcheckCode
		}
		if c.Reason != "" {
			what += ": " + c.Reason
		}
		fmt.Fprintf(e.Stdout, "%s %s crash from the event log, record %d, %s (%s)\n", verb, c.Host, c.Record, c.Time.Format(time.RFC3339), what)
	}
	for _, er := range rep.Errors {
		where := er.Host
		if er.Path != "" {
			where += " " + er.Path
		}
		fmt.Fprintf(e.Stderr, "failed %s: %s: %s\n", where, er.Reason, er.Error)
	}
	fmt.Fprintf(e.Stdout, "%d hosts (%d failed), %d new, %d queued, %d unchanged, %d still changing, %d failed, %d dump bytes read\n",
		rep.Hosts, rep.HostsFailed, rep.New, len(rep.Copied), rep.Unchanged, rep.Unstable, rep.Failed, rep.BytesRead)
	if rep.EventLogs > 0 || rep.EventLogFailed > 0 {
		fmt.Fprintf(e.Stdout, "%d event logs read (%d failed, %d bytes), %d crashes without a dump %s\n",
			rep.EventLogs, rep.EventLogFailed, rep.EventLogBytes, len(rep.Crashes), map[bool]string{false: "queued", true: "to queue"}[dryRun])
	}
}
