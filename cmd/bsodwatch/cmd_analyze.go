package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer"
	"github.com/bsodwatch/bsodwatch/analyzer/winsvc"
	"github.com/bsodwatch/bsodwatch/app"
	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/ops"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/verdict"
)

const analyzeSynopsis = `analyze [--config FILE] [flags]          run an analyzer worker on the job queue
       bsodwatch analyze file [--json] [flags] DUMP    analyze one dump on disk, print the verdict
       bsodwatch analyze service install [flags] | uninstall | start | stop   (Windows)
       bsodwatch analyze service run [flags]           the installed service's command line

The worker reads the same configuration file as run (sections nats, analyzer, history,
metrics); the flags override it for quick use.
` + precedenceHelp + `
Environment: BSODWATCH_CONFIG, BSODWATCH_NATS_URL, BSODWATCH_SHARE, BSODWATCH_RULES.`

// cmdAnalyze runs an analyzer worker, analyzes one dump, or manages the Windows service.
func cmdAnalyze(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "file":
			return analyzeFile(ctx, e, args[1:])
		case "service":
			return analyzeService(ctx, e, args[1:])
		}
	}
	fs := newFlagSet(e, "analyze", analyzeSynopsis)
	wf := addWorkerFlags(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "bsodwatch analyze: unexpected argument %q (see --help)\n", fs.Arg(0))
		return exitUsage
	}
	if winsvc.IsService() {
		return runAsService(e, fs, wf)
	}
	return runWorker(ctx, e, fs, wf)
}

// workerFlags are the worker's options as flags; a flag given on the command line
// overrides the environment and the configuration file.
type workerFlags struct {
	config    string
	o         analyzer.Options
	extraSyms string
	backoff   string
	natsURL   string
	natsCreds string
	metrics   string
	history   bool
	service   string
}

func addWorkerFlags(fs *flag.FlagSet) *workerFlags {
	w := &workerFlags{}
	fs.StringVar(&w.config, "config", "", "configuration file (default $"+configEnv+", else built-in defaults)")
	fs.StringVar(&w.natsURL, "nats", "", "NATS server URLs, comma-separated (nats.urls; env "+natsURLEnv+")")
	fs.StringVar(&w.natsCreds, "nats.creds", "", "NATS credentials file (nats.creds_file)")
	fs.StringVar(&w.o.ShareDir, "share", "", `dump share root that jobs name files on: \\server\dumps or a folder (analyzer.share_dir; env BSODWATCH_SHARE)`)
	fs.StringVar(&w.o.RulesDir, "rules", "", "known-issue rules folder (analyzer.rules_dir; env BSODWATCH_RULES; default: the library shipped in the binary); reloaded on SIGHUP and when its files change")
	fs.StringVar(&w.o.Name, "name", "", "worker name in verdicts (default: host name)")
	fs.IntVar(&w.o.Slots, "slots", analyzer.DefaultSlots, "dumps analyzed at once")
	fs.StringVar(&w.o.Engine, "engine", analyzer.EngineAuto, "auto (cdb when found, else native), cdb or native")
	fs.StringVar(&w.o.CDBPath, "cdb", "", "cdb.exe (default: PATH, Windows Kits, Debugging Tools for Windows, WinDbg)")
	fs.StringVar(&w.o.SymbolPath, "symbol-path", "", "cdb symbol path (default srv*C:\\symbols*https://msdl.microsoft.com/download/symbols)")
	fs.StringVar(&w.extraSyms, "extra-symbols", "", "private symbol paths searched first, separated by ';'")
	fs.DurationVar(&w.o.Timeout, "timeout", 0, "limit per debugger run; the process tree is killed after it (default 15m)")
	fs.Int64Var(&w.o.OutputCap, "output-cap", 0, "debugger output kept per run, bytes (default 32 MiB)")
	fs.DurationVar(&w.o.AckWait, "ack-wait", 0, "job lease without a heartbeat before another worker gets it (default 2m)")
	fs.IntVar(&w.o.MaxDeliver, "max-deliver", 0, "attempts before a job ends as a failed verdict (default 5)")
	fs.StringVar(&w.backoff, "backoff", "", "delays before retries, comma-separated (default 30s,2m,10m)")
	fs.StringVar(&w.metrics, "metrics", "", "serve /metrics and /healthz on this address, \"\" for none (metrics.listen, default "+ops.DefaultListen+")")
	fs.BoolVar(&w.history, "history", true, "mark verdicts from crash history (new bucket, regression, crash loop)")
	fs.StringVar(&w.service, "service.name", winsvc.DefaultName, "Windows service name (service commands, and when run by the SCM)")
	return w
}

