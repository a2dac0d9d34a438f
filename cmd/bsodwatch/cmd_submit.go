package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// cmdSubmit queues dumps that are already on disk: the same jobs the fetcher publishes.
func cmdSubmit(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "submit", "submit [--host NAME] [--share DIR] [--wait [--timeout D]] [--json] FILE|DIR|GLOB...")
	conn := addNATSFlags(fs)
	s := &submitter{}
	shareDir := fs.String("share", envOr(e, "BSODWATCH_SHARE", ""), "dump share directory the analyzers read (env BSODWATCH_SHARE)")
	fs.StringVar(&s.host, "host", "", "host the dumps came from (default: folder layout, else the dump's computer name, else unknown)")
	wait := fs.Bool("wait", false, "wait for the verdicts of the submitted dumps and print them")
	timeout := fs.Duration("timeout", 30*time.Minute, "with --wait: give up after this long")
	asJSON := fs.Bool("json", false, "with --wait: print verdicts as JSON lines (the summary goes to stderr)")
	workers := fs.Int("workers", 4, "files copied and queued at once")
	paths, code, done := parseSubmitArgs(fs, args)
	if done {
		return code
	}
	if len(paths) == 0 {
		fs.Usage()
		return exitUsage
	}
	if *shareDir == "" {
		fmt.Fprintln(e.Stderr, "bsodwatch submit: --share DIR (or BSODWATCH_SHARE) is required: the analyzers read dumps from the share")
		return exitUsage
	}
	if s.host != "" {
		if err := dumpshare.ValidateHost(s.host); err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch submit: --host:", err)
			return exitUsage
		}
	}
	share, err := dumpshare.NewLocal(*shareDir)
	if err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch submit:", err)
		return exitError
	}
	s.share = share
	files, missing := expandSubmitArgs(paths)
	nc, err := dialNATS(ctx, e, fs, conn, "submit")
	if err != nil {
		return exitFor(ctx, e, "submit", err)
	}
	defer nc.Close()
	s.pub = intake.NewPublisher(nc.JS)
	var w *history.Waiter
	if *wait {
		if w, err = history.StartWaiter(ctx, nc.JS, e.Log); err != nil {
			fmt.Fprintln(e.Stderr, "bsodwatch submit:", err)
			return exitError
		}
		defer w.Stop()
		s.want = w.Want
	}

	start := time.Now()
	p := newSubmitProgress(e, files)
	outcomes := s.run(ctx, files, max(*workers, 1), p)
	p.finish()
	outcomes = append(outcomes, missing...)
	sum := summarizeSubmit(outcomes, time.Since(start))
	out := e.Stdout
	if *asJSON {
		out = e.Stderr
	}
	sum.print(out)
	if ctx.Err() != nil {
		return exitInterrupted
	}
	exit := exitOK
	if sum.failed() > 0 {
		exit = exitError
	}
	if w == nil {
		return exit
	}
	var ids, repeated []string
	seen := map[string]bool{}
	for _, o := range outcomes {
		if (o.status == subSubmitted || o.status == subDuplicate) && !seen[o.job.ID] {
			seen[o.job.ID] = true
			ids = append(ids, o.job.ID)
			if o.status == subDuplicate {
				repeated = append(repeated, o.job.ID)
			}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	verdicts, err := w.Wait(wctx, ids, repeated)
	if err := printVerdictTable(e.Stdout, verdicts, *asJSON); err != nil {
		fmt.Fprintln(e.Stderr, "bsodwatch submit:", err)
		return exitError
	}
	if err != nil {
		fmt.Fprintf(e.Stderr, "bsodwatch submit: %d of %d verdicts arrived: %v\n", len(verdicts), len(ids), err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitError
	}
	return exit
}

// parseSubmitArgs parses flags that may come after the file arguments
// ("submit DIR --host web01") and returns the arguments that are not flags.
func parseSubmitArgs(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, true
			}
			return nil, exitUsage, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), 0, false
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// Outcomes of one file.
const (
	subSubmitted  = "submitted"
	subDuplicate  = "duplicate"
	subUnreadable = "unreadable" // not a Windows dump, or damaged
	subFailed     = "failed"     // could not be read, copied or queued
)

type submitOutcome struct {
	path   string
	status string
	reason string
	job    pipeline.Job
}

// submitFile is a file to submit.
type submitFile struct {
	path    string
	size    int64
	modTime time.Time
}

// submitDumpExts are the names a directory walk picks up; files named on the command line are
// always taken.
var submitDumpExts = []string{".dmp", ".mdmp", ".hdmp"}

// expandSubmitArgs turns FILE|DIR|GLOB arguments into files, in a stable order without repeats.
// Arguments that name nothing come back as failed outcomes.
func expandSubmitArgs(args []string) ([]submitFile, []submitOutcome) {
	var files []submitFile
	var bad []submitOutcome
	seen := map[string]bool{}
	add := func(path string, info fs.FileInfo) {
		abs, err := filepath.Abs(path)
		if err != nil {
			abs = path
		}
		if seen[abs] {
			return
		}
		seen[abs] = true
		files = append(files, submitFile{path: abs, size: info.Size(), modTime: info.ModTime()})
	}
	for _, arg := range args {
		matches := []string{arg}
		if _, err := os.Lstat(arg); err != nil && strings.ContainsAny(arg, "*?[") {
			m, gerr := filepath.Glob(arg)
			if gerr != nil || len(m) == 0 {
				bad = append(bad, submitOutcome{path: arg, status: subFailed, reason: "no file matches the pattern"})
				continue
			}
			matches = m
		}
		for _, path := range matches {
			info, err := os.Stat(path)
			if err != nil {
				bad = append(bad, submitOutcome{path: path, status: subFailed, reason: submitErrReason(err)})
				continue
			}
			if !info.IsDir() {
				if info.Mode().IsRegular() {
					add(path, info)
				} else {
					bad = append(bad, submitOutcome{path: path, status: subFailed, reason: "not a regular file"})
				}
				continue
			}
			err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					bad = append(bad, submitOutcome{path: p, status: subFailed, reason: submitErrReason(err)})
					return nil
				}
				if !d.Type().IsRegular() || !slices.Contains(submitDumpExts, strings.ToLower(filepath.Ext(p))) {
					return nil
				}
				info, err := d.Info()
				if err != nil {
					bad = append(bad, submitOutcome{path: p, status: subFailed, reason: submitErrReason(err)})
					return nil
				}
				add(p, info)
				return nil
			})
			if err != nil {
				bad = append(bad, submitOutcome{path: path, status: subFailed, reason: submitErrReason(err)})
			}
		}
	}
	return files, bad
}

