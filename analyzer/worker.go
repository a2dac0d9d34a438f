package analyzer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analyzer/cdb"
	"github.com/bsodwatch/bsodwatch/dumpshare"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/rules"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// Deps are what a worker is given rather than configured with.
type Deps struct {
	// JS is the JetStream context; only Run needs it.
	JS  jetstream.JetStream
	Log zerolog.Logger
	// Registerer receives the worker's metrics; nil = no metrics.
	Registerer prometheus.Registerer
	// Rules returns the current rule set, or nil for none (a reloader's Current, say).
	Rules func() RuleSet
	// Marker, when set, marks each verdict before it is published.
	Marker Marker
	// Debugger replaces the cdb runner built from the options (tests, benchmarks).
	Debugger Debugger
	// Output, when set, keeps the whole output of each debugger run (failed ones too).
	Output OutputStore
}

// OutputStore keeps a debugger run's whole output by job ID (*debugout.Store). A failure
// to keep it is logged; the verdict goes out all the same.
type OutputStore interface {
	PutOutput(ctx context.Context, jobID string, out []byte) error
}

// Worker analyzes queued dumps.
type Worker struct {
	opts     Options
	deps     Deps
	log      zerolog.Logger
	debugger Debugger // nil: native engine
	metrics  *metrics
	// temp guards the free space of TempDir while compressed dumps are restored there.
	temp *dumpshare.Guard
}

// settleTimeout bounds publishing a verdict and acking once the analysis is done, even while
// the worker is stopping: finished work is not thrown away.
const settleTimeout = 30 * time.Second

// New builds a worker. With engine auto it uses cdb when Locate finds it and says so in the
// log when it falls back to the native engine.
func New(o Options, d Deps) (*Worker, error) {
	o = o.WithDefaults()
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if err := o.problems().Err(); err != nil {
		return nil, err
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	w := &Worker{opts: o, deps: d, log: d.Log.With().Str("role", "analyzer").Logger(), metrics: m}
	tmp := o.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	w.opts.TempDir = tmp
	w.temp = &dumpshare.Guard{
		Space:   func(context.Context) (dumpshare.Space, error) { return dumpshare.LocalSpace(tmp) },
		MinFree: int64(o.TempMinFree), What: "analyzer's temporary directory " + tmp,
	}
	switch {
	case o.Engine == EngineNative:
	case d.Debugger != nil:
		w.debugger = d.Debugger
	default:
		path, err := cdb.Locate(o.CDBPath, nil)
		if err != nil && o.Engine == EngineCDB {
			return nil, err
		}
		if err != nil {
			w.log.Warn().Err(err).Msg("using the native engine")
			break
		}
		w.debugger = &cdb.Runner{
			Path:       path,
			SymbolPath: cdb.SymbolPath(o.SymbolPath, o.ExtraSymbolPaths...),
			Commands:   o.Commands,
			Timeout:    o.Timeout,
			OutputCap:  o.OutputCap,
		}
		w.log.Info().Str("cdb", path).Msg("using the debugger")
	}
	return w, nil
}

// Engine names the engine this worker uses.
func (w *Worker) Engine() string {
	if w.debugger != nil {
		return EngineCDB
	}
	return EngineNative
}

// Options returns the options in effect, defaults filled in.
func (w *Worker) Options() Options { return w.opts }

func (w *Worker) ruleSet() RuleSet {
	if w.deps.Rules == nil {
		return nil
	}
	return w.deps.Rules()
}

// ConsumerConfig is the durable consumer every analyzer worker shares. MaxDeliver is left
// unlimited on the server and enforced by the worker from NumDelivered: nats-server keeps a
// message that reached its MaxDeliver in a work-queue stream without delivering it again (and
// says so only in a lazily sent advisory), so a server-side limit would strand the job with
// no verdict. Counting ourselves, the delivery after the last attempt always publishes a
// failed verdict, even when the attempts died with their worker.
func (w *Worker) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       pipeline.AnalyzerDurable,
		Description:   "analyzer workers",
		FilterSubject: pipeline.JobsSubject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.opts.AckWait,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// Run consumes jobs with Slots at a time until ctx ends. On the way out the running debuggers
// are killed and their jobs handed back to the queue at once.
func (w *Worker) Run(ctx context.Context) error {
	if w.deps.JS == nil {
		return errors.New("no JetStream connection")
	}
	cons, err := w.deps.JS.CreateOrUpdateConsumer(ctx, pipeline.JobsStream, w.ConsumerConfig())
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", pipeline.AnalyzerDurable, pipeline.JobsStream, err)
	}
	w.log.Info().Str("engine", w.Engine()).Int("slots", w.opts.Slots).Str("worker", w.opts.Name).Msg("analyzer started")
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, w.opts.Slots)
	for ctx.Err() == nil {
		// Fetch only when a slot is free, so no job waits in a buffer while its AckWait runs.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		msg, err := w.next(ctx, cons)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			w.log.Warn().Err(err).Msg("fetch job; retrying")
			sleep(ctx, time.Second)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			w.handle(ctx, msg)
		}()
	}
	return nil
}

