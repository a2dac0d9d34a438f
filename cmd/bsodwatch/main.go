// Command bsodwatch finds Windows machines that blue-screened, copies their crash dumps,
// analyzes them with the Microsoft debugger or the native dump reader, matches known issues
// and posts verdicts to chat. One binary serves every role; see `bsodwatch help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
	"golang.org/x/term"
)

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitError       = 1   // runtime failure
	exitUsage       = 2   // bad flags, bad config, bad input file
	exitFindings    = 3   // lint findings or failing rule tests
	exitInterrupted = 130 // SIGINT/SIGTERM
)

// env is what every command gets from main: its streams, the process environment and the
// one logger. Tests build their own.
type env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Log    zerolog.Logger
}

// command is one subcommand. run returns the process exit code; it prints its own errors.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

// commands is the dispatch table; each command lives in its own cmd_*.go file.
func commands() []command {
	return []command{
		{"run", "run the whole pipeline in one process (embedded NATS)", cmdRun},
		{"fetch", "poll hosts over SMB, copy new dumps, queue jobs", cmdFetch},
		{"analyze", "analyzer worker: run cdb or the native engine on queued dumps", cmdAnalyze},
		{"notify", "post verdicts to Slack, Teams, Mattermost, webhooks", cmdNotify},
		{"web", "serve the web console and HTTP API for a cluster's verdicts", cmdWeb},
		{"parse", "parse saved debugger output (!analyze -v, lmvm, cdb logs)", cmdParse},
		{"triage", "read Windows dump files natively, without a debugger", cmdTriage},
		{"events", "read saved System event logs: blue screens, dumps not saved, unexpected reboots", cmdEvents},
		{"rules", "lint and test known-issue rules", cmdRules},
		{"submit", "queue dumps already on disk for analysis", cmdSubmit},
		{"results", "list and count stored verdicts", cmdResults},
		{"reanalyze", "re-apply the current rules to stored verdicts", cmdReanalyze},
		{"share", "the dump share: prune (apply retention now), usage (space by host, bucket, age)", cmdShare},
		{"config", "check a configuration file", cmdConfig},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := dispatch(ctx, e, os.Args[1:])
	// Read ctx.Err before stop: stop cancels ctx, which would turn every failure into 130.
	if code == exitError && ctx.Err() != nil {
		code = exitInterrupted
	}
	stop()
	os.Exit(code)
}

// dispatch parses the global flags, builds the logger and runs one subcommand.
func dispatch(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("bsodwatch", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	level := fs.String("log.level", envOr(e, "BSODWATCH_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	format := fs.String("log.format", envOr(e, "BSODWATCH_LOG_FORMAT", "auto"), "log format: auto (console on a terminal, else json), json, console")
	fs.Usage = func() { usage(e.Stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	log, err := newLogger(e.Stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch:", err)
		return exitUsage
	}
	e.Log = log
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" {
		if len(rest) > 1 {
			return dispatch(ctx, e, []string{rest[1], "--help"})
		}
		usage(e.Stdout, fs)
		if len(rest) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == rest[0] {
			return c.run(ctx, e, rest[1:])
		}
	}
	fmt.Fprintf(e.Stderr, "bsodwatch: unknown command %q (see bsodwatch help)\n", rest[0])
	return exitUsage
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: bsodwatch [--log.level L] [--log.format F] COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	cs := commands()
	for _, c := range cs {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nglobal flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nRun 'bsodwatch COMMAND --help' for a command's flags.")
}

func envOr(e *env, key, def string) string {
	if v := e.Getenv(key); v != "" {
		return v
	}
	return def
}

// newLogger builds the process's one logger: JSON to stderr, or the console writer on a
// terminal.
func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("bad --log.level %q: want debug, info, warn or error", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
		}
	default:
		return zerolog.Nop(), fmt.Errorf("bad --log.format %q: want auto, json or console", format)
	}
	// Milliseconds in the JSON timestamps: a pipeline stage takes a few of them, and log
	// lines one second apart tell an operator little about where a dump waited.
	zerolog.TimeFieldFormat = logTimeFormat
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// logTimeFormat is RFC 3339 with milliseconds, as Prometheus and Alertmanager log.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// newFlagSet makes a subcommand's flag set that prints its usage to stderr and a one-line
// description of the command.
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("bsodwatch "+name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "usage: bsodwatch %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs and returns (exit code, done): done is true when the caller
// should return the code at once (--help, or a flag error).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	return 0, false
}
