package analyzer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/analyzer/cdb"
	"github.com/bsodwatch/bsodwatch/analyzer/cdbout"
	"github.com/bsodwatch/bsodwatch/analyzer/native"
	"github.com/bsodwatch/bsodwatch/drivers"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/intake"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// JobError is why a job produced no verdict. A permanent one ends the job as a failed verdict
// at once; a transient one is retried until MaxDeliver.
type JobError struct {
	Err       error
	Permanent bool
	// Engine that failed, and the end of the debugger's output when it ran.
	Engine string
	Tail   string
	// Debugger is how long the debugger ran.
	Debugger time.Duration
}

func (e *JobError) Error() string { return e.Err.Error() }
func (e *JobError) Unwrap() error { return e.Err }

func permanent(engine string, format string, a ...any) *JobError {
	return &JobError{Err: fmt.Errorf(format, a...), Permanent: true, Engine: engine}
}

// maxDegradedReasons bounds the symbol complaints copied into a verdict.
const maxDegradedReasons = 10

// Analyze checks one job's dump and analyzes it with the worker's engine. It returns the
// verdict (status ok, rules matched) or a *JobError. The context's error is returned as is. A
// job without a dump (a crash known from the host's event log alone) is analyzed from its
// event (EventAnalysis), with no debugger.
func (w *Worker) Analyze(ctx context.Context, job *pipeline.Job) (*pipeline.Result, error) {
	start := time.Now()
	if job.NoDump() {
		return w.finish(job, EventAnalysis(job.Event), start), nil
	}
	path, f, size, done, jerr := w.openDump(ctx, job)
	if jerr != nil {
		return nil, jerr
	}
	defer done()
	if job.Header == nil {
		// A job from a producer that read no header: the verdict's crash time and OS need it.
		job.Header = intake.Header(f, size)
	}
	var res *pipeline.Result
	if w.debugger != nil {
		f.Close()
		var out []byte
		res, out, jerr = w.runDebugger(ctx, path)
		// Kept for a failed run too: the whole output is what a person reads to see why.
		if ctx.Err() == nil && w.deps.Output != nil && len(out) > 0 {
			if err := w.deps.Output.PutOutput(ctx, job.ID, out); err != nil {
				w.log.Warn().Err(err).Str("job", job.ID).Msg("debugger output not kept")
			}
		}
	} else {
		res, jerr = w.runNative(f, size)
		f.Close()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if jerr != nil {
		return nil, jerr
	}
	return w.finish(job, res, start), nil
}

// finish makes an engine's result the job's verdict: the culprit's make, the rules matched,
// the verdict derived.
func (w *Worker) finish(job *pipeline.Job, res *pipeline.Result, start time.Time) *pipeline.Result {
	res.Version, res.Job, res.Status = pipeline.ResultVersion, *job, pipeline.StatusOK
	res.Worker = w.opts.Name
	if res.Analysis != nil {
		drivers.Attribute(res.Analysis)
	}
	res.Matches = []rules.Match{}
	if rs := w.ruleSet(); rs != nil {
		if res.Analysis != nil {
			if m := rs.Match(rules.Input{Analysis: res.Analysis, Engine: res.Engine}); m != nil {
				res.Matches = m
			}
		}
		res.RulesVersion = rs.Version()
	}
	res.Verdict = verdict.Of(res)
	res.Timings.TotalMS = time.Since(start).Milliseconds()
	res.AnalyzedAt = time.Now().UTC()
	return res
}

// openDump finds the job's file on the share and checks that it is the file the job was
// made for: same size, same sha256. A dump stored compressed is restored to a temporary
// file first (checked on the way); done removes it.
func (w *Worker) openDump(ctx context.Context, job *pipeline.Job) (string, *os.File, int64, func(), *JobError) {
	engine := w.Engine()
	nop := func() {}
	if err := dumpshare.ValidateRel(job.SharePath); err != nil {
		return "", nil, 0, nop, permanent(engine, "job share path: %w", err)
	}
	want := job.SHA256
	if want == "" {
		want = job.ID
	}
	if len(want) != sha256.Size*2 {
		return "", nil, 0, nop, permanent(engine, "job has no sha256 to check the dump against")
	}
	path := filepath.Join(w.opts.ShareDir, filepath.FromSlash(job.SharePath))
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, 0, nop, permanent(engine, "dump %s is missing from the share", job.SharePath)
	}
	if err != nil {
		// A share that is briefly unreachable deserves a retry.
		return "", nil, 0, nop, &JobError{Err: fmt.Errorf("open dump: %w", err), Engine: engine}
	}
	if dumpshare.Compressed(job.SharePath) {
		defer f.Close()
		return w.restore(ctx, job, f, want)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return "", nil, 0, nop, &JobError{Err: fmt.Errorf("stat dump: %w", err), Engine: engine}
	}
	if job.Size > 0 && fi.Size() != job.Size {
		f.Close()
		return "", nil, 0, nop, permanent(engine, "dump %s changed on the share: %d bytes, the job says %d", job.SharePath, fi.Size(), job.Size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return "", nil, 0, nop, &JobError{Err: fmt.Errorf("read dump: %w", err), Engine: engine}
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		f.Close()
		return "", nil, 0, nop, permanent(engine, "dump %s changed on the share: sha256 %s, the job says %s", job.SharePath, got, strings.ToLower(want))
	}
	return path, f, fi.Size(), nop, nil
}

// restore decompresses a .zst dump into a temporary file in TempDir, once the guard says
// the directory keeps its floor of free space after it. A full directory (before or during
// the restore) is a transient failure: the job comes back later. Bytes that do not restore
// to the job's size and sha256 are a permanent one.
func (w *Worker) restore(ctx context.Context, job *pipeline.Job, src *os.File, want string) (string, *os.File, int64, func(), *JobError) {
	engine := w.Engine()
	nop := func() {}
	release, err := w.temp.Reserve(ctx, job.Size)
	if err != nil {
		return "", nil, 0, nop, &JobError{Err: fmt.Errorf("restore compressed dump: %w", err), Engine: engine}
	}
	name := strings.TrimSuffix(path.Base(job.SharePath), dumpshare.CompressedSuffix)
	tmp, err := os.CreateTemp(w.opts.TempDir, "bsodwatch-*-"+name)
	if err != nil {
		release()
		return "", nil, 0, nop, &JobError{Err: fmt.Errorf("restore compressed dump: %w", err), Engine: engine}
	}
	done := func() {
		tmp.Close()
		os.Remove(tmp.Name())
		release()
	}
	err = dumpshare.Restore(ctx, tmp, src, true, job.Size, want)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	switch {
	case err == nil:
		return tmp.Name(), tmp, job.Size, done, nil
	case errors.Is(err, dumpshare.ErrCorrupt):
		done()
		return "", nil, 0, nop, permanent(engine, "dump %s changed on the share: %w", job.SharePath, err)
	}
	done()
	return "", nil, 0, nop, &JobError{Err: fmt.Errorf("restore compressed dump to %s: %w", w.opts.TempDir, err), Engine: engine}
}

// runDebugger runs cdb and turns its output into a verdict; it returns the output too.
func (w *Worker) runDebugger(ctx context.Context, path string) (*pipeline.Result, []byte, *JobError) {
	res, out, jerr := w.debuggerVerdict(ctx, path)
	if out == nil {
		return res, nil, jerr
	}
	return res, out.Stdout, jerr
}

func (w *Worker) debuggerVerdict(ctx context.Context, path string) (*pipeline.Result, *cdb.Output, *JobError) {
	out, err := w.debugger.Analyze(ctx, path)
	if out == nil {
		out = &cdb.Output{ExitCode: -1}
	}
	w.metrics.debugger.Observe(out.Duration.Seconds())
	fail := func(perm bool, err error) *JobError {
		tail := out.Tail
		if len(out.Stderr) > 0 {
			tail += "\n[stderr]\n" + lastBytes(string(out.Stderr), 1024)
		}
		return &JobError{Err: err, Permanent: perm, Engine: EngineCDB, Tail: tail, Debugger: out.Duration}
	}
	if ctx.Err() != nil {
		return nil, out, fail(false, ctx.Err())
	}
	if line := openFailure(out.Stdout); line != "" {
		return nil, out, fail(true, fmt.Errorf("debugger could not open the dump: %s", line))
	}
	if err != nil && !errors.Is(err, cdb.ErrOutputCap) {
		return nil, out, fail(false, err)
	}
	a := cdbout.ParseBytes(out.Stdout)
	if (a == nil || !a.Complete) && err != nil {
		return nil, out, fail(false, fmt.Errorf("no analysis in the debugger output: %w", err))
	}
	if a == nil || !a.Complete {
		return nil, out, fail(false, fmt.Errorf("no analysis in the debugger output (exit code %d, %d bytes)", out.ExitCode, out.Bytes))
	}
	res := &pipeline.Result{Engine: EngineCDB, Analysis: a}
	res.Timings.DebuggerMS = out.Duration.Milliseconds()
	res.DegradedReasons = symbolProblems(a)
	res.Confidence = "high"
	if len(res.DegradedReasons) > 0 {
		res.Confidence = "medium"
	}
	// A debugger that died or was cut off may have printed an analysis that is not whole:
	// the verdict says so and is never of high confidence.
	var broken []string
	if out.ExitCode != 0 {
		broken = append(broken, fmt.Sprintf("the debugger exited with code %d", out.ExitCode))
	}
	if out.Truncated {
		broken = append(broken, fmt.Sprintf("debugger output cut at %d bytes", len(out.Stdout)))
	}
	if !analysisEnded(a) {
		broken = append(broken, "the debugger output ends before the analysis does (no FAILURE_BUCKET_ID, FAILURE_ID_HASH or Followup)")
	}
	if len(broken) > 0 {
		res.DegradedReasons = append(res.DegradedReasons, broken...)
		res.Confidence = "low"
	}
	res.Degraded = len(res.DegradedReasons) > 0
	a.Modules = culpritModules(a)
	return res, out, nil
}

// runNative reads the dump with the pure-Go reader.
func (w *Worker) runNative(f *os.File, size int64) (*pipeline.Result, *JobError) {
	a, cause, err := native.Analyze(f, size)
	if err != nil {
		// The reader is deterministic: trying again reads the same bytes.
		return nil, permanent(EngineNative, "native engine: %w", err)
	}
	return &pipeline.Result{Engine: EngineNative, Analysis: a, ProbableCause: cause, Confidence: native.Confidence(cause)}, nil
}

// analysisEnded reports whether the analysis reached its last lines: every !analyze -v ends
// with the failure bucket and its hash, then Followup.
func analysisEnded(a *analysis.Analysis) bool {
	return a.FailureBucketID != "" || a.Fields["FAILURE_ID_HASH"] != "" || a.FollowupName != "" || a.BucketID != ""
}

// openFailure returns cdb's "Could not open dump file" line, if it printed one.
func openFailure(out []byte) string {
	i := bytes.Index(out, []byte("Could not open dump file"))
	if i < 0 {
		return ""
	}
	line, _, _ := bytes.Cut(out[i:], []byte("\n"))
	return strings.TrimSpace(string(line))
}

// symbolProblems lists the debugger's own complaints about missing or wrong symbols.
func symbolProblems(a *analysis.Analysis) []string {
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) && len(out) < maxDegradedReasons {
			out = append(out, s)
		}
	}
	for _, d := range a.Diagnostics {
		if d.Kind == "symbols" {
			add(d.Message)
		}
	}
	if len(a.Diagnostics) == 0 {
		for _, e := range a.DebuggerErrors {
			if l := strings.ToLower(e); strings.Contains(l, "symbol") {
				add(e)
			}
		}
	}
	return out
}

// culpritModules keeps, of the debugger's module list (lmv prints every module), the ones the
// analysis names: the faulting module, the third-party module and the modules on the stack.
func culpritModules(a *analysis.Analysis) []analysis.Module {
	want := map[string]bool{}
	for _, n := range []string{a.ModuleName, a.ImageName, a.ThirdPartyModule} {
		want[moduleKey(n)] = true
	}
	for _, f := range a.Stack {
		want[moduleKey(f.Module)] = true
	}
	delete(want, "")
	var keep []analysis.Module
	for _, m := range a.Modules {
		if want[moduleKey(m.Name)] || want[moduleKey(m.ImageName)] {
			keep = append(keep, m)
		}
	}
	return keep
}

func moduleKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		switch s[i:] {
		case ".sys", ".dll", ".exe":
			s = s[:i]
		}
	}
	return s
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[len(s)-n:], "")
}
