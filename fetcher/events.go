package fetcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/eventlog"
	"github.com/bsodwatch/bsodwatch/intake"
)

// LogState is what the fetcher remembers of one host's System event log between sweeps (in
// the state bucket, written only after the crashes it reports are queued), so that a
// restart reads nothing again and reports nothing twice.
type LogState struct {
	// Path is the log the mark belongs to; a host whose log moved starts afresh.
	Path string        `json:"path"`
	Mark eventlog.Mark `json:"mark"`
	// Events are the crash-related events of the host's last boots (eventlog.Compact), so
	// that a 1001 read on a later sweep still meets its 41, and a crash the boot before it.
	Events []eventlog.Event `json:"events,omitempty"`
	// Posted is the record id of the last crash reported (queued, or left to its dump's job).
	Posted    uint64    `json:"posted,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// LogStates keeps each host's LogState. A State that has it too (KVState does) lets the
// fetcher read event logs.
type LogStates interface {
	GetLog(ctx context.Context, host string) (LogState, bool, error)
	PutLog(ctx context.Context, host string, s LogState) error
}

// LogCrash is a crash read from a host's event log and queued as a job of its own (in a dry
// run: that would be).
type LogCrash struct {
	Host         string    `json:"host"`
	Kind         string    `json:"kind"`
	Record       uint64    `json:"record"`
	Time         time.Time `json:"time"`
	BugcheckCode string    `json:"bugcheck_code,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	JobID        string    `json:"job_id"`
}

// Limits of the remembered events.
const (
	// keepBoots is how many boots of events are kept per host: a crash is told by the boot
	// after it and explained by the boot it ended (eventlog.LastBoots wants at least 3).
	keepBoots = 3
	// keepEvents caps them, whatever the boots hold.
	keepEvents = 200
)

var errNoLog = errors.New("no event log")

// checkLogPath validates an event log path below the admin share.
func checkLogPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || strings.ContainsAny(p, "*?[") || !fs.ValidPath(p) {
		return fmt.Errorf("%q: a file below the admin share, '/'-separated, without '..' or wildcards", p)
	}
	return nil
}

// logOn reports whether h's event log is read.
func (f *Fetcher) logOn(h Host) bool {
	if h.EventLog != nil {
		return *h.EventLog
	}
	return f.o.EventLog.On()
}

// logDue reports whether h's event log is to be read now: it is on, and was last read
// Interval ago or more (or never), or force.
func (f *Fetcher) logDue(h Host, force bool) bool {
	if !f.logOn(h) || (f.logs == nil && !f.d.DryRun) {
		return false
	}
	f.mu.Lock()
	last, read := f.logRead[h.Name]
	f.mu.Unlock()
	return !read || force || f.d.Now().Sub(last) >= f.o.EventLog.Interval
}

// hostLog is one read of a host's log: the crashes it tells, and the state to keep once
// they are queued.
type hostLog struct {
	path    string
	st      LogState
	crashes []eventlog.Crash
}

// eventFor returns what the log says of the crash that left the dump at p, if any.
func (hl *hostLog) eventFor(p string) *analysis.CrashEvent {
	if hl == nil {
		return nil
	}
	for _, c := range hl.crashes {
		if c.Kind == eventlog.CrashDump && c.Dump != nil && strings.EqualFold(c.Dump.Path, p) {
			return crashEvent(c)
		}
	}
	return nil
}

// readLog reads h's event log when it is due (its last read Interval ago, or force: a new
// dump wants the log's facts) and correlates it with the dumps listed. nil when the log is
// not read, or is not there, or could not be read (which is in the report).
func (f *Fetcher) readLog(ctx context.Context, sess Session, h Host, cands []candidate, force bool, rep *Report) *hostLog {
	eo, ok := sess.(EventLogOpener)
	if !ok || !f.logDue(h, force) {
		return nil
	}
	now := f.d.Now()
	p := cmp.Or(h.EventLogPath, f.o.EventLog.Path)
	hl, err := f.readLogAt(ctx, eo, h, p, cands, rep)
	f.mu.Lock()
	f.logRead[h.Name] = now
	f.mu.Unlock()
	f.setLogState(h, p, err)
	switch {
	case err == nil:
		return hl
	case errors.Is(err, errNoLog), ctx.Err() != nil:
		return nil
	}
	f.logFailed(rep, h, f.sourcePath(h, p), err)
	return nil
}

// logFailed reports an event log that could not be read, or whose crashes or state could
// not be recorded.
func (f *Fetcher) logFailed(rep *Report, h Host, where string, err error) {
	reason := Reason(err)
	f.m.eventLogErrors.WithLabelValues(reason).Inc()
	rep.EventLogFailed++
	rep.Errors = append(rep.Errors, HostError{Host: h.Name, Path: where, Reason: reason, Error: err.Error()})
}