// submitErrReason drops the path from an fs error: the summary prints it already.
func submitErrReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// submitter copies, hashes and queues files.
type submitter struct {
	pub   *intake.Publisher
	share *dumpshare.Local
	host  string
	// want, when set (--wait), is told each job id before its job is published.
	want func(id string)
}

func (s *submitter) run(ctx context.Context, files []submitFile, workers int, p *submitProgress) []submitOutcome {
	out := make([]submitOutcome, len(files))
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(workers, max(len(files), 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				if ctx.Err() != nil {
					out[i] = submitOutcome{path: files[i].path, status: subFailed, reason: "interrupted"}
					continue
				}
				out[i] = s.one(ctx, files[i], p)
				p.fileDone(files[i], out[i])
			}
		})
	}
	wg.Wait()
	return out
}

// one submits one file: read the header, copy to the share while hashing (or just hash a
// file already in the share), publish the job with the hash as message id.
func (s *submitter) one(ctx context.Context, c submitFile, p *submitProgress) submitOutcome {
	o := submitOutcome{path: c.path}
	f, err := os.Open(c.path)
	if err != nil {
		o.status, o.reason = subFailed, submitErrReason(err)
		return o
	}
	defer f.Close()
	hdr := intake.Header(f, c.size)
	if hdr.Error != "" {
		o.status, o.reason = subUnreadable, firstLineOf(hdr.Error)
		p.addBytes(c.size)
		return o
	}
	host, rel, inShare := s.place(c, hdr)
	body := &submitCountingReader{r: io.NewSectionReader(f, 0, c.size), add: p.addBytes}
	var sum string
	if inShare {
		h := sha256.New()
		if _, err := io.Copy(h, body); err != nil {
			o.status, o.reason = subFailed, "read: "+submitErrReason(err)
			return o
		}
		sum = hex.EncodeToString(h.Sum(nil))
	} else {
		if rel, err = dumpshare.Layout(host, filepath.Base(c.path), c.modTime); err != nil {
			o.status, o.reason = subFailed, err.Error()
			return o
		}
		if sum, err = s.share.Put(ctx, rel, body, c.size); err != nil {
			o.status, o.reason = subFailed, "copy to share: "+err.Error()
			return o
		}
	}
	job := intake.NewJob(intake.Dump{Host: host, SourcePath: c.path, SharePath: rel, Size: c.size, SHA256: sum,
		ModTime: c.modTime, Header: hdr, Submitter: "submit"}, time.Now())
	o.job = *job
	if s.want != nil {
		s.want(job.ID)
	}
	dup, err := s.pub.Publish(ctx, job)
	if err != nil {
		o.status, o.reason = subFailed, "queue: "+err.Error()
		return o
	}
	o.status = subSubmitted
	if dup {
		o.status = subDuplicate
	}
	return o
}

