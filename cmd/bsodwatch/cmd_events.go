package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/dumpfile"
	"github.com/bsodwatch/bsodwatch/eventlog"
)

// cmdEvents prints the crash-related events of saved System event logs. Exit status: 0
// when every file was read whole; 2 when a file is not an event log, or is torn or
// truncated (what could be read still prints, each damage is one warning line on stderr);
// 1 when a file cannot be opened or read; 130 when interrupted between files.
func cmdEvents(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "events", "events [--json] [--all] FILE.evtx...\n\n"+
		"Reads saved Windows System event logs (System.evtx, wevtutil epl exports) and prints their crash events:\n"+
		"blue screens and their dumps (1001), dumps not saved (WER 1000-1006, volmgr 45-164), unexpected reboots (41)\n"+
		"and shutdowns (6008), grouped into crashes by boot.\n"+
		"Exit status: 0 all read, 2 a file is not an event log or is torn/truncated, 1 a file cannot be read.")
	asJSON := fs.Bool("json", false, "print one JSON object per file (stable keys)")
	all := fs.Bool("all", false, "also list boots and clean shutdowns (human output; log clears are always listed; --json lists everything)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	read := func(path string) (*eventsReport, int, error) {
		l, err := readEventLog(ctx, path)
		if err != nil {
			return nil, 0, err
		}
		for _, w := range l.Warnings {
			fmt.Fprintf(e.Stderr, "bsodwatch events: %s: warning: %s\n", path, w)
		}
		code := exitOK
		if len(l.Warnings) > 0 {
			code = exitUsage // read only in part, like a truncated dump for triage
		}
		return newEventsReport(path, l), code, nil
	}
	notLog := func(err error) bool { return errors.Is(err, eventlog.ErrNotEVTX) }
	return eachFile(ctx, e, "events", fs.Args(), *asJSON, read, notLog, func(w io.Writer, r *eventsReport) { printEvents(w, r, *all) })
}

func readEventLog(ctx context.Context, path string) (*eventlog.Log, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%w: a directory", eventlog.ErrNotEVTX)
	}
	return eventlog.Read(ctx, f, fi.Size())
}

// eventsReport is the JSON of `bsodwatch events --json`: "file" and "events" with the keys of
// DESIGN.md are a contract; "crashes" and "warnings" are added.
type eventsReport struct {
	File     string        `json:"file"`
	Events   []eventJSON   `json:"events"`
	Crashes  []crashJSON   `json:"crashes"`
	Warnings []string      `json:"warnings,omitempty"`
	Log      eventsLogJSON `json:"log"`
}

// eventJSON is an event with the boot it belongs to.
type eventJSON struct {
	eventlog.Event
	Boot int `json:"boot"`
}