// next waits for one job. A fresh single-message pull each time keeps no job buffered here.
func (w *Worker) next(ctx context.Context, cons jetstream.Consumer) (jetstream.Msg, error) {
	for {
		batch, err := cons.FetchNoWait(1)
		if err == nil {
			for msg := range batch.Messages() {
				return msg, nil
			}
			err = batch.Error()
		}
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, err
		}
		// Nothing queued: long-poll, bounded so that ctx is checked. The server-side expiry
		// derived from the deadline ends before ours, so no job is sent to a gone inbox.
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		batch, err = cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return nil, err
		}
		for msg := range batch.Messages() {
			cancel()
			return msg, nil
		}
		cancel()
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// handle takes one delivery to its end: a published verdict and an ack, a delayed retry, or
// a hand-back on shutdown.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	w.metrics.inFlight.Inc()
	defer w.metrics.inFlight.Dec()
	attempt, queued := 1, time.Duration(0)
	if md, err := msg.Metadata(); err == nil {
		attempt, queued = int(md.NumDelivered), start.Sub(md.Timestamp)
	}
	job, jerr := decodeJob(msg)
	if jerr != nil {
		jerr.Engine = w.Engine()
	}
	log := w.log.With().Str("job", job.ID).Int("attempt", attempt).Logger()

	var res *pipeline.Result
	switch {
	case jerr != nil:
	case attempt > w.opts.MaxDeliver:
		// Every allowed attempt ended without a word (the worker died or the job hung past
		// AckWait): give up without running the debugger again.
		jerr = &JobError{Err: fmt.Errorf("no attempt finished (worker stopped, crashed or lost the job %d times)", attempt-1), Permanent: true, Engine: w.Engine()}
	default:
		stop := w.heartbeat(msg)
		var err error
		res, err = w.Analyze(ctx, job)
		stop()
		if ctx.Err() != nil {
			// Stopping: the debugger was killed; let another worker have the job now.
			_ = msg.Nak()
			w.metrics.analyses.WithLabelValues(w.Engine(), "requeued").Inc()
			log.Info().Msg("stopping: job handed back to the queue")
			return
		}
		if err != nil && !errors.As(err, &jerr) {
			jerr = &JobError{Err: err, Engine: w.Engine()}
		}
	}
	if jerr != nil {
		if !jerr.Permanent && attempt < w.opts.MaxDeliver {
			delay := w.backoff(attempt)
			_ = msg.NakWithDelay(delay)
			w.metrics.analyses.WithLabelValues(jerr.Engine, "retry").Inc()
			log.Warn().Err(jerr).Dur("retry_in", delay).Msg("analysis failed; will retry")
			return
		}
		res = w.FailedResult(job, jerr, attempt)
	}
	res.Timings.QueuedMS = queued.Milliseconds()
	res.Timings.TotalMS = time.Since(start).Milliseconds()
	if err := w.settle(ctx, msg, res, log); err != nil {
		delay := w.backoff(attempt)
		_ = msg.NakWithDelay(delay)
		w.metrics.analyses.WithLabelValues(res.Engine, "retry").Inc()
		log.Warn().Err(err).Dur("retry_in", delay).Msg("verdict not published; will retry")
		return
	}
	w.metrics.analyses.WithLabelValues(res.Engine, res.Status).Inc()
	ev := log.Info()
	if res.Status == pipeline.StatusFailed {
		ev = log.Error().Str("error", res.Error)
	}
	ev.Str("engine", res.Engine).Str("bucket", res.Bucket()).Int("matches", len(res.Matches)).
		Bool("degraded", res.Degraded).Int64("total_ms", res.Timings.TotalMS).Msg("verdict published")
}