// merge loads the configuration file and lays the environment and the flags given over it.
// The result's Analyzer has its defaults applied and is checked.
func (w *workerFlags) merge(e *env, fs *flag.FlagSet) (*config.Config, error) {
	cfg, err := loadConfig(e, w.config)
	if err != nil {
		return nil, err
	}
	set := flagsSet(fs)
	o := &cfg.Analyzer
	if o.ShareDir == "" && cfg.Share.Dir != "" {
		o.ShareDir = cfg.Share.Dir // where the fetchers copy to, as run does
	}
	for _, ev := range []struct {
		name string
		dst  *string
	}{{"BSODWATCH_SHARE", &o.ShareDir}, {"BSODWATCH_RULES", &o.RulesDir}} {
		if v := e.Getenv(ev.name); v != "" {
			*ev.dst = v
		}
	}
	overrideNATS(e, cfg, w.natsURL, set["nats"])
	if set["nats.creds"] {
		cfg.NATS.CredsFile = w.natsCreds
	}
	if set["metrics"] {
		cfg.Metrics.Listen = w.metrics
	}
	f := w.o
	for name, apply := range map[string]func(){
		"share": func() { o.ShareDir = f.ShareDir }, "rules": func() { o.RulesDir = f.RulesDir },
		"name": func() { o.Name = f.Name }, "slots": func() { o.Slots = f.Slots },
		"engine": func() { o.Engine = f.Engine }, "cdb": func() { o.CDBPath = f.CDBPath },
		"symbol-path": func() { o.SymbolPath = f.SymbolPath }, "timeout": func() { o.Timeout = f.Timeout },
		"output-cap": func() { o.OutputCap = f.OutputCap }, "ack-wait": func() { o.AckWait = f.AckWait },
		"max-deliver": func() { o.MaxDeliver = f.MaxDeliver },
	} {
		if set[name] {
			apply()
		}
	}
	if set["extra-symbols"] {
		o.ExtraSymbolPaths = nil
		for _, p := range strings.Split(w.extraSyms, ";") {
			if p = strings.TrimSpace(p); p != "" {
				o.ExtraSymbolPaths = append(o.ExtraSymbolPaths, p)
			}
		}
	}
	if set["backoff"] {
		o.Backoff = nil
		for _, s := range strings.Split(w.backoff, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				return nil, app.UsageError{Err: fmt.Errorf("--backoff: %w", err)}
			}
			o.Backoff = append(o.Backoff, d)
		}
	}
	*o = o.WithDefaults()
	return cfg, nil
}

func runWorker(ctx context.Context, e *env, fs *flag.FlagSet, wf *workerFlags) int {
	cfg, err := wf.merge(e, fs)
	if err != nil {
		return exitFor(ctx, e, "analyze", err)
	}
	o := app.Options{Config: cfg, Roles: []string{app.RoleAnalyzer}, Name: app.RoleAnalyzer, NoHistory: !wf.history}
	return exitFor(ctx, e, "analyze", runProcess(ctx, e, o, false))
}

