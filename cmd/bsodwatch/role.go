package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/bsodwatch/bsodwatch/app"
	"github.com/bsodwatch/bsodwatch/config"
)

// The single-role commands (fetch, analyze, notify) and run read the same configuration file
// and take flags as overrides for quick use. Precedence, highest first: flags given on the
// command line, environment variables (BSODWATCH_NATS_URL, and the command's own), the file
// (--config or $BSODWATCH_CONFIG), the defaults of docs/config.md.
const precedenceHelp = `Settings come from, highest first: flags, environment variables, the configuration file
(--config FILE or $BSODWATCH_CONFIG; see docs/config.md), built-in defaults.`

// natsURLEnv overrides nats.urls for every command that talks to NATS.
const natsURLEnv = "BSODWATCH_NATS_URL"

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

// runProcess starts the roles o asks for, prints what is where (for run and the daemons),
// runs them until ctx ends and stops them.
func runProcess(ctx context.Context, e *env, o app.Options, printSummary bool) error {
	o.Out, o.Log = e.Stdout, e.Log
	p, err := app.Start(ctx, o)
	if err != nil {
		return err
	}
	defer p.Close()
	if printSummary {
		printStartSummary(e, o.Roles, p.Summary())
	}
	return p.Run(ctx)
}

func printStartSummary(e *env, roles []string, summary [][2]string) {
	w := e.Stdout
	fmt.Fprintf(w, "bsodwatch run: %s\n", rolesText(roles))
	for _, kv := range summary {
		fmt.Fprintf(w, "  %-8s %s\n", kv[0], kv[1])
	}
	fmt.Fprintln(w, "Stop with Ctrl-C.")
	if f, ok := w.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
}

func rolesText(roles []string) string {
	switch len(roles) {
	case 0:
		return "embedded NATS server only"
	case len(app.AllRoles):
		return "all-in-one (fetcher, analyzer, notifier, pruner, web console)"
	}
	return strings.Join(roles, ", ")
}

// exitFor prints err for command name and returns the exit code: 2 for usage and config
// problems (one line each), 130 when interrupted, else 1.
func exitFor(ctx context.Context, e *env, name string, err error) int {
	if err == nil {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitOK
	}
	var ue app.UsageError
	var ce config.Errors
	isUsage := errors.As(err, &ue) || errors.As(err, &ce)
	if ctx.Err() != nil && !isUsage {
		return exitInterrupted
	}
	printProblems(e, "bsodwatch "+name, err)
	if isUsage {
		return exitUsage
	}
	return exitError
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
