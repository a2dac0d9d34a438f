package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/bsodwatch/bsodwatch/config"
)

// configEnv is the environment variable that names the config file when --config is not given.
const configEnv = "BSODWATCH_CONFIG"

// loadConfig reads the file named by --config (flagValue) or $BSODWATCH_CONFIG, or returns
// the built-in defaults when neither is set. Every role command calls it.
func loadConfig(e *env, flagValue string) (*config.Config, error) {
	path := flagValue
	if path == "" {
		path = e.Getenv(configEnv)
	}
	if path == "" {
		return config.Default(e.Getenv), nil
	}
	return config.Load(path, e.Getenv)
}

// printConfigErrors prints one line per problem.
func printConfigErrors(e *env, err error) {
	var es config.Errors
	if errors.As(err, &es) {
		for _, x := range es {
			fmt.Fprintln(e.Stderr, x.Error())
		}
		return
	}
	fmt.Fprintln(e.Stderr, "bsodwatch:", err)
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
	c, err := loadConfig(e, *file)
	if err != nil {
		printConfigErrors(e, err)
		return exitUsage
	}
	if c.Path == "" {
		fmt.Fprintln(e.Stdout, "OK (no file: built-in defaults)")
		return exitOK
	}
	fmt.Fprintln(e.Stdout, "OK")
	return exitOK
}
