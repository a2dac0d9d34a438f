package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/ops"
)

// The single-role commands (fetch, analyze, notify) read the same configuration file as
// `run` and take flags as overrides for quick use. Precedence, highest first: flags given on
// the command line, environment variables (BSODWATCH_NATS_URL, and the command's own), the
// file (--config or $BSODWATCH_CONFIG), the defaults of docs/config.md.
const precedenceHelp = `Settings come from, highest first: flags, environment variables, the configuration file
(--config FILE or $BSODWATCH_CONFIG; see docs/config.md), built-in defaults.`

// natsURLEnv overrides nats.urls for the single-role commands.
const natsURLEnv = "BSODWATCH_NATS_URL"

// usageError marks a configuration problem (exit 2) among runtime ones.
type usageError struct{ error }

// flagsSet returns the names of the flags given on the command line.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// overrideNATS applies --nats (when given) or $BSODWATCH_NATS_URL over nats.urls.
func overrideNATS(e *env, cfg *config.Config, flagValue string, given bool) {
	switch {
	case given:
		cfg.NATS.URLs = splitList(flagValue)
	case e.Getenv(natsURLEnv) != "":
		cfg.NATS.URLs = splitList(e.Getenv(natsURLEnv))
	}
}

// roleProc is what a single-role process holds: its connection, JetStream with the streams
// created, and its ops server (/metrics, /healthz) with the NATS health check.
type roleProc struct {
	r   *runner // reuses run's connection, stream, ops and shutdown code
	ops *ops.Server
}

// startRole connects to cfg's NATS servers (waiting for them as `run --roles` does),
// creates the streams with nats.replicas and prepares the ops server. Call close when done.
func startRole(ctx context.Context, e *env, cfg *config.Config, role string, log zerolog.Logger) (*roleProc, error) {
	if len(cfg.NATS.URLs) == 0 {
		return nil, usageError{errors.New("no NATS server: set nats.urls in the config, --nats URL or $" + natsURLEnv)}
	}
	if cfg.NATS.Name == "" {
		cfg.NATS.Name = "bsodwatch-" + role
	}
	r := &runner{e: e, cfg: cfg, roles: []string{role}, log: log, ops: ops.New(role, log)}
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	r.ops.AddCheck("nats", ops.NATSCheck(r.nc))
	if err := r.ensureStreams(ctx); err != nil {
		r.close()
		return nil, err
	}
	return &roleProc{r: r, ops: r.ops}, nil
}

func (p *roleProc) js() jetstream.JetStream { return p.r.js }

// serveOps starts /metrics and /healthz on addr ("" for none); wait blocks until the server
// has stopped after ctx ended.
func (p *roleProc) serveOps(ctx context.Context, addr string) (wait func(), err error) {
	return p.r.serveOps(ctx, addr)
}

// close drains the connection: pending acks and publishes go out.
func (p *roleProc) close() { p.r.close() }

// exitFor prints err for command name and returns the exit code: 2 for usage and config
// problems, 130 when interrupted, else 1.
func exitFor(ctx context.Context, e *env, name string, err error) int {
	if err == nil {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitOK
	}
	var ue usageError
	isUsage := errors.As(err, &ue)
	if ctx.Err() != nil && !isUsage {
		return exitInterrupted
	}
	fmt.Fprintf(e.Stderr, "bsodwatch %s: %s\n", name, strings.TrimSpace(err.Error()))
	if isUsage {
		return exitUsage
	}
	return exitError
}