// analyzeFile analyzes one dump on disk with the worker's engine and prints its verdict,
// without the queue: for trying an install, checking cdb, or a one-off.
func analyzeFile(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "analyze file", "analyze file [--json] [--rules DIR] [--engine E] [--cdb PATH] [flags] DUMP  (flags before DUMP)")
	wf := addWorkerFlags(fs)
	asJSON := fs.Bool("json", false, "print the verdict as JSON")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	paths := fs.Args()
	if len(paths) != 1 {
		fmt.Fprintln(e.Stderr, "bsodwatch analyze file: want exactly one DUMP")
		return exitUsage
	}
	abs, err := filepath.Abs(paths[0])
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch analyze file:", err)
		return exitUsage
	}
	f, err := os.Open(abs)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch analyze file:", err)
		return exitUsage
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	var hdr *pipeline.Header
	if err == nil {
		hdr = intake.Header(f, size)
	}
	f.Close()
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch analyze file:", err)
		return exitError
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := fs.Set("share", filepath.Dir(abs)); err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch analyze file:", err)
		return exitUsage
	}
	cfg, err := wf.merge(e, fs)
	if err != nil {
		return exitFor(ctx, e, "analyze file", err)
	}
	o, err := app.AnalyzerOptions(cfg, false)
	if err != nil {
		return exitFor(ctx, e, "analyze file", err)
	}
	set, err := rules.Load(o.RulesDir)
	if err != nil {
		return exitFor(ctx, e, "analyze file", app.UsageError{Err: err})
	}
	w, err := analyzer.New(o, analyzer.Deps{Log: e.Log, Rules: func() analyzer.RuleSet { return set }})
	if err != nil {
		return exitFor(ctx, e, "analyze file", app.UsageError{Err: err})
	}
	fi, _ := os.Stat(abs)
	var mtime time.Time
	if fi != nil {
		mtime = fi.ModTime()
	}
	job := intake.NewJob(intake.Dump{Host: "local", SourcePath: abs, SharePath: filepath.Base(abs), Size: size, SHA256: sum,
		ModTime: mtime, Header: hdr, Submitter: "cli"}, time.Now())
	res, err := w.Analyze(ctx, job)
	if err != nil {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		res = w.FailedResult(job, err, 1)
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch analyze file:", err)
			return exitError
		}
	} else {
		printVerdict(e.Stdout, res)
	}
	if res.Status != pipeline.StatusOK {
		if !*asJSON {
			fmt.Fprintln(e.Stderr, "bsodwatch analyze file:", res.Error)
		}
		return exitError
	}
	return exitOK
}

// printVerdict writes a verdict for people.
func printVerdict(w io.Writer, r *pipeline.Result) {
	v := verdict.Ensure(r)
	fmt.Fprintf(w, "%s  %s\n", r.Job.SourcePath, r.Status)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-12s %s\n", k+":", v)
		}
	}
	line("verdict", v.Headline)
	if v.Kind != analysis.KindFailed && !strings.Contains(v.Headline, v.Reason) {
		line("meaning", v.Reason)
	}
	engine := r.Engine
	if r.Confidence != "" { // a failed verdict has none
		engine += " (confidence " + r.Confidence
		if r.Degraded {
			engine += ", degraded: " + strings.Join(r.DegradedReasons, "; ")
		}
		engine += ")"
	}
	line("engine", engine)
	if c := v.Culprit; c != nil {
		who := c.Module
		if c.Description != "" {
			who += " — " + c.Description
		} else if c.Vendor != "" {
			who += " (" + c.Vendor + ")"
		}
		for _, x := range []string{c.Version, c.Built} {
			if x != "" {
				who += ", " + x
			}
		}
		if c.Suspect {
			line("suspect", who)
		} else {
			line("culprit", who)
		}
		line("why", c.Why)
		line("symbol", c.Symbol)
	}
	line("process", v.Process)
	if !v.CrashTime.IsZero() {
		label := "crashed"
		if v.Kind == analysis.KindLive || v.Kind == analysis.KindNoCrash {
			label = "taken"
		}
		line(label, v.CrashTime.Format("2006-01-02 15:04:05 UTC"))
	}
	if o := v.OS; o != nil && (o.Product != "" || o.Build > 0) {
		line("windows", strings.TrimSpace(fmt.Sprintf("%s (build %d, %s)", o.Product, o.Build, o.Arch)))
	}
	line("uptime", v.Uptime)
	line("bucket", r.Bucket())
	if a := r.Analysis; a != nil && a.FailureBucketID != "" {
		line("cdb bucket", a.FailureBucketID)
	}
	line("error", r.Error)
	// Known issues first; security flags (a driver merely loaded) are said apart, so that
	// "no known issue" never reads as contradicting them.
	issues, flags := analysis.Explaining(r.Matches)
	for _, m := range issues {
		fmt.Fprintf(w, "  match:       %s [%s] %s\n", m.ID, m.Severity, m.Title)
		for _, why := range m.Why {
			fmt.Fprintf(w, "               - %s\n", why)
		}
	}
	if len(issues) == 0 && r.Status == pipeline.StatusOK {
		fmt.Fprintln(w, "  match:       none (no known issue)")
	}
	for _, m := range flags {
		fmt.Fprintf(w, "  flag:        %s [%s] %s\n", m.ID, m.Severity, m.Title)
		for _, why := range m.Why {
			fmt.Fprintf(w, "               - %s\n", why)
		}
	}
}