type crashJSON struct {
	Kind         string     `json:"kind"` // blue_screen_dump_saved, blue_screen_no_dump, unexpected_reboot
	Boot         int        `json:"boot"`
	Record       uint64     `json:"record"`
	Time         time.Time  `json:"time"`
	LocalTime    string     `json:"local_time,omitempty"`
	BugcheckCode string     `json:"bugcheck_code,omitempty"`
	BugcheckName string     `json:"bugcheck_name,omitempty"`
	Args         []string   `json:"args,omitempty"`
	DumpPath     string     `json:"dump_path,omitempty"`
	ReportID     string     `json:"report_id,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	PowerButton  *time.Time `json:"power_button,omitempty"`
	OSVersion    string     `json:"os_version,omitempty"`
	Records      []uint64   `json:"records"`
}

type eventsLogJSON struct {
	Records          int    `json:"records"`
	FirstRecord      uint64 `json:"first_record"`
	LastRecord       uint64 `json:"last_record"`
	Chunks           int    `json:"chunks"`
	HeaderDirty      bool   `json:"header_dirty"`
	HeaderNextRecord uint64 `json:"header_next_record"`
}

// Crash kinds as the command shows them: without the fetcher's dumps, a 1001 says only
// that a dump was saved.
const (
	crashDumpSaved = "blue_screen_dump_saved"
	crashNoDump    = "blue_screen_no_dump"
	crashReboot    = "unexpected_reboot"
)

func newEventsReport(path string, l *eventlog.Log) *eventsReport {
	r := &eventsReport{File: path, Events: []eventJSON{}, Crashes: []crashJSON{}, Warnings: l.Warnings, Log: eventsLogJSON{
		Records: l.Stats.Records, FirstRecord: l.Stats.FirstRecord, LastRecord: l.Stats.LastRecord, Chunks: l.Stats.ChunksRead,
		HeaderDirty: l.Header.Dirty, HeaderNextRecord: l.Header.NextRecord,
	}}
	boots := eventlog.Boots(l.Events)
	for i, ev := range l.Events {
		r.Events = append(r.Events, eventJSON{Event: ev, Boot: boots[i]})
	}
	for _, c := range eventlog.Correlate(l.Events, nil, eventlog.Options{}) {
		j := crashJSON{Boot: c.Boot, Record: c.Record, Time: c.Time, BugcheckCode: c.BugcheckCode, BugcheckName: bugcheckName(c.BugcheckCode),
			Args: c.Args, DumpPath: c.DumpPath, ReportID: c.ReportID, Reason: c.Reason, OSVersion: c.OSVersion, Records: []uint64{}}
		switch c.Kind {
		case eventlog.CrashDump, eventlog.CrashDumpMissing:
			j.Kind = crashDumpSaved
		case eventlog.CrashNoDump:
			j.Kind = crashNoDump
		default:
			j.Kind = crashReboot
		}
		if !c.LocalTime.IsZero() {
			j.LocalTime = c.LocalTime.Format(time.RFC3339Nano)
		}
		if !c.PowerButton.IsZero() {
			t := c.PowerButton
			j.PowerButton = &t
		}
		for _, ev := range c.Events {
			j.Records = append(j.Records, ev.Record)
		}
		r.Crashes = append(r.Crashes, j)
	}
	return r
}

func bugcheckName(code string) string {
	n, err := strconv.ParseUint(strings.TrimPrefix(code, "0x"), 16, 32)
	if code == "" || err != nil {
		return ""
	}
	return dumpfile.BugcheckName(uint32(n))
}

// printEvents writes the human form: the crashes first, then the events behind them
// (warnings go to stderr only).
func printEvents(w io.Writer, r *eventsReport, all bool) {
	line := func(k, f string, a ...any) { fmt.Fprintf(w, "  %-8s "+f+"\n", append([]any{k}, a...)...) }
	fmt.Fprintf(w, "%s\n", r.File)
	lg := fmt.Sprintf("%d records", r.Log.Records)
	if r.Log.Records > 0 {
		lg += fmt.Sprintf(" (%d–%d) in %d chunks", r.Log.FirstRecord, r.Log.LastRecord, r.Log.Chunks)
	}
	if r.Log.HeaderDirty {
		lg += fmt.Sprintf("; header dirty, says next record %d", r.Log.HeaderNextRecord)
	}
	line("log", "%s", lg)
	if len(r.Crashes) == 0 {
		line("crashes", "none")
	}
	for _, c := range r.Crashes {
		when := c.Time.Format("2006-01-02 15:04:05 UTC")
		if c.LocalTime != "" {
			if lt, err := time.Parse(time.RFC3339Nano, c.LocalTime); err == nil && lt.Format("-07:00") != "+00:00" {
				when += " (" + lt.Format("15:04:05 -07:00") + " on the host)"
			}
		}
		var what string
		switch c.Kind {
		case crashDumpSaved:
			what = fmt.Sprintf("blue screen %s, dump saved: %s", bugcheckText(c.BugcheckCode, c.BugcheckName, c.Args), c.DumpPath)
			if c.ReportID != "" {
				what += ", report " + c.ReportID
			}
		case crashNoDump:
			what = fmt.Sprintf("blue screen %s, no dump saved", bugcheckText(c.BugcheckCode, c.BugcheckName, c.Args))
			if c.Reason != "" {
				what += ": " + c.Reason
			}
		default:
			what = "unexpected reboot without a bugcheck (power loss, hard hang or power button)"
			if c.PowerButton != nil {
				what = "unexpected reboot without a bugcheck: power button pressed at " + c.PowerButton.Format("15:04:05 UTC")
			}
		}
		line("crash", "boot %d, %s: %s", c.Boot, when, what)
	}
	for _, ev := range r.Events {
		switch ev.Kind {
		case eventlog.KindBoot, eventlog.KindShutdown:
			if !all {
				continue
			}
		}
		detail := ""
		switch {
		case ev.BugcheckCode != "" && ev.DumpPath != "":
			detail = fmt.Sprintf("%s %s, dump %s", ev.BugcheckCode, "("+strings.Join(ev.Args, ", ")+")", ev.DumpPath)
			if ev.ReportID != "" {
				detail += ", report " + ev.ReportID
			}
		case ev.BugcheckCode != "":
			detail = fmt.Sprintf("bugcheck %s (%s)", ev.BugcheckCode, strings.Join(ev.Args, ", "))
		case ev.Reason != "":
			detail = ev.Reason
		case !ev.LastAlive.IsZero():
			detail = "last alive " + ev.LastAlive.Format("2006-01-02 15:04:05.000 UTC")
		}
		out := fmt.Sprintf("    %8d  %s  boot %-3d %-19s %s %d  %s", ev.Record, ev.Time.Format("2006-01-02 15:04:05"), ev.Boot, ev.Kind,
			strings.TrimPrefix(ev.Provider, "Microsoft-Windows-"), ev.ID, detail)
		fmt.Fprintln(w, strings.TrimRight(out, " "))
	}
}

func bugcheckText(code, name string, args []string) string {
	s := code
	if name != "" {
		s += " " + name
	}
	if len(args) > 0 {
		s += " (" + strings.Join(args, ", ") + ")"
	}
	return s
}