func (f *Fetcher) readLogAt(ctx context.Context, eo EventLogOpener, h Host, p string, cands []candidate, rep *Report) (*hostLog, error) {
	var st LogState
	if f.logs != nil {
		var err error
		if st, _, err = f.logs.GetLog(ctx, h.Name); err != nil {
			return nil, fmt.Errorf("read event log state: %w", err)
		}
	}
	if !strings.EqualFold(st.Path, p) {
		st = LogState{Path: p}
	}
	// The file's reads are bound to lctx; each one must finish within the op timeout.
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := time.AfterFunc(f.o.OpTimeout, func() { cancel(errStalled) })
	file, err := eo.OpenEventLog(lctx, p)
	t.Stop()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoLog
	}
	if err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	defer file.Close()
	l, err := eventlog.ReadSince(lctx, boundedReader{f: file, cancel: cancel, timeout: f.o.OpTimeout}, file.Size(), st.Mark)
	if err != nil {
		if cause := context.Cause(lctx); cause != nil && errors.Is(cause, errStalled) && !errors.Is(err, cause) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return nil, fmt.Errorf("read event log: %w", err)
	}
	rep.EventLogs++
	rep.EventLogReads += l.Stats.Reads
	rep.EventLogBytes += l.Stats.BytesRead
	f.m.eventLogBytes.Add(float64(l.Stats.BytesRead))
	log := f.log.With().Str("host", h.Name).Str("path", p).Logger()
	for _, w := range l.Warnings {
		log.Debug().Str("warning", w).Msg("event log")
	}
	first := st.Mark.Record == 0
	switch l.Reset {
	case eventlog.ResetCleared:
		log.Warn().Uint64("was_at_record", st.Mark.Record).Msg("the event log was cleared or replaced; reading it again from its start (the crashes before the clear that were not yet read are lost)")
		st.Events, st.Posted, first = nil, 0, false
	case eventlog.ResetRolledOver:
		log.Warn().Uint64("from", l.Lost[0]).Uint64("to", l.Lost[1]).Msgf("event log records %d–%d were overwritten before they were read (the log wrapped); their crashes are lost", l.Lost[0], l.Lost[1])
	}
	events := append(slices.Clone(st.Events), eventlog.Compact(l.Events)...)
	keep := eventlog.LastBoots(events, keepBoots)
	dumps := make([]eventlog.Dump, len(cands))
	for i, c := range cands {
		dumps[i] = eventlog.Dump{Path: c.path, ModTime: c.ModTime, Size: c.Size}
	}
	// Settled by whichever clock is later: ours, or the host's newest record.
	now := f.d.Now()
	if l.Mark.Newest.After(now) {
		now = l.Mark.Newest
	}
	crashes := eventlog.Correlate(events, dumps, eventlog.Options{Now: now, Settle: f.o.EventLog.Settle})
	if first && len(keep) > 0 {
		// The first read of a host's log: the crashes before its last boots are taken as
		// known (a host just added has a history, not news). The whole log is correlated,
		// so the oldest crash reported still sees the boot it ended.
		for _, c := range crashes {
			if c.Record < keep[0].Record {
				st.Posted = max(st.Posted, c.Record)
			}
		}
	}
	if len(keep) > keepEvents {
		keep = keep[len(keep)-keepEvents:]
	}
	st.Mark, st.Events = l.Mark, keep
	return &hostLog{path: p, st: st, crashes: crashes}, nil
}

// boundedReader bounds each read of an event log by the op timeout.
type boundedReader struct {
	f       LogFile
	cancel  context.CancelCauseFunc
	timeout time.Duration
}

func (b boundedReader) ReadAt(p []byte, off int64) (int, error) {
	t := time.AfterFunc(b.timeout, func() { b.cancel(errStalled) })
	defer t.Stop()
	return b.f.ReadAt(p, off)
}

