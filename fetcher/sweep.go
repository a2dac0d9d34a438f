package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// Deps are what a Fetcher works with. State and Publisher may be nil only in dry-run mode.
type Deps struct {
	Inventory Inventory
	Source    Source
	Share     dumpshare.Share
	// State remembers the dumps queued; when it is also LogStates (KVState is), hosts'
	// event logs are read (Options.EventLog) through sessions that are EventLogOpeners.
	State     State
	Publisher Publisher
	Log       zerolog.Logger
	// Registerer receives the metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Guard, when set, keeps the share's free space above its floor (share.min_free): a copy
	// that would break it is deferred (reason share_full) and tried again next sweep.
	Guard *dumpshare.Guard
	// DryRun reports what would be copied and copies, publishes and records nothing.
	DryRun bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Hosts, when set, hears how every sweep of a host went (for the web console).
	Hosts HostRecorder
}

// HostRecorder hears the outcome of every sweep of a host: state is "ok" or the Reason of
// the error, errText the error's message ("" when ok). It must not block the sweep.
type HostRecorder interface {
	HostSwept(host, state, errText string, at time.Time)
}

// Fetcher sweeps hosts for new dumps.
type Fetcher struct {
	o   Options
	d   Deps
	log zerolog.Logger
	m   *metrics

	bytesRead atomic.Int64

	logs LogStates // nil: event logs are not read (outside a dry run)

	mu         sync.Mutex
	hostStates map[string]string    // host -> Reason of its last sweep
	looks      map[string]look      // lookKey -> last observation of a changing dump
	logRead    map[string]time.Time // host -> when its event log was last read
	logStates  map[string]string    // host -> state of its event log (ok, none, a Reason)
}

type look struct {
	size  int64
	mtime time.Time
	at    time.Time
}

// lookKey is the key of Fetcher.looks: the host, then the path folded as Windows compares it.
func lookKey(host, p string) string { return host + "\x00" + strings.ToLower(p) }

