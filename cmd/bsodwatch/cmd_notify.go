package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/app"
	"github.com/bsodwatch/bsodwatch/notifier"
	"github.com/bsodwatch/bsodwatch/ops"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/secret"
)

const notifySynopsis = `notify [--config FILE] [--nats URL] [--metrics ADDR]
       bsodwatch notify --dry-run [--config FILE] RESULT.json

Posts verdicts to the targets of the configuration file's notifier section (the same file
run reads; sections nats, notifier, metrics). Without a file, --nats URL prints verdicts on
the console. --dry-run renders each target's payload for one result and sends nothing
(without a file: one sample target of every type).
` + precedenceHelp + `
Environment: BSODWATCH_CONFIG, BSODWATCH_NATS_URL.`

// cmdNotify runs the notifier, or with --dry-run renders one result for every target.
func cmdNotify(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "notify", notifySynopsis)
	cfgPath := fs.String("config", "", "configuration file (default $"+configEnv+", else built-in defaults)")
	dry := fs.Bool("dry-run", false, "render each target's payload for RESULT.json (a result, or the output of parse --json) to stdout and send nothing")
	natsURL := fs.String("nats", "", "NATS server URLs, comma-separated (nats.urls; env "+natsURLEnv+")")
	var metricsAddr optString
	fs.Var(&metricsAddr, "metrics", "address of /metrics and /healthz, \"\" for none (metrics.listen, default "+ops.DefaultListen+")")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return exitFor(ctx, e, "notify", err)
	}
	if *dry {
		if fs.NArg() != 1 {
			fmt.Fprintln(e.Stderr, "bsodwatch notify: --dry-run takes one RESULT.json")
			return exitUsage
		}
		opts := sampleTargets()
		if cfg.Path != "" {
			opts = cfg.Notifier
		}
		return notifyDryRun(e, opts, fs.Arg(0))
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(e.Stderr, "bsodwatch notify: unexpected arguments (a RESULT.json needs --dry-run)")
		return exitUsage
	}
	set := flagsSet(fs)
	overrideNATS(e, cfg, *natsURL, set["nats"])
	if cfg.Path == "" && len(cfg.NATS.URLs) == 0 {
		fmt.Fprintln(e.Stderr, "bsodwatch notify: --config FILE is required: it lists the targets (or give --nats URL to print verdicts here)")
		return exitUsage
	}
	if metricsAddr.set {
		cfg.Metrics.Listen = metricsAddr.v
	}
	o := app.Options{Config: cfg, Roles: []string{app.RoleNotifier}, Name: app.RoleNotifier}
	return exitFor(ctx, e, "notify", runProcess(ctx, e, o, false))
}

// dryRunURL stands in for webhook URLs in --dry-run, which sends nothing and so needs no
// secrets.
const dryRunURL = "https://dry-run.invalid/"

// sampleTargets render a result for every integration when no config is given.
func sampleTargets() notifier.Options {
	var o notifier.Options
	for _, t := range []string{notifier.TypeSlack, notifier.TypeTeams, notifier.TypeMattermost, notifier.TypeWebhook, notifier.TypeConsole} {
		o.Targets = append(o.Targets, notifier.TargetOptions{Name: t, Type: t})
	}
	return o
}

func notifyDryRun(e *env, opts notifier.Options, resultPath string) int {
	opts.Targets = slices.Clone(opts.Targets)
	for i := range opts.Targets {
		t := &opts.Targets[i]
		t.URL, t.URLFile, t.URLEnv = secret.Value{}, "", ""
		t.HMACKey, t.HMACKeyFile, t.HMACKeyEnv = secret.Value{}, "", ""
		if t.Type != notifier.TypeConsole {
			t.URL = secret.New(dryRunURL)
		}
	}
	r, err := readResult(resultPath)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
		return exitUsage
	}
	n, err := notifier.New(opts, io.Discard, e.Log, nil)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
		return exitUsage
	}
	code := exitOK
	for _, p := range n.DryRun(r) {
		state := "would post"
		if !p.Routed {
			state = "route does not match: would skip"
		}
		fmt.Fprintf(e.Stdout, "### target %s (%s): %s\n", p.Target, p.Type, state)
		if p.Err != nil {
			fmt.Fprintf(e.Stdout, "render error: %v\n\n", p.Err)
			code = exitError
			continue
		}
		e.Stdout.Write(bytes.TrimRight(p.Payload, "\n"))
		fmt.Fprint(e.Stdout, "\n\n")
	}
	return code
}

// readResult reads a result JSON, or the analysis that `bsodwatch parse --json` prints
// (posted as it would be without a job).
func readResult(path string) (*pipeline.Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
	}
	_, hasJob := keys["job"]
	_, hasAnalysis := keys["analysis"]
	if hasJob || hasAnalysis {
		var r pipeline.Result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: not a result: %w", path, err)
		}
		return &r, nil
	}
	// What parse --json prints: a kernel analysis has a bugcheck code, a user-mode one an
	// exception code, and every analysis says whether it is complete.
	if _, ok := firstKey(keys, "bugcheck_code", "exception_code", "complete"); ok {
		var a analysis.Analysis
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("%s: not an analysis: %w", path, err)
		}
		var r pipeline.Result
		r.Status, r.Analysis, r.Engine = pipeline.StatusOK, &a, "cdb"
		if m, ok := keys["matches"]; ok {
			if err := json.Unmarshal(m, &r.Matches); err != nil {
				return nil, fmt.Errorf("%s: matches: %w", path, err)
			}
		}
		return &r, nil
	}
	return nil, errors.New(path + ": neither a result (job, analysis) nor an analysis (bugcheck_code or exception_code)")
}

// firstKey reports the first of names that keys holds.
func firstKey(keys map[string]json.RawMessage, names ...string) (string, bool) {
	for _, n := range names {
		if _, ok := keys[n]; ok {
			return n, true
		}
	}
	return "", false
}