// reportCrashes queues, in record order, the crashes of hl not reported before: a blue
// screen that left no dump, or whose dump is gone, and an unexpected reboot, each a job
// without a dump (a blue screen whose dump is here rides on that dump's job). It stops at
// a crash that has not settled. The host's log state is written once all are queued; a
// failure leaves it, so the next sweep reads again and the queue drops the repeats.
func (f *Fetcher) reportCrashes(ctx context.Context, h Host, hl *hostLog, rep *Report) {
	st := hl.st
	for _, c := range hl.crashes {
		if c.Pending {
			f.log.Debug().Str("host", h.Name).Uint64("record", c.Record).Str("kind", string(c.Kind)).Msg("crash not settled yet; reported on a later sweep")
			break
		}
		if c.Record <= st.Posted {
			continue
		}
		if c.Kind == eventlog.CrashDump || (c.Kind == eventlog.CrashDumpMissing && f.copiedBefore(ctx, h, c)) {
			st.Posted = c.Record
			continue
		}
		ev := crashEvent(c)
		job := intake.NewEventJob(intake.Crash{Host: h.Name, HostTags: h.Tags, SourcePath: f.sourcePath(h, hl.path), Event: *ev}, f.d.Now())
		lc := LogCrash{Host: h.Name, Kind: ev.Kind, Record: ev.Record, Time: ev.Time, BugcheckCode: ev.BugcheckCode, Reason: ev.Reason, JobID: job.ID}
		if f.d.DryRun {
			rep.Crashes = append(rep.Crashes, lc)
			continue
		}
		if _, err := f.d.Publisher.Publish(ctx, job); err != nil {
			f.logFailed(rep, h, job.SourcePath, fmt.Errorf("publish crash from the event log (record %d): %w", c.Record, err))
			return
		}
		f.m.jobsPublished.Inc()
		f.m.logCrashes.WithLabelValues(ev.Kind).Inc()
		rep.Crashes = append(rep.Crashes, lc)
		st.Posted = c.Record
		f.log.Info().Str("host", h.Name).Str("kind", ev.Kind).Uint64("record", c.Record).Str("bugcheck", ev.BugcheckCode).
			Str("reason", ev.Reason).Time("crashed", ev.Time).Str("job", job.ID).Msg("crash from the event log queued")
	}
	if f.d.DryRun || f.logs == nil {
		return
	}
	st.UpdatedAt = f.d.Now().UTC()
	if err := f.logs.PutLog(ctx, h.Name, st); err != nil {
		// The jobs are queued; the next sweep reads the log again and the queue drops them.
		f.logFailed(rep, h, f.sourcePath(h, hl.path), fmt.Errorf("record event log state: %w", err))
	}
}

// copiedBefore reports whether the dump a gone crash's 1001 names was copied on an earlier
// sweep (and has since been deleted or overwritten): its verdict is that dump's.
func (f *Fetcher) copiedBefore(ctx context.Context, h Host, c eventlog.Crash) bool {
	rel := eventlog.RelToWindows(c.DumpPath)
	if rel == "" || f.d.State == nil {
		return false
	}
	seen, ok, err := f.d.State.Get(ctx, h.Name, rel)
	if err != nil || !ok {
		return false
	}
	return c.Names(eventlog.Dump{Path: rel, ModTime: seen.ModTime, Size: seen.Size}, 0)
}

// crashEvent is what a job and its verdict carry of a crash.
func crashEvent(c eventlog.Crash) *analysis.CrashEvent {
	ev := &analysis.CrashEvent{
		Record: c.Record, Time: c.Time.UTC(), LocalTime: c.LocalTime, DumpPath: c.DumpPath, ReportID: c.ReportID,
		BugcheckCode: c.BugcheckCode, Args: c.Args, Reason: c.Reason, OSVersion: c.OSVersion, PowerButton: c.PowerButton,
	}
	switch c.Kind {
	case eventlog.CrashDump:
		ev.Kind, ev.DumpSaved = analysis.EventDump, true
	case eventlog.CrashDumpMissing:
		ev.Kind, ev.DumpSaved = analysis.EventDumpMissing, true
	case eventlog.CrashNoDump:
		ev.Kind = analysis.EventNoDump
	default:
		ev.Kind = analysis.EventUnexpectedReboot
	}
	for _, e := range c.Events {
		ev.EventIDs = append(ev.EventIDs, int(e.ID))
		if ev.Computer == "" {
			ev.Computer = e.Computer
		}
	}
	return ev
}

// setLogState logs a host's event log state when it changes: a log that is not there, or
// cannot be read, is said once, not every sweep.
func (f *Fetcher) setLogState(h Host, p string, err error) {
	state := "ok"
	switch {
	case errors.Is(err, errNoLog):
		state = "none"
	case err != nil:
		state = Reason(err)
	}
	prev, known, changed := f.swapState(f.logStates, h.Name, state)
	if !changed {
		return
	}
	log := f.log.With().Str("host", h.Name).Str("path", f.sourcePath(h, p)).Logger()
	switch {
	case state == "none":
		log.Info().Msg("no System event log there; crashes without a dump are not seen on this host (looking again every eventlog.interval)")
	case err != nil:
		log.Warn().Str("reason", state).Err(err).Msg("System event log cannot be read; retrying every eventlog.interval, logging again on change")
	case known:
		log.Info().Str("was", prev).Msg("System event log is read again")
	}
}
