// Package analyzer is the analyzer worker: it takes dump jobs from the JetStream work queue,
// checks the dump on the share, runs the debugger (or the native engine when there is no cdb),
// matches the rules and publishes one verdict per dump. A job that keeps failing ends as a
// failed verdict that says why; none is dropped silently, and none is acked before its verdict
// is safely stored.
package analyzer

import (
	"context"
	"errors"
	"time"

	"github.com/bsodwatch/bsodwatch/analyzer/cdb"
	"github.com/bsodwatch/bsodwatch/internal/bytesize"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
)

// Engines.
const (
	EngineAuto   = "auto"
	EngineCDB    = "cdb"
	EngineNative = "native"
)

// Options configure a worker. Zero values take the documented defaults (WithDefaults).
type Options struct {
	// Name identifies this worker in verdicts and logs. Default: the host name.
	Name string `yaml:"name"`
	// Slots is how many dumps one worker analyzes at once. Default 2 (cdb is memory-hungry).
	Slots int `yaml:"slots"`
	// Engine is auto (cdb when found, else native), cdb (fail when cdb is missing) or native.
	// Default auto.
	Engine string `yaml:"engine"`
	// AckWait is how long a job may go without a heartbeat before JetStream hands it to another
	// worker. Heartbeats (InProgress) are sent every AckWait/3 while a dump is analyzed.
	// Default 2m.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxDeliver is how many times a job is tried before it ends as a failed verdict.
	// Default 5.
	MaxDeliver int `yaml:"max_deliver"`
	// Backoff are the delays before the 1st, 2nd, ... retry of a job that failed; the last one
	// repeats. Default 30s, 2m, 10m.
	Backoff []time.Duration `yaml:"backoff"`
	// CDBPath is cdb.exe. Default: found on PATH, in the Windows Kits / Debugging Tools for
	// Windows folders, or in a WinDbg Store install.
	CDBPath string `yaml:"cdb_path"`
	// SymbolPath is cdb's -y. Default srv*C:\symbols*https://msdl.microsoft.com/download/symbols.
	SymbolPath string `yaml:"symbol_path"`
	// ExtraSymbolPaths (private symbol stores) are searched before SymbolPath. Default none.
	ExtraSymbolPaths []string `yaml:"extra_symbol_paths"`
	// Commands is cdb's -c. Default "!analyze -v; lmv; q".
	Commands string `yaml:"commands"`
	// Timeout bounds one debugger run; the whole process tree is killed when it expires.
	// Default 15m.
	Timeout time.Duration `yaml:"timeout"`
	// OutputCap bounds the debugger output kept per run, in bytes; a run printing more is
	// killed. Default 33554432 (32 MiB).
	OutputCap int64 `yaml:"output_cap"`
	// ShareDir is the dump share root that jobs' share paths are relative to: a UNC path
	// (\\server\dumps) or a local folder. Required.
	ShareDir string `yaml:"share_dir"`
	// RulesDir holds the known-issue rules. Default empty: the library shipped in the binary.
	RulesDir string `yaml:"rules_dir"`
	// RulesReload is how often the rules folder is checked for edits. Default 30s.
	RulesReload time.Duration `yaml:"rules_reload"`
	// TempDir is where a dump stored compressed (NAME.zst) is restored for analysis (cdb
	// needs a plain file); the file is removed when the job is done. Default: the system's
	// temporary directory.
	TempDir string `yaml:"temp_dir"`
	// TempMinFree is the free space a restore must leave in temp_dir; a job that would leave
	// less is retried later (the debugger never sees half a dump). Default 1GiB.
	TempMinFree bytesize.Size `yaml:"temp_min_free"`
}

// Defaults.
const (
	DefaultSlots       = 2
	DefaultAckWait     = 2 * time.Minute
	DefaultMaxDeliver  = 5
	DefaultRulesReload = 30 * time.Second
	DefaultTempMinFree = bytesize.GiB
)

// DefaultBackoff is the retry schedule used when Options.Backoff is empty.
var DefaultBackoff = []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute}

// WithDefaults returns o with zero fields set to their defaults.
func (o Options) WithDefaults() Options {
	if o.Slots <= 0 {
		o.Slots = DefaultSlots
	}
	if o.Engine == "" {
		o.Engine = EngineAuto
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = DefaultMaxDeliver
	}
	if len(o.Backoff) == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.SymbolPath == "" {
		o.SymbolPath = cdb.DefaultSymbolPath
	}
	if o.Commands == "" {
		o.Commands = cdb.DefaultCommands
	}
	if o.Timeout <= 0 {
		o.Timeout = cdb.DefaultTimeout
	}
	if o.OutputCap <= 0 {
		o.OutputCap = cdb.DefaultOutputCap
	}
	if o.RulesReload <= 0 {
		o.RulesReload = DefaultRulesReload
	}
	if o.TempMinFree <= 0 {
		o.TempMinFree = DefaultTempMinFree
	}
	return o
}

// Validate checks options that have been through WithDefaults and reports every problem
// at once (optcheck.Problems keyed like the YAML): a bad engine, a missing share, a rules
// folder that is missing or does not load (each rule mistake at its own file:line:column),
// a cdb_path that is not there.
func (o Options) Validate() error {
	ps := o.problems()
	ps.File("cdb_path", o.CDBPath)
	if o.RulesDir != "" {
		before := len(ps)
		ps.Dir("rules_dir", o.RulesDir)
		if len(ps) == before {
			if _, err := rules.Load(o.RulesDir); err != nil {
				ps.Add("rules_dir", rulesProblems(err))
			}
		}
	}
	return ps.Err()
}

// problems are the mistakes that need no file read; New checks them (the rules are loaded
// by their reloader anyway).
func (o Options) problems() optcheck.Problems {
	var ps optcheck.Problems
	switch o.Engine {
	case EngineAuto, EngineCDB, EngineNative:
	default:
		ps.Addf("engine", "%q: want auto, cdb or native", o.Engine)
	}
	if o.ShareDir == "" {
		ps.Addf("share_dir", "required: the dump share that jobs name files on")
	}
	if o.AckWait < time.Second {
		ps.Addf("ack_wait", "%s is too short (at least 1s)", o.AckWait)
	}
	for i, d := range o.Backoff {
		if d < 0 {
			ps.Addf(optcheck.Index("backoff", i), "%s: must not be negative", d)
		}
	}
	if o.TempMinFree < 0 {
		ps.Addf("temp_min_free", "%s: must not be negative", o.TempMinFree)
	}
	if o.Slots > 256 {
		ps.Addf("slots", "%d: at most 256", o.Slots)
	}
	return ps
}

// rulesProblems places each rule-file mistake at its own file:line:column.
func rulesProblems(err error) error {
	var es rules.Errors
	if !errors.As(err, &es) {
		return err
	}
	ps := make(optcheck.Problems, len(es))
	for i, e := range es {
		ps[i] = optcheck.Problem{File: e.File, Line: e.Line, Column: e.Column, Msg: e.Msg}
	}
	return ps
}

// RuleSet is what the worker needs of a rule set; *rules.Set has it.
type RuleSet interface {
	Match(rules.Input) []rules.Match
	Version() string
}

// Marker sets a verdict's history marks (history.Marker has it).
type Marker interface {
	Mark(ctx context.Context, r *pipeline.Result) error
}

// Debugger runs the debugger's analysis of one dump; *cdb.Runner has it.
type Debugger interface {
	Analyze(ctx context.Context, dump string) (*cdb.Output, error)
}
