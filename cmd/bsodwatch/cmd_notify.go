package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/notifier"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/secret"
)

// notifyConfig is the part of the configuration file that `notify` reads: how to reach
// NATS and the notifier section. Other sections belong to other roles.
type notifyConfig struct {
	NATS pipeline.NATSOptions `yaml:"nats"`
}

// cmdNotify runs the notifier, or with --dry-run renders one result for every target.
func cmdNotify(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "notify", "notify [--config FILE] [--nats URL] [--metrics ADDR]\n       bsodwatch notify --dry-run [--config FILE] RESULT.json")
	cfgPath := fs.String("config", envOr(e, "BSODWATCH_CONFIG", ""), "configuration file (YAML) with a notifier: section (env BSODWATCH_CONFIG)")
	dry := fs.Bool("dry-run", false, "render each target's payload for RESULT.json (a result, or `parse --json` output) to stdout and send nothing")
	natsURL := fs.String("nats", envOr(e, "BSODWATCH_NATS_URL", ""), "NATS server URL, overrides nats.urls (env BSODWATCH_NATS_URL)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics on this address (e.g. :9104); default off")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	var raw []byte
	if *cfgPath != "" {
		var err error
		if raw, err = os.ReadFile(*cfgPath); err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
			return exitUsage
		}
	}
	if *dry {
		if fs.NArg() != 1 {
			fmt.Fprintln(e.Stderr, "bsodwatch notify: --dry-run takes one RESULT.json")
			return exitUsage
		}
		return notifyDryRun(e, raw, fs.Arg(0))
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(e.Stderr, "bsodwatch notify: unexpected arguments (a RESULT.json needs --dry-run)")
		return exitUsage
	}
	if raw == nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify: --config FILE is required: it lists the targets")
		return exitUsage
	}
	opts, err := notifier.ParseOptions(raw)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
		return exitUsage
	}
	var cfg notifyConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify: nats section:", err)
		return exitUsage
	}
	if *natsURL != "" {
		cfg.NATS.URLs = []string{*natsURL}
	}
	if len(cfg.NATS.URLs) == 0 {
		fmt.Fprintln(e.Stderr, "bsodwatch notify: no NATS server: set nats.urls, --nats or BSODWATCH_NATS_URL")
		return exitUsage
	}
	if cfg.NATS.Name == "" {
		cfg.NATS.Name = "bsodwatch-notify"
	}
	var reg prometheus.Registerer
	if *metricsAddr != "" {
		r := prometheus.NewRegistry()
		reg = r
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch notify: metrics:", err)
			return exitUsage
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(r, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	n, err := notifier.New(opts, e.Stdout, e.Log, reg)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
		return exitUsage
	}
	nc, err := pipeline.Connect(ctx, cfg.NATS, e.Log)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
		return exitError
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
		return exitError
	}
	if err := pipeline.EnsureStreams(ctx, js, cfg.NATS.StreamOptions()); err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
		return exitError
	}
	if err := n.Run(ctx, js, cfg.NATS.Replicas); err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
		return exitError
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return exitOK
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

func notifyDryRun(e *env, rawCfg []byte, resultPath string) int {
	opts := sampleTargets()
	if rawCfg != nil {
		var err error
		if opts, err = notifier.ParseOptions(rawCfg); err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch notify:", err)
			return exitUsage
		}
	}
	for i := range opts.Targets {
		t := &opts.Targets[i]
		t.URL, t.URLFile, t.URLEnv = notifier.Secret{}, "", ""
		t.HMACKey, t.HMACKeyFile, t.HMACKeyEnv = notifier.Secret{}, "", ""
		if t.Type != notifier.TypeConsole {
			t.URL.Value = secret.New(dryRunURL)
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
	if _, ok := keys["bugcheck_code"]; ok {
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
	return nil, errors.New(path + ": neither a result (job, analysis) nor an analysis (bugcheck_code)")
}
