package main

import (
	"context"
	"fmt"

	"github.com/bsodwatch/bsodwatch/app"
	"github.com/bsodwatch/bsodwatch/ops"
)

const webSynopsis = `web [--config FILE] [--nats URL] [--metrics ADDR] [--web.config.file FILE]

Serves the web console and HTTP API (every verdict, host, bucket and rule; /api/v1/...) on
the metrics address, beside /metrics and /healthz, for the verdicts of a NATS server or
cluster (nats.urls), the same as run --roles web. Without --web.config.file it serves on a
loopback address only and is read-only; with it (TLS, bcrypt basic-auth users in the
Prometheus exporter-toolkit format) nothing is served without authentication, and signed-in
users may download dumps (a local or mounted share.dir), acknowledge or silence buckets and
re-analyze verdicts, each written to the audit log (web.audit_file). See docs/web.md.
` + precedenceHelp + `
Environment: BSODWATCH_CONFIG, BSODWATCH_NATS_URL.`

// cmdWeb runs the web role alone.
func cmdWeb(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "web", webSynopsis)
	cfgPath := fs.String("config", "", "configuration file (default $"+configEnv+", else built-in defaults)")
	natsURL := fs.String("nats", "", "NATS server URLs, comma-separated (nats.urls; env "+natsURLEnv+")")
	var metricsAddr, webConfig optString
	fs.Var(&metricsAddr, "metrics", "address of the console, /metrics and /healthz (metrics.listen, default "+ops.DefaultListen+")")
	fs.Var(&webConfig, "web.config.file", "Prometheus exporter-toolkit web configuration: TLS, basic_auth_users (metrics.web_config_file)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(e.Stderr, "bsodwatch web: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return exitFor(ctx, e, "web", err)
	}
	overrideNATS(e, cfg, *natsURL, flagsSet(fs)["nats"])
	if metricsAddr.set {
		cfg.Metrics.Listen = metricsAddr.v
	}
	if webConfig.set {
		cfg.Metrics.WebConfigFile = absPath(webConfig.v)
	}
	o := app.Options{Config: cfg, Roles: []string{app.RoleWeb}, Name: app.RoleWeb}
	return exitFor(ctx, e, "web", runProcess(ctx, e, o, true))
}
