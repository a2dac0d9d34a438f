package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/fetcher"
	"github.com/bsodwatch/bsodwatch/fetcher/dirsource"
	"github.com/bsodwatch/bsodwatch/fetcher/smbsource"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// fetchConfig is the standalone fetcher's configuration file (the full bsodwatch config
// embeds the same sections).
type fetchConfig struct {
	NATSURL string            `yaml:"nats_url"`
	Share   dumpshare.Options `yaml:"share"`
	Fetcher fetcher.Options   `yaml:"fetcher"`
}

func loadFetchConfig(path string) (fetchConfig, error) {
	var c fetchConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func cmdFetch(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "fetch", "fetch [--config FILE | --inventory FILE | --fleet DIR] [--share DIR] [--nats URL] [--once] [--dry-run] [--interval D] [--json]")
	config := fs.String("config", "", "YAML file with nats_url, share and fetcher sections")
	inventory := fs.String("inventory", "", "hosts file (YAML or one host per line), polled over SMB")
	fleet := fs.String("fleet", "", "local fleet directory: each subfolder is a host laid out like ADMIN$")
	share := fs.String("share", "", "dump share directory (local or mounted)")
	natsURL := fs.String("nats", "", "NATS server URL (default $NATS_URL)")
	user := fs.String("user", "", `SMB user for hosts without credentials: DOMAIN\user`)
	passEnv := fs.String("password-env", "", "environment variable holding the SMB password")
	passFile := fs.String("password-file", "", "file holding the SMB password")
	once := fs.Bool("once", false, "sweep once and exit; the exit status says whether anything failed")
	dryRun := fs.Bool("dry-run", false, "say what would be copied; copy, queue and record nothing")
	interval := fs.Duration("interval", 0, "time between sweeps (default 5m)")
	stableAfter := fs.Duration("stable-after", 0, "a dump must keep its size and mtime this long before it is copied (default 5s)")
	jsonOut := fs.Bool("json", false, "print the sweep report as JSON (with --once or --dry-run)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "bsodwatch fetch: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	var cfg fetchConfig
	if *config != "" {
		var err error
		if cfg, err = loadFetchConfig(*config); err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch fetch:", err)
			return exitUsage
		}
	}
	o := &cfg.Fetcher
	if *inventory != "" {
		o.Inventory = *inventory
	}
	if *fleet != "" {
		o.FleetDir = *fleet
	}
	if *share != "" {
		cfg.Share = dumpshare.Options{Dir: *share}
	}
	if *natsURL != "" {
		cfg.NATSURL = *natsURL
	}
	if cfg.NATSURL == "" {
		cfg.NATSURL = e.Getenv("NATS_URL")
	}
	if *interval > 0 {
		o.Interval = *interval
	}
	if *stableAfter > 0 {
		o.StableAfter = *stableAfter
	}
	if *user != "" {
		if o.Credentials == nil {
			o.Credentials = map[string]fetcher.Credential{}
		}
		o.Credentials["default"] = fetcher.Credential{User: *user, PasswordEnv: *passEnv, PasswordFile: *passFile}
	}
	usage := func(msg string) int {
		fmt.Fprintln(e.Stderr, "bsodwatch fetch:", msg)
		return exitUsage
	}
	switch {
	case (o.Inventory == "") == (o.FleetDir == ""):
		return usage("give exactly one of --inventory (SMB hosts) or --fleet (local directory)")
	case !*dryRun && cfg.Share.Dir == "" && cfg.Share.SMB == nil:
		return usage("--share DIR (or share: in --config) is required")
	case !*dryRun && cfg.NATSURL == "":
		return usage("--nats URL (or nats_url, or $NATS_URL) is required")
	}

	var d fetcher.Deps
	d.Log, d.DryRun = e.Log.With().Str("role", "fetcher").Logger(), *dryRun
	if o.FleetDir != "" {
		src, err := dirsource.New(o.FleetDir)
		if err != nil {
			return usage(err.Error())
		}
		d.Inventory, d.Source = src, src
	} else {
		inv, err := fetcher.NewFileInventory(o.Inventory)
		if err != nil {
			return usage(err.Error())
		}
		src, err := smbsource.New(*o)
		if err != nil {
			return usage(err.Error())
		}
		d.Inventory, d.Source = inv, src
	}
	if cfg.NATSURL != "" {
		nc, err := nats.Connect(cfg.NATSURL, nats.Name("bsodwatch fetch"), nats.MaxReconnects(-1))
		if err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch fetch: nats:", err)
			return exitError
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch fetch: jetstream:", err)
			return exitError
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = pipeline.EnsureStreams(sctx, js, pipeline.StreamOptions{})
		if err == nil {
			d.State, err = fetcher.NewKVState(sctx, js)
		}
		cancel()
		if err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch fetch:", err)
			return exitError
		}
		d.Publisher = fetcher.NewJetStreamPublisher(js)
	}
	if !*dryRun {
		sh, closeShare, err := dumpshare.Open(ctx, cfg.Share)
		if err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch fetch:", err)
			return exitError
		}
		defer closeShare()
		d.Share = sh
	}
	f, err := fetcher.New(*o, d)
	if err != nil {
		return usage(err.Error())
	}
	if !*once && !*dryRun {
		f.Run(ctx)
		return exitOK
	}
	rep, err := f.Sweep(ctx)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch fetch:", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitError
	}
	printFetchReport(e, rep, *jsonOut)
	if !rep.OK() {
		return exitError
	}
	return exitOK
}

func printFetchReport(e *env, rep *fetcher.Report, asJSON bool) {
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
	for _, er := range rep.Errors {
		where := er.Host
		if er.Path != "" {
			where += " " + er.Path
		}
		fmt.Fprintf(e.Stderr, "failed %s: %s: %s\n", where, er.Reason, er.Error)
	}
	fmt.Fprintf(e.Stdout, "%d hosts (%d failed), %d new, %d queued, %d unchanged, %d still changing, %d failed, %d dump bytes read\n",
		rep.Hosts, rep.HostsFailed, rep.New, len(rep.Copied), rep.Unchanged, rep.Unstable, rep.Failed, rep.BytesRead)
}