// analyzeService manages the Windows service.
func analyzeService(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprintln(e.Stderr, "usage: bsodwatch analyze service install [worker flags] | uninstall | start | stop | run  [--service.name NAME]")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	verb, rest := args[0], args[1:]
	fs := newFlagSet(e, "analyze service "+verb, "analyze service "+verb+" [flags]")
	wf := addWorkerFlags(fs)
	if code, done := parseFlags(fs, rest); done {
		return code
	}
	var err error
	switch verb {
	case "install":
		cfg, merr := wf.merge(e, fs)
		if merr == nil {
			_, merr = app.AnalyzerOptions(cfg, false)
		}
		if merr != nil {
			return exitFor(ctx, e, "analyze service install", merr)
		}
		var exe string
		var notes []string
		if exe, err = os.Executable(); err == nil {
			notes, err = winsvc.Install(winsvc.NewPlan(wf.service, exe, serviceArgs(rest)))
		}
		for _, n := range notes {
			fmt.Fprintf(e.Stderr, "bsodwatch analyze service install: warning: %s\n", n)
		}
	case "run":
		// The service's own command line (see serviceArgs): only the SCM starts this.
		return runAsService(e, fs, wf)
	case "uninstall":
		err = winsvc.Uninstall(wf.service)
	case "start":
		err = winsvc.Start(wf.service)
	case "stop":
		err = winsvc.Stop(ctx, wf.service)
	default:
		fmt.Fprintf(e.Stderr, "bsodwatch analyze service: unknown action %q: want install, uninstall, start, stop or run\n", verb)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(e.Stderr, "bsodwatch analyze service %s: %v\n", verb, err)
		if errors.Is(err, winsvc.ErrWindowsOnly) {
			return exitUsage
		}
		return exitError
	}
	fmt.Fprintf(e.Stdout, "service %s: %s done\n", wf.service, verb)
	return exitOK
}

// serviceArgs is the command line the installed service runs with: `analyze service run` and
// the worker flags given to install (--service.name among them, so the service knows its name).
// The explicit verb does not rely on svc.IsWindowsService, which guesses from the parent
// process and session and is wrong under Wine.
func serviceArgs(installFlags []string) []string {
	return append([]string{"analyze", "service", "run"}, installFlags...)
}

// runAsService runs the worker under the service control manager, with warnings and errors
// also sent to the Event Log. Stopping the service cancels the worker: cdb is killed and the
// job goes back to the queue.
func runAsService(e *env, fs *flag.FlagSet, wf *workerFlags) int {
	if ew, closeLog, err := winsvc.EventLog(wf.service); err == nil {
		defer closeLog()
		e.Log = e.Log.Output(zerolog.MultiLevelWriter(e.Stderr, ew))
	}
	code := exitOK
	err := winsvc.Run(wf.service, func(ctx context.Context) error {
		if code = runWorker(ctx, e, fs, wf); code != exitOK && code != exitInterrupted {
			return fmt.Errorf("analyzer exited with code %d", code)
		}
		return nil
	})
	if errors.Is(err, winsvc.ErrWindowsOnly) {
		fmt.Fprintln(e.Stderr, "bsodwatch analyze service run:", err)
		return exitUsage
	}
	if err != nil {
		e.Log.Error().Err(err).Msg("service")
		return exitError
	}
	return code
}