// New checks the options and returns a Fetcher.
func New(o Options, d Deps) (*Fetcher, error) {
	// The inventory is read by d.Inventory; Validate (run by config check and the roles'
	// builder) checks the file too.
	if err := o.validate(false); err != nil {
		return nil, err
	}
	o = o.WithDefaults()
	if d.Inventory == nil || d.Source == nil {
		return nil, errors.New("fetcher: inventory and source are required")
	}
	if !d.DryRun && (d.Share == nil || d.State == nil || d.Publisher == nil) {
		return nil, errors.New("fetcher: share, state and publisher are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	f := &Fetcher{o: o, d: d, log: d.Log, m: m, hostStates: map[string]string{}, looks: map[string]look{},
		logRead: map[string]time.Time{}, logStates: map[string]string{}}
	f.logs, _ = d.State.(LogStates)
	return f, nil
}

// Report sums up one sweep.
type Report struct {
	Hosts       int          `json:"hosts"`
	HostsFailed int          `json:"hosts_failed"`
	Unchanged   int          `json:"unchanged"`
	New         int          `json:"new"`
	Copied      []CopiedDump `json:"copied"`
	Planned     []Planned    `json:"planned,omitempty"`
	Unstable    int          `json:"unstable"`
	// Deferred dumps were not copied for want of space on the share (reason share_full);
	// the next sweep tries them again.
	Deferred  int   `json:"deferred"`
	Failed    int   `json:"failed"`
	BytesRead int64 `json:"bytes_read"`
	// EventLogs is how many hosts' event logs were read, EventLogReads and EventLogBytes
	// what that cost; EventLogFailed counts logs that could not be read, or whose crashes
	// could not be queued (a host without a log is no failure).
	EventLogs      int   `json:"eventlogs"`
	EventLogReads  int   `json:"eventlog_reads"`
	EventLogBytes  int64 `json:"eventlog_bytes"`
	EventLogFailed int   `json:"eventlog_failed"`
	// Crashes are the crashes read from event logs and queued without a dump (in a dry run:
	// that would be).
	Crashes  []LogCrash  `json:"crashes,omitempty"`
	Errors   []HostError `json:"errors,omitempty"`
	Duration float64     `json:"duration_seconds"`
}

// CopiedDump is a dump that was copied and queued.
type CopiedDump struct {
	Host       string `json:"host"`
	SourcePath string `json:"source_path"`
	SharePath  string `json:"share_path"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
}

// Planned is what a dry run would copy.
type Planned struct {
	Host       string    `json:"host"`
	SourcePath string    `json:"source_path"`
	SharePath  string    `json:"share_path"`
	Size       int64     `json:"size"`
	ModTime    time.Time `json:"mtime"`
}

// HostError is a failure on one host (or one of its dumps).
type HostError struct {
	Host   string `json:"host"`
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// OK reports whether the sweep had no failures (a dump still being written is no failure;
// one deferred for want of space is: it was not fetched).
func (r *Report) OK() bool {
	return r.HostsFailed == 0 && r.Failed == 0 && r.Deferred == 0 && r.EventLogFailed == 0
}

// Run sweeps every Interval until ctx ends. When EventLog.Interval is shorter, the hosts
// whose event log is due have it read in between, in sweeps that copy nothing.
func (f *Fetcher) Run(ctx context.Context) error {
	nextDumps := time.Now()
	for {
		dumps := !time.Now().Before(nextDumps)
		rep, err := f.sweep(ctx, dumps)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			f.log.Error().Err(err).Msg("sweep failed")
		case dumps || len(rep.Crashes) > 0 || !rep.OK():
			f.log.Info().Int("hosts", rep.Hosts).Int("hosts_failed", rep.HostsFailed).Int("copied", len(rep.Copied)).
				Int("failed", rep.Failed).Int("unstable", rep.Unstable).Int("deferred", rep.Deferred).Int("eventlogs", rep.EventLogs).Int("crashes", len(rep.Crashes)).
				Int("eventlog_failed", rep.EventLogFailed).Bool("dumps", dumps).Float64("seconds", rep.Duration).Msg("sweep done")
		}
		if dumps {
			nextDumps = time.Now().Add(f.o.Interval)
		}
		wait := min(time.Until(nextDumps), f.o.EventLog.Interval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(wait, 0)):
		}
	}
}

// Sweep polls every host once: new dumps, and the event logs that are due. The error is for
// a sweep that could not start (no inventory); failures on hosts and dumps are in the
// report.
func (f *Fetcher) Sweep(ctx context.Context) (*Report, error) { return f.sweep(ctx, true) }

// sweep polls every host; without dumps it only reads the event logs that are due (and
// lists the dumps they are matched with), opening no session to the other hosts.
func (f *Fetcher) sweep(ctx context.Context, dumps bool) (*Report, error) {
	start := time.Now()
	hosts, err := f.d.Inventory.Hosts(ctx)
	if err != nil {
		f.m.sweepErrors.WithLabelValues("inventory").Inc()
		if len(hosts) == 0 {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		f.log.Warn().Err(err).Msg("inventory reload failed; keeping the last good host list")
	}
	rep := &Report{Hosts: len(hosts), Copied: []CopiedDump{}}
	readBefore := f.bytesRead.Load()
	var mu sync.Mutex
	sem := make(chan struct{}, f.o.Concurrency)
	var wg sync.WaitGroup
	for _, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			hr := f.sweepHost(ctx, h, dumps)
			mu.Lock()
			rep.merge(hr)
			mu.Unlock()
		}()
	}
	wg.Wait()
	f.forgetHosts(hosts)
	rep.BytesRead = f.bytesRead.Load() - readBefore
	rep.Duration = time.Since(start).Seconds()
	f.m.sweepSeconds.Observe(rep.Duration)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, nil
}

func (r *Report) merge(h *Report) {
	r.HostsFailed += h.HostsFailed
	r.Unchanged += h.Unchanged
	r.New += h.New
	r.Copied = append(r.Copied, h.Copied...)
	r.Planned = append(r.Planned, h.Planned...)
	r.Unstable += h.Unstable
	r.Failed += h.Failed
	r.Deferred += h.Deferred
	r.EventLogs += h.EventLogs
	r.EventLogReads += h.EventLogReads
	r.EventLogBytes += h.EventLogBytes
	r.EventLogFailed += h.EventLogFailed
	r.Crashes = append(r.Crashes, h.Crashes...)
	r.Errors = append(r.Errors, h.Errors...)
}

// swapState records a host's state in m and returns the one before; changed is false when
// it is the same.
func (f *Fetcher) swapState(m map[string]string, host, state string) (prev string, known, changed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev, known = m[host]
	m[host] = state
	return prev, known, !known || prev != state
}

// setHostState logs a host's state only when it changes.
func (f *Fetcher) setHostState(h Host, err error) {
	reason := Reason(err)
	if f.d.Hosts != nil && !f.d.DryRun {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		f.d.Hosts.HostSwept(h.Name, reason, msg, f.d.Now())
	}
	prev, known, changed := f.swapState(f.hostStates, h.Name, reason)
	if !changed {
		return
	}
	switch {
	case err == nil && known:
		f.log.Info().Str("host", h.Name).Str("was", prev).Msg("host is reachable again")
	case err != nil:
		f.log.Warn().Str("host", h.Name).Str("reason", reason).Err(err).Msg("host cannot be swept; retrying every sweep, logging again on change")
	}
}

// forgetHosts drops state of hosts no longer in the inventory and refreshes the gauge.
func (f *Fetcher) forgetHosts(hosts []Host) {
	keep := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		keep[h.Name] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	counts := map[string]float64{}
	for name, st := range f.hostStates {
		if !keep[name] {
			delete(f.hostStates, name)
			continue
		}
		counts[st]++
	}
	for key := range f.looks {
		if host, _, _ := strings.Cut(key, "\x00"); !keep[host] {
			delete(f.looks, key)
		}
	}
	for host := range f.logRead {
		if !keep[host] {
			delete(f.logRead, host)
			delete(f.logStates, host)
		}
	}
	f.m.hosts.Reset()
	for st, n := range counts {
		f.m.hosts.WithLabelValues(st).Set(n)
	}
}

// candidate is a dump file found on a host.
type candidate struct {
	path string // '/'-separated, relative to the share (and Host.Dir)
	Entry
	// listedAt is when the listing saw Entry: the first of the two looks that must agree
	// before a copy. All of a host's dumps share it, so a host with many new dumps waits
	// StableAfter once, not once per dump.
	listedAt time.Time
}

func (f *Fetcher) sweepHost(ctx context.Context, h Host, dumps bool) *Report {
	rep := &Report{}
	if !dumps && !f.logDue(h, false) {
		return rep
	}
	fail := func(p string, err error) {
		reason := Reason(err)
		f.m.sweepErrors.WithLabelValues(reason).Inc()
		rep.Errors = append(rep.Errors, HostError{Host: h.Name, Path: p, Reason: reason, Error: err.Error()})
	}
	if err := dumpshare.ValidateHost(h.Name); err != nil {
		err = fmt.Errorf("%w: %w", ErrConfig, err)
		f.setHostState(h, err)
		rep.HostsFailed++
		fail("", err)
		return rep
	}
	octx, cancel := context.WithTimeout(ctx, f.o.OpTimeout)
	sess, err := f.d.Source.Open(octx, h)
	cancel()
	if err != nil && ctx.Err() != nil {
		return rep // shutting down: the host did nothing wrong, and nothing is recorded
	}
	if err != nil {
		f.setHostState(h, err)
		rep.HostsFailed++
		fail("", err)
		return rep
	}
	defer sess.Close()
	cands, err := f.list(ctx, sess, h)
	if err != nil && ctx.Err() != nil {
		return rep
	}
	if err != nil {
		f.setHostState(h, err)
		rep.HostsFailed++
		fail("", err)
		return rep
	}
	f.setHostState(h, nil)
	listedAt := f.d.Now()
	for i := range cands {
		cands[i].listedAt = listedAt
	}
	// What the state knows of each dump; a new one has the event log read now, so that its
	// job carries what the log says of its crash.
	priors := make([]prior, len(cands))
	fresh := false
	if dumps {
		for i, c := range cands {
			priors[i] = f.prior(ctx, h, c)
			fresh = fresh || !priors[i].unchanged(c)
		}
	}
	hl := f.readLog(ctx, sess, h, cands, fresh, rep)
	if hl != nil {
		f.reportCrashes(ctx, h, hl, rep)
	}
	if !dumps {
		return rep
	}
	for i, c := range cands {
		if ctx.Err() != nil {
			return rep
		}
		if err := f.handle(ctx, sess, h, c, priors[i], hl.eventFor(c.path), rep); err != nil {
			if errors.Is(err, errUnstable) {
				rep.Unstable++
				f.log.Info().Str("host", h.Name).Str("path", c.path).Msg("dump still changing; will look again next sweep")
				continue
			}
			if errors.Is(err, dumpshare.ErrNoSpace) {
				f.defer_(h, c.path, err, rep)
				continue
			}
			rep.Failed++
			fail(c.path, err)
			f.log.Warn().Str("host", h.Name).Str("path", c.path).Str("reason", Reason(err)).Err(err).Msg("dump not queued; retrying next sweep")
		}
	}
	return rep
}

// list finds the dump files on a host: MEMORY.DMP, Minidump/*.dmp and the globs.
func (f *Fetcher) list(ctx context.Context, sess Session, h Host) ([]candidate, error) {
	seen := map[string]bool{}
	var out []candidate
	add := func(p string, e Entry) {
		k := strings.ToLower(p)
		if seen[k] || e.Dir {
			return
		}
		seen[k] = true
		out = append(out, candidate{path: p, Entry: e})
	}
	octx, cancel := context.WithTimeout(ctx, f.o.OpTimeout)
	e, err := sess.Stat(octx, "MEMORY.DMP")
	cancel()
	switch {
	case err == nil:
		add("MEMORY.DMP", e)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("stat MEMORY.DMP: %w", err)
	}
	patterns := append([]string{"Minidump/*.dmp"}, f.o.Globs...)
	patterns = append(patterns, h.Globs...)
	for _, g := range patterns {
		if err := checkGlob(g); err != nil {
			return nil, fmt.Errorf("%w: host %s: %w", ErrConfig, h.Name, err)
		}
		if err := f.glob(ctx, sess, "", strings.Split(g, "/"), 0, add); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

const maxGlobDepth = 10

// checkGlob validates a dump pattern.
func checkGlob(g string) error {
	if g == "" || strings.HasPrefix(g, "/") || strings.Contains(g, `\`) {
		return fmt.Errorf("pattern %q: must be relative and use '/'", g)
	}
	for _, seg := range strings.Split(g, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("pattern %q: empty, '.' or '..' element", g)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("pattern %q: %w", g, err)
		}
	}
	return nil
}

// glob walks the segments of a pattern; '**' matches any number of folders. Names are
// matched case-insensitively, as Windows does; names that could not be stored safely are
// skipped.
func (f *Fetcher) glob(ctx context.Context, sess Session, dir string, segs []string, depth int, add func(string, Entry)) error {
	if len(segs) == 0 || depth > maxGlobDepth {
		return nil
	}
	octx, cancel := context.WithTimeout(ctx, f.o.OpTimeout)
	entries, err := sess.ReadDir(octx, dir)
	cancel()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("list %q: %w", dir, err)
	}
	join := func(n string) string {
		if dir == "" {
			return n
		}
		return dir + "/" + n
	}
	seg := segs[0]
	if seg == "**" {
		if err := f.glob(ctx, sess, dir, segs[1:], depth, add); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if dumpshare.ValidateName(e.Name) != nil {
			continue
		}
		if seg == "**" {
			if e.Dir {
				if err := f.glob(ctx, sess, join(e.Name), segs, depth+1, add); err != nil {
					return err
				}
			}
			continue
		}
		if ok, _ := path.Match(strings.ToLower(seg), strings.ToLower(e.Name)); !ok {
			continue
		}
		switch {
		case len(segs) == 1 && !e.Dir:
			add(join(e.Name), e)
		case len(segs) > 1 && e.Dir:
			if err := f.glob(ctx, sess, join(e.Name), segs[1:], depth+1, add); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *Fetcher) sourcePath(h Host, p string) string {
	share := h.Share
	if share == "" {
		share = f.o.AdminShare
	}
	if h.Dir != "" {
		p = strings.Trim(h.Dir, `/\`) + "/" + p
	}
	return strings.ReplaceAll(share+"/"+p, "/", `\`)
}

// prior is what the state knows of a dump.
type prior struct {
	seen  Seen
	known bool
	err   error
}

func (f *Fetcher) prior(ctx context.Context, h Host, c candidate) prior {
	if f.d.State == nil {
		return prior{}
	}
	seen, known, err := f.d.State.Get(ctx, h.Name, c.path)
	return prior{seen, known, err}
}

// unchanged reports whether the dump is the one recorded.
func (p prior) unchanged(c candidate) bool {
	return p.err == nil && p.known && p.seen.Size == c.Size && p.seen.ModTime.Equal(c.ModTime)
}

// handle queues one candidate if it is new and stable; ev is what the host's event log says
// of its crash.
func (f *Fetcher) handle(ctx context.Context, sess Session, h Host, c candidate, p prior, ev *analysis.CrashEvent, rep *Report) error {
	if p.err != nil {
		return fmt.Errorf("read state: %w", p.err)
	}
	if p.unchanged(c) {
		rep.Unchanged++
		return nil
	}
	rep.New++
	base := path.Base(c.path)
	rel, err := dumpshare.Layout(h.Name, base, c.ModTime)
	if err != nil {
		return err
	}
	if f.d.DryRun {
		if f.d.Share != nil {
			rel = f.d.Share.StoredRel(rel, c.Size)
		}
		rep.Planned = append(rep.Planned, Planned{Host: h.Name, SourcePath: f.sourcePath(h, c.path), SharePath: rel, Size: c.Size, ModTime: c.ModTime.UTC()})
		return nil
	}
	c, err = f.waitStable(ctx, sess, h, c)
	if err != nil {
		return err
	}
	rel, err = dumpshare.Layout(h.Name, base, c.ModTime)
	if err != nil {
		return err
	}
	rel = f.d.Share.StoredRel(rel, c.Size)
	f.m.dumpsFound.Inc()
	release, err := f.reserve(ctx, c.Size)
	if err != nil {
		return err
	}
	job, err := f.copy(ctx, sess, h, c, rel, ev)
	release()
	if err != nil {
		return err
	}
	if _, err := f.d.Publisher.Publish(ctx, job); err != nil {
		return fmt.Errorf("publish job: %w", err)
	}
	f.m.jobsPublished.Inc()
	if err := f.d.State.Put(ctx, h.Name, c.path, Seen{Size: c.Size, ModTime: c.ModTime, SHA256: job.SHA256, SharePath: rel, RecordedAt: f.d.Now().UTC()}); err != nil {
		// the job is queued; the next sweep copies again and the queue drops the duplicate
		return fmt.Errorf("record state: %w", err)
	}
	f.mu.Lock()
	delete(f.looks, lookKey(h.Name, c.path))
	f.mu.Unlock()
	rep.Copied = append(rep.Copied, CopiedDump{Host: h.Name, SourcePath: job.SourcePath, SharePath: rel, Size: c.Size, SHA256: job.SHA256})
	f.log.Info().Str("host", h.Name).Str("path", job.SourcePath).Str("share_path", rel).Int64("size", c.Size).Str("sha256", job.SHA256).Msg("dump queued")
	return nil
}

// waitStable returns the dump's entry once two looks StableAfter apart agree on size and
// mtime. A look from an earlier sweep counts, so a daemon does not wait twice.
func (f *Fetcher) waitStable(ctx context.Context, sess Session, h Host, c candidate) (candidate, error) {
	key := lookKey(h.Name, c.path)
	f.mu.Lock()
	prev, ok := f.looks[key]
	f.mu.Unlock()
	now := f.d.Now()
	if ok && prev.size == c.Size && prev.mtime.Equal(c.ModTime) && now.Sub(prev.at) >= f.o.StableAfter {
		return c, nil
	}
	deadline := now.Add(f.o.StableTimeout)
	first := c.listedAt
	if first.IsZero() || first.After(now) {
		first = now
	}
	cur := look{size: c.Size, mtime: c.ModTime, at: first}
	for {
		f.mu.Lock()
		f.looks[key] = cur
		f.mu.Unlock()
		if wait := f.o.StableAfter - f.d.Now().Sub(cur.at); wait > 0 {
			select {
			case <-ctx.Done():
				return c, ctx.Err()
			case <-time.After(wait):
			}
		}
		octx, cancel := context.WithTimeout(ctx, f.o.OpTimeout)
		e, err := sess.Stat(octx, c.path)
		cancel()
		if err != nil {
			return c, fmt.Errorf("stat: %w", err)
		}
		if e.Size == cur.size && e.ModTime.Equal(cur.mtime) {
			c.Entry = e
			return c, nil
		}
		cur = look{size: e.Size, mtime: e.ModTime, at: f.d.Now()}
		if f.d.Now().After(deadline) {
			f.mu.Lock()
			f.looks[key] = cur
			f.mu.Unlock()
			return c, errUnstable
		}
	}
}

// copy streams the dump to the share through the hash, verifies it, reads its header and
// returns the job. On any failure the copy is removed.
func (f *Fetcher) copy(ctx context.Context, sess Session, h Host, c candidate, rel string, ev *analysis.CrashEvent) (*pipeline.Job, error) {
	start := time.Now()
	fctx, cancelFile := context.WithCancelCause(ctx)
	defer cancelFile(nil)
	// The file's reads are bound to fctx: a timer here, the range reader's watchdog later.
	t := time.AfterFunc(f.o.OpTimeout, func() { cancelFile(errStalled) })
	file, err := sess.Open(fctx, c.path)
	t.Stop()
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer file.Close()
	ra := countingReaderAt{ra: file, n: &f.bytesRead}
	ras := []io.ReaderAt{ra}
	workers := 1
	if c.Size >= f.o.ParallelMinBytes {
		workers = f.o.CopyWorkers
	}
	if eo, ok := sess.(ExtraOpener); ok && workers > 1 && f.o.ParallelSessions > 1 && c.Size >= f.o.SessionsMinBytes {
		extra, err := eo.OpenExtra(fctx, c.path, min(f.o.ParallelSessions, workers)-1)
		if err != nil {
			f.log.Info().Str("host", h.Name).Str("path", c.path).Int("opened", len(extra)).Err(err).Msg("extra sessions for a big copy: fewer than asked, carrying on")
		}
		for _, x := range extra {
			defer x.Close()
			ras = append(ras, countingReaderAt{ra: x, n: &f.bytesRead})
		}
	}
	rr := newRangeReader(fctx, cancelFile, ras, c.Size, copyParams{
		workers: workers, chunkSize: f.o.ChunkSize, maxRate: f.o.MaxRateBytes, stallAfter: f.o.OpTimeout,
		progressEvery: f.o.ProgressEvery, log: f.log.With().Str("host", h.Name).Str("path", c.path).Logger(),
	})
	sum, err := f.d.Share.Put(ctx, rel, rr, c.Size)
	rr.Close()
	if err != nil {
		if cause := context.Cause(fctx); cause != nil && !errors.Is(err, cause) && errors.Is(cause, errStalled) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		return nil, fmt.Errorf("copy to %s: %w", rel, err)
	}
	removeCopy := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.o.OpTimeout)
		defer cancel()
		if err := f.d.Share.Remove(rctx, rel); err != nil {
			f.log.Warn().Err(err).Str("share_path", rel).Msg("could not remove a copy that will not be queued")
		}
	}
	// The source must not have changed while we read it.
	sctx, cancel := context.WithTimeout(ctx, f.o.OpTimeout)
	e, err := sess.Stat(sctx, c.path)
	cancel()
	if err != nil {
		removeCopy()
		return nil, fmt.Errorf("stat after copy: %w", err)
	}
	if e.Size != c.Size || !e.ModTime.Equal(c.ModTime) {
		removeCopy()
		return nil, fmt.Errorf("changed during the copy: %w", errUnstable)
	}
	dur := time.Since(start)
	f.m.bytesCopied.Add(float64(c.Size))
	f.m.copySeconds.Observe(dur.Seconds())
	if dur > 0 {
		f.m.copyRate.Set(float64(c.Size) / dur.Seconds())
	}
	hdr := f.header(cancelFile, ra, c.Size)
	return intake.NewJob(intake.Dump{
		Host: h.Name, HostTags: h.Tags, SourcePath: f.sourcePath(h, c.path), SharePath: rel,
		Size: c.Size, SHA256: sum, ModTime: c.ModTime, Header: hdr, Submitter: "fetcher", Event: ev,
	}, f.d.Now()), nil
}

// header reads the dump header natively (intake.Header: never fatal), bounded by the op
// timeout.
func (f *Fetcher) header(cancelFile context.CancelCauseFunc, ra countingReaderAt, size int64) *pipeline.Header {
	t := time.AfterFunc(f.o.OpTimeout, func() { cancelFile(errStalled) })
	defer t.Stop()
	return intake.Header(ra, size)
}