// place decides the host and, for a file already inside the share, its share path.
func (s *submitter) place(c submitFile, hdr *pipeline.Header) (host, rel string, inShare bool) {
	// ValidateRel refuses "." and ".." elements, so a path outside the share never passes.
	if r, err := filepath.Rel(s.share.Root(), c.path); err == nil && dumpshare.ValidateRel(filepath.ToSlash(r)) == nil {
		rel, inShare = filepath.ToSlash(r), true
	}
	switch {
	case s.host != "":
		host = s.host
	case inShare && strings.Contains(rel, "/"):
		host, _, _ = strings.Cut(rel, "/") // the share's own layout: <host>/<time>-<name>
	default:
		host = hostFromLayout(c.path)
	}
	if host == "" && dumpshare.ValidateHost(hdr.ComputerName) == nil {
		host = hdr.ComputerName
	}
	if host == "" {
		host = "unknown"
	}
	return host, rel, inShare
}

// hostFromLayout reads the host from the folders people keep collected dumps in:
// <fleet>/<host>/MEMORY.DMP, <host>/Minidump/x.dmp, <host>/LiveKernelReports/<kind>/x.dmp.
func hostFromLayout(path string) string {
	dir := filepath.Dir(path)
	parent := filepath.Base(dir)
	var host string
	switch {
	case strings.EqualFold(filepath.Base(path), "MEMORY.DMP"):
		host = parent
	case strings.EqualFold(parent, "Minidump"):
		host = filepath.Base(filepath.Dir(dir))
	case strings.EqualFold(filepath.Base(filepath.Dir(dir)), "LiveKernelReports"):
		host = filepath.Base(filepath.Dir(filepath.Dir(dir)))
	}
	if dumpshare.ValidateHost(host) != nil {
		return ""
	}
	return host
}

type submitCountingReader struct {
	r   io.Reader
	add func(int64)
}

func (c *submitCountingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.add(int64(n))
	return n, err
}

// submitSummary counts outcomes for the end of a batch.
type submitSummary struct {
	counts  map[string]int
	bad     []submitOutcome
	elapsed time.Duration
	bytes   int64
}