// settle marks, publishes and acks a verdict, even if ctx ends meanwhile.
func (w *Worker) settle(ctx context.Context, msg jetstream.Msg, res *pipeline.Result, log zerolog.Logger) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if w.deps.Marker != nil {
		if err := w.deps.Marker.Mark(sctx, res); err != nil {
			// Marks are a bonus; the verdict matters more.
			log.Warn().Err(err).Msg("history marks not set")
		}
	}
	data, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode verdict: %w", err)
	}
	if _, err := w.deps.JS.Publish(sctx, pipeline.ResultSubject(res.Job.ID), data, jetstream.WithMsgID(res.MsgID())); err != nil {
		return fmt.Errorf("publish verdict: %w", err)
	}
	for _, m := range res.Matches {
		w.metrics.matches.WithLabelValues(m.ID).Inc()
	}
	// The verdict is stored; if this ack is lost the redelivery publishes a duplicate that
	// JetStream drops by its Nats-Msg-Id.
	if err := msg.DoubleAck(sctx); err != nil {
		log.Warn().Err(err).Msg("ack not confirmed; a redelivery will be deduplicated")
	}
	return nil
}

// FailedResult is the verdict of a job that ended in err (a *JobError says which engine failed
// and how the debugger's output ended) and will not be tried again.
func (w *Worker) FailedResult(job *pipeline.Job, err error, attempt int) *pipeline.Result {
	var jerr *JobError
	if !errors.As(err, &jerr) {
		jerr = &JobError{Err: err, Engine: w.Engine()}
	}
	r := &pipeline.Result{
		Version:      pipeline.ResultVersion,
		Job:          *job,
		Status:       pipeline.StatusFailed,
		Engine:       jerr.Engine,
		Matches:      []rules.Match{},
		Error:        jerr.Error(),
		Attempts:     attempt,
		DebuggerTail: jerr.Tail,
		AnalyzedAt:   time.Now().UTC(),
		Worker:       w.opts.Name,
	}
	r.Timings.DebuggerMS = jerr.Debugger.Milliseconds()
	r.Verdict = verdict.Of(r)
	// RulesVersion stays empty: the Nats-Msg-Id of a failure then differs from a later
	// successful verdict's, which is not deduplicated away when the dump is resubmitted.
	return r
}

func (w *Worker) backoff(attempt int) time.Duration {
	b := w.opts.Backoff
	return b[min(max(attempt-1, 0), len(b)-1)]
}

// heartbeat tells JetStream every AckWait/3 that the job is still being worked on.
func (w *Worker) heartbeat(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(max(w.opts.AckWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					w.log.Debug().Err(err).Msg("heartbeat")
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// decodeJob reads a job; a message that is not one is a permanent failure, reported under
// its Nats-Msg-Id (or stream sequence) so that somebody sees it.
func decodeJob(msg jetstream.Msg) (*pipeline.Job, *JobError) {
	var job pipeline.Job
	err := json.Unmarshal(msg.Data(), &job)
	if job.ID == "" {
		job.ID = msg.Headers().Get(jetstream.MsgIDHeader)
	}
	if job.ID == "" {
		if md, mdErr := msg.Metadata(); mdErr == nil {
			job.ID = fmt.Sprintf("seq-%d", md.Sequence.Stream)
		}
	}
	switch {
	case err != nil:
		return &job, &JobError{Err: fmt.Errorf("job is not valid JSON: %w", err), Permanent: true}
	case job.Version > pipeline.JobVersion:
		return &job, &JobError{Err: fmt.Errorf("job version %d is newer than this analyzer understands (%d)", job.Version, pipeline.JobVersion), Permanent: true}
	}
	return &job, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
