package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/bsodwatch/bsodwatch/app"
	"github.com/bsodwatch/bsodwatch/config"
	"github.com/bsodwatch/bsodwatch/internal/bytesize"
	"github.com/bsodwatch/bsodwatch/internal/optcheck"
	"github.com/bsodwatch/bsodwatch/retention"
)

// cmdShare runs the dump share's subcommands: prune (retention now) and usage.
func cmdShare(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(e.Stderr, "usage: bsodwatch share prune [--dry-run] [--json] [--config FILE] [--nats URL] [--data DIR]")
		fmt.Fprintln(e.Stderr, "       bsodwatch share usage [--json] [--top N] [--config FILE] [--nats URL] [--data DIR]")
		fmt.Fprintln(e.Stderr, "\nprune applies share.retention now: each dump removed with its size, the rule that applied and why;")
		fmt.Fprintln(e.Stderr, "their verdicts are kept, marked dump pruned. usage shows the space dumps take by host, bucket and age.")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "prune":
		return sharePrune(ctx, e, args[1:])
	case "usage":
		return shareUsage(ctx, e, args[1:])
	}
	fmt.Fprintf(e.Stderr, "bsodwatch share: unknown subcommand %q (want prune or usage)\n", args[0])
	return exitUsage
}

// openPruner reads the configuration (the share section and NATS), connects and assembles
// retention. Without share.dir or share.smb the share is the data directory's, as `run` has it.
func openPruner(ctx context.Context, e *env, name string, load func() (*config.Config, error)) (*retention.Pruner, func(), int) {
	cfg, err := load()
	if err != nil {
		return nil, nil, exitFor(ctx, e, name, err)
	}
	if cfg.Share.Dir == "" && cfg.Share.SMB == nil {
		cfg.Share.Dir = cfg.ShareDir()
	}
	var ps optcheck.Problems
	ps.Add("share", cfg.Share.Validate())
	if err := ps.Err(); err != nil {
		return nil, nil, exitFor(ctx, e, name, app.UsageError{Err: cfg.Place(err)})
	}
	nc, err := app.Dial(ctx, cfg, "share", e.Log)
	if err != nil {
		return nil, nil, exitFor(ctx, e, name, err)
	}
	p, release, err := app.NewPruner(ctx, cfg, nc.JS, e.Log, nil)
	if err != nil {
		nc.Close()
		return nil, nil, exitFor(ctx, e, name, err)
	}
	return p, func() { release(); nc.Close() }, exitOK
}

func sharePrune(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "share prune", "share prune [--dry-run] [--json] [--config FILE] [--nats URL] [--data DIR]")
	conn := addNATSFlags(fs)
	dryRun := fs.Bool("dry-run", false, "print what would be removed and why; remove and mark nothing")
	asJSON := fs.Bool("json", false, "print one JSON object per dump removed (or that would be)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "bsodwatch share prune: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	p, closeAll, code := openPruner(ctx, e, "share prune", func() (*config.Config, error) { return natsConfig(e, fs, conn) })
	if code != exitOK {
		return code
	}
	defer closeAll()
	if !p.Options.Enabled() {
		fmt.Fprintln(e.Stderr, "share prune: share.retention sets no max_age, max_total or keep_per_bucket: only dumps whose verdict is already marked pruned are removed")
	}
	plan, err := p.Plan(ctx)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch share prune:", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitError
	}
	out := newPruneTable(e.Stdout, *asJSON)
	var c retention.Counts
	if *dryRun {
		for _, r := range plan.Remove {
			if err := out.add(retention.Outcome{Removal: r}); err != nil {
				return exitError
			}
			c.Removed++
			c.Bytes += r.Size
		}
	} else if c, err = p.Apply(ctx, plan, out.add); err != nil {
		out.flush()
		fmt.Fprintln(e.Stderr, "bsodwatch share prune:", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitError
	}
	out.flush()
	for _, w := range plan.Warnings {
		fmt.Fprintln(e.Stderr, "share prune: warning:", w)
	}
	verb := "removed"
	if *dryRun {
		verb = "would remove (dry run)"
	}
	fmt.Fprintf(e.Stderr, "share prune: %d dumps (%s) on the share; %s %d (%s), %d failed; %d kept because their analysis has not finished, %d not analyzed yet\n",
		plan.Dumps, bytesize.Size(plan.Bytes).Human(), verb, c.Removed, bytesize.Size(c.Bytes).Human(), c.Failed, plan.Pending, plan.Unanalyzed)
	if c.Failed > 0 {
		return exitError
	}
	return exitOK
}

// pruneTable prints outcomes as a table or as JSON lines.
type pruneTable struct {
	tw     *tabwriter.Writer
	enc    *json.Encoder
	header bool
}

func newPruneTable(w io.Writer, asJSON bool) *pruneTable {
	if asJSON {
		return &pruneTable{enc: json.NewEncoder(w)}
	}
	return &pruneTable{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
}

func (t *pruneTable) add(o retention.Outcome) error {
	if t.enc != nil {
		return t.enc.Encode(o)
	}
	if !t.header {
		fmt.Fprintln(t.tw, "DUMP\tSIZE\tSTORED\tRULE\tWHY")
		t.header = true
	}
	why := o.Why
	if o.Error != "" {
		why += " — NOT REMOVED: " + o.Error
	}
	_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\n", o.Rel, bytesize.Size(o.Size).Human(), o.Stored.UTC().Format("2006-01-02"), o.Rule, why)
	return err
}

func (t *pruneTable) flush() {
	if t.tw != nil {
		t.tw.Flush()
	}
}

func shareUsage(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "share usage", "share usage [--json] [--top N] [--config FILE] [--nats URL] [--data DIR]")
	conn := addNATSFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	top := fs.Int("top", 15, "hosts and buckets to list, largest first (0: all)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "bsodwatch share usage: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	p, closeAll, code := openPruner(ctx, e, "share usage", func() (*config.Config, error) { return natsConfig(e, fs, conn) })
	if code != exitOK {
		return code
	}
	defer closeAll()
	dumps, err := p.Gather(ctx)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch share usage:", err)
		return exitError
	}
	sp, err := p.Share.Space(ctx)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch share usage:", err)
		return exitError
	}
	u := retention.Summarize(dumps, sp, time.Now())
	if *asJSON {
		if err := json.NewEncoder(e.Stdout).Encode(u); err != nil {
			return exitError
		}
		return exitOK
	}
	w := e.Stdout
	fmt.Fprintf(w, "%d dumps, %s (%d compressed); volume %s free of %s\n", u.Total.Dumps, bytesize.Size(u.Total.Bytes).Human(), u.Compressed,
		bytesize.Size(sp.Free).Human(), bytesize.Size(sp.Total).Human())
	fmt.Fprintf(w, "%d with their analysis unfinished, %d without a verdict\n", u.Pending, u.NoVerdict)
	for _, sec := range []struct {
		title  string
		groups []retention.Group
		limit  int
	}{{"HOST", u.ByHost, *top}, {"BUCKET", u.ByBucket, *top}, {"AGE ON THE SHARE", u.ByAge, 0}} {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tDUMPS\tSIZE\tOLDEST\tNEWEST\n", sec.title)
		for i, g := range sec.groups {
			if sec.limit > 0 && i == sec.limit {
				fmt.Fprintf(tw, "(%d more)\t\t\t\t\n", len(sec.groups)-i)
				break
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", g.Key, g.Dumps, bytesize.Size(g.Bytes).Human(), g.Oldest.UTC().Format("2006-01-02"), g.Newest.UTC().Format("2006-01-02"))
		}
		tw.Flush()
	}
	return exitOK
}
