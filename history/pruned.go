package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/pipeline"
)

// DumpRef is what a stored verdict says about the dump it was made from: what the share's
// retention needs to weigh it.
type DumpRef struct {
	JobID     string
	Host      string
	SharePath string
	Bucket    string
	// Failed is set for a failed analysis (its bucket says little about the crash).
	Failed bool
	// KnownIssue is set when a rule explains the crash (flags such as a vulnerable driver
	// loaded do not count).
	KnownIssue bool
	Crash      time.Time
	PrunedAt   time.Time
	Seq        uint64
}

// DumpRefs calls fn for every stored verdict, decoding only what DumpRef holds (so that
// 100,000 verdicts take a second or two). fn's error stops the scan and is returned as is.
func (rd *Reader) DumpRefs(ctx context.Context, fn func(DumpRef) error) error {
	return rd.scan(ctx, time.Time{}, countWorkers, decodeLean, func(e Entry) error {
		r := e.Result
		issues, _ := analysis.Explaining(r.Matches)
		return fn(DumpRef{
			JobID: r.Job.ID, Host: r.Job.Host, SharePath: r.Job.SharePath, Bucket: r.Bucket(),
			Failed: r.Status == pipeline.StatusFailed, KnownIssue: len(issues) > 0,
			Crash: CrashTime(r), PrunedAt: r.PrunedAt, Seq: e.Seq,
		})
	})
}

// ErrNoVerdict is returned by Get for a job that has no stored verdict (the error also
// wraps jetstream.ErrMsgNotFound).
var ErrNoVerdict = errors.New("no stored verdict")

// Get returns the stored verdict of a job, whole.
func (rd *Reader) Get(ctx context.Context, jobID string) (Entry, error) {
	stream, err := rd.JS.Stream(ctx, pipeline.ResultsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return Entry{}, fmt.Errorf("verdict %s: %w: %w", jobID, ErrNoVerdict, jetstream.ErrMsgNotFound)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("open results stream: %w", err)
	}
	m, err := stream.GetLastMsgForSubject(ctx, pipeline.ResultSubject(jobID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Entry{}, fmt.Errorf("verdict %s: %w: %w", jobID, ErrNoVerdict, jetstream.ErrMsgNotFound)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("read verdict %s: %w", jobID, err)
	}
	r, err := decodeFull(m.Data)
	if err != nil {
		return Entry{}, fmt.Errorf("verdict %s: %w", jobID, err)
	}
	return Entry{Result: r, Seq: m.Sequence, Stored: m.Time}, nil
}

// MarkPruned re-issues a job's verdict in place with PrunedAt set to at ("dump pruned"), so
// that the verdict outlives its dump and says so. A verdict already marked is left as it is.
// The notifier posts nothing for it: a verdict reprocessed earlier gets its current rules as
// PreviousMatches (nothing changed that a person must hear about). ErrRaced says the verdict
// was replaced between the read and the write; trying again later is safe.
func MarkPruned(ctx context.Context, js jetstream.JetStream, rd *Reader, jobID string, at time.Time) error {
	e, err := rd.Get(ctx, jobID)
	if err != nil {
		return err
	}
	r := e.Result
	if !r.PrunedAt.IsZero() {
		return nil
	}
	r.PrunedAt = at.UTC()
	if r.Reprocessed {
		r.PreviousMatches = RuleIDs(r.Matches)
	}
	return Reissue(ctx, js, r, e.Seq)
}
