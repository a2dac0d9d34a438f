package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
)

// configEnv is the environment variable that names the config file when --config is not given.
const configEnv = "BSODWATCH_CONFIG"

// loadConfig reads the file named by --config (flagValue) or $BSODWATCH_CONFIG, or returns
// the built-in defaults when neither is set. Every command that takes --config calls it. It
// decodes the file strictly (unknown keys, wrong types) but leaves the sections' checks to
// the roles, which run them after the flags are laid over the file (app.Start); `config
// check` runs them at once (checkConfig).
func loadConfig(e *env, flagValue string) (*config.Config, error) {
	path := configPath(e, flagValue)
	if path == "" {
		return config.Default(e.Getenv), nil
	}
	return config.Read(path, e.Getenv)
}

func configPath(e *env, flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return e.Getenv(configEnv)
}

// printProblems prints err for people, one line per problem: a configuration's file:line
// messages as they are, a role's keyed problems after prefix, anything else as one line.
func printProblems(e *env, prefix string, err error) {
	var es config.Errors
	if errors.As(err, &es) {
		for _, x := range es {
			fmt.Fprintln(e.Stderr, x.Error())
		}
		return
	}
	var ps optcheck.Problems
	if errors.As(err, &ps) {
		// the context the problems were wrapped in, once, before the first
		lead := strings.TrimSuffix(strings.TrimSuffix(err.Error(), ps.Error()), ": ")
		for _, p := range ps {
			line := prefix + ": "
			if lead != "" {
				line += lead + ": "
			}
			fmt.Fprintln(e.Stderr, line+p.Error())
		}
		return
	}
	fmt.Fprintf(e.Stderr, "%s: %s\n", prefix, strings.TrimSpace(err.Error()))
}

func cmdConfig(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "config", "config check [--config FILE]\n\nChecks a configuration file: strict keys, types, secrets and files it names.\nPrints OK, or one file:line: message per problem and exits 2.")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] != "check" {
		fs.Usage()
		return exitUsage
	}
	cfs := newFlagSet(e, "config check", "config check [--config FILE]")
	file := cfs.String("config", "", "configuration file (default $"+configEnv+", else the built-in defaults)")
	if code, done := parseFlags(cfs, rest[1:]); done {
		return code
	}
	if cfs.NArg() == 1 && *file == "" {
		*file = cfs.Arg(0) // `config check FILE` works too
	} else if cfs.NArg() > 0 {
		cfs.Usage()
		return exitUsage
	}
	path := configPath(e, *file)
	if path == "" {
		fmt.Fprintln(e.Stdout, "OK (no file: built-in defaults)")
		return exitOK
	}
	if _, err := config.Load(path, e.Getenv); err != nil {
		printProblems(e, "bsodwatch config check", err)
		return exitUsage
	}
	fmt.Fprintln(e.Stdout, "OK")
	return exitOK
}