func summarizeSubmit(outcomes []submitOutcome, elapsed time.Duration) submitSummary {
	s := submitSummary{counts: map[string]int{}, elapsed: elapsed}
	for _, o := range outcomes {
		s.counts[o.status]++
		s.bytes += o.job.Size
		if o.status == subUnreadable || o.status == subFailed {
			s.bad = append(s.bad, o)
		}
	}
	slices.SortFunc(s.bad, func(a, b submitOutcome) int {
		return cmp.Or(strings.Compare(a.status, b.status), strings.Compare(a.path, b.path))
	})
	return s
}

func (s submitSummary) failed() int { return s.counts[subUnreadable] + s.counts[subFailed] }

func (s submitSummary) print(w io.Writer) {
	fmt.Fprintf(w, "submitted %d, duplicates skipped %d, unreadable %d, failed %d (%s in %s)\n",
		s.counts[subSubmitted], s.counts[subDuplicate], s.counts[subUnreadable], s.counts[subFailed],
		fmtByteSize(s.bytes), s.elapsed.Round(time.Millisecond))
	for _, o := range s.bad {
		fmt.Fprintf(w, "  %s: %s: %s\n", o.status, o.path, o.reason)
	}
}

func fmtByteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}

// submitProgress shows how a batch goes: a bar redrawn on a terminal, else a log line now and
// then.
type submitProgress struct {
	w          io.Writer
	tty        bool
	log        zerolog.Logger
	totalFiles int
	totalBytes int64
	files      atomic.Int64
	bytes      atomic.Int64
	start      time.Time
	stopc      chan struct{}
	done       chan struct{}
}

func newSubmitProgress(e *env, files []submitFile) *submitProgress {
	p := &submitProgress{w: e.Stderr, log: e.Log, totalFiles: len(files), start: time.Now(),
		stopc: make(chan struct{}), done: make(chan struct{})}
	for _, f := range files {
		p.totalBytes += f.size
	}
	if f, ok := e.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	interval := 5 * time.Second
	if p.tty {
		interval = 200 * time.Millisecond
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.stopc:
				return
			case <-t.C:
				p.report()
			}
		}
	}()
	return p
}

func (p *submitProgress) addBytes(n int64) { p.bytes.Add(n) }

func (p *submitProgress) fileDone(c submitFile, o submitOutcome) {
	p.files.Add(1)
	ev := p.log.Debug()
	if o.status == subUnreadable || o.status == subFailed {
		ev = p.log.Warn().Str("reason", o.reason)
	}
	if !p.tty {
		ev.Str("file", c.path).Str("status", o.status).Str("host", o.job.Host).Msg("submit")
	}
}

func (p *submitProgress) report() {
	files, bytes := p.files.Load(), p.bytes.Load()
	el := time.Since(p.start)
	rate := float64(bytes) / max(el.Seconds(), 1e-3)
	eta := "?"
	if bytes > 0 && p.totalBytes >= bytes {
		eta = (time.Duration(float64(p.totalBytes-bytes)/rate*1e9) * time.Nanosecond).Round(time.Second).String()
	}
	if !p.tty {
		p.log.Info().Int64("files", files).Int("of_files", p.totalFiles).Int64("bytes", bytes).Int64("of_bytes", p.totalBytes).
			Float64("files_per_s", float64(files)/max(el.Seconds(), 1e-3)).Str("eta", eta).Msg("submit progress")
		return
	}
	const width = 24
	fill := 0
	if p.totalBytes > 0 {
		fill = int(width * min(bytes, p.totalBytes) / p.totalBytes)
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d files  %s/%s  %s/s  ETA %s \x1b[K", strings.Repeat("#", fill), strings.Repeat(".", width-fill),
		files, p.totalFiles, fmtByteSize(bytes), fmtByteSize(p.totalBytes), fmtByteSize(int64(rate)), eta)
}

func (p *submitProgress) finish() {
	close(p.stopc)
	<-p.done
	if p.tty {
		p.report()
		fmt.Fprintln(p.w)
	}
}
