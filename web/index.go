package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/analysis"
	"github.com/bsodwatch/bsodwatch/history"
	"github.com/bsodwatch/bsodwatch/pipeline"
	"github.com/bsodwatch/bsodwatch/verdict"
)

// item is what the index keeps of one stored verdict: enough to list, filter, count and
// chart it. The whole verdict is read from the stream when a page shows it.
type item struct {
	ID, Host, HostKey, Bucket string
	Crash, Stored             time.Time
	Seq                       uint64
	Status, Kind, Headline    string
	Culprit, Vendor           string
	Issues                    []analysis.Match // explaining matches: id, title, severity only
	Flags                     []string         // flag rule ids
	Marks                     pipeline.Marks
	Engine                    string
	Reprocessed               bool
}

func (it *item) Known() bool  { return len(it.Issues) > 0 }
func (it *item) Failed() bool { return it.Status == pipeline.StatusFailed }

// Class is known, unknown or failed (the notifier's route words; classOf for a result).
func (it *item) Class() string {
	switch {
	case it.Failed():
		return "failed"
	case it.Known():
		return "known"
	}
	return "unknown"
}

func (it *item) HasRule(id string) bool {
	for _, m := range it.Issues {
		if strings.EqualFold(m.ID, id) {
			return true
		}
	}
	for _, f := range it.Flags {
		if strings.EqualFold(f, id) {
			return true
		}
	}
	return false
}

// skip decodes nothing: the parts of a stored verdict the index does not keep.
type skip struct{}

func (*skip) UnmarshalJSON([]byte) error { return nil }

// leanResult is a stored verdict without its analysis (stack, modules, fields), which is
// most of its size.
type leanResult struct {
	pipeline.Result
	Analysis     skip `json:"analysis"`
	DebuggerTail skip `json:"debugger_tail"`
}

// decodeItem reads one stored verdict into an item.
func decodeItem(data []byte) (*item, error) {
	var l leanResult
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, err
	}
	r := &l.Result
	if r.Verdict == nil {
		// stored before verdicts: derive it from the whole result
		var full pipeline.Result
		if err := json.Unmarshal(data, &full); err != nil {
			return nil, err
		}
		r = &full
		verdict.Ensure(r)
	}
	it := &item{
		ID: r.Job.ID, Host: r.Job.Host, HostKey: strings.ToLower(r.Job.Host), Bucket: r.Bucket(),
		Crash: history.CrashTime(r), Status: r.Status, Kind: r.Verdict.Kind, Headline: r.Verdict.Headline,
		Marks: r.Marks, Engine: r.Engine, Reprocessed: r.Reprocessed,
	}
	if c := r.Verdict.Culprit; c != nil {
		it.Culprit, it.Vendor = c.Module, c.Vendor
	}
	issues, flags := analysis.Explaining(r.Matches)
	for _, m := range issues {
		it.Issues = append(it.Issues, analysis.Match{ID: m.ID, Title: m.Title, Severity: m.Severity})
	}
	for _, f := range flags {
		it.Flags = append(it.Flags, f.ID)
	}
	return it, nil
}

// index holds every stored verdict in memory, kept current from the results stream by an
// ordered consumer: pages and the API read it instead of scanning the stream, so the
// overview of 100,000 verdicts costs one pass over memory.
type index struct {
	mu     sync.RWMutex
	byID   map[string]*item
	sorted []*item // newest crash first; rebuilt when dirty
	dirty  bool
	bad    int

	// loading state
	target uint64 // last stream sequence when following started
	last   uint64 // newest sequence applied
	ready  bool
	err    error
}

func newIndex() *index { return &index{byID: map[string]*item{}} }

// put adds or replaces the verdict of it.ID.
func (x *index) put(it *item) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byID[it.ID] = it
	x.dirty = true
	x.last = max(x.last, it.Seq)
	if !x.ready && x.last >= x.target {
		x.ready = true
	}
}

// items returns the verdicts newest crash first. The slice is shared: do not change it.
func (x *index) items() []*item {
	x.mu.RLock()
	if !x.dirty {
		s := x.sorted
		x.mu.RUnlock()
		return s
	}
	x.mu.RUnlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.dirty {
		s := make([]*item, 0, len(x.byID))
		for _, it := range x.byID {
			s = append(s, it)
		}
		slices.SortFunc(s, func(a, b *item) int {
			if c := b.Crash.Compare(a.Crash); c != 0 {
				return c
			}
			return cmp.Compare(b.Seq, a.Seq)
		})
		x.sorted, x.dirty = s, false
	}
	return x.sorted
}

func (x *index) get(id string) (*item, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	it, ok := x.byID[id]
	return it, ok
}

// State is how far the index has read the results stream.
type State struct {
	Verdicts int    `json:"verdicts"`
	Ready    bool   `json:"ready"`
	Last     uint64 `json:"last_seq"`
	Target   uint64 `json:"start_seq"`
	Skipped  int    `json:"unreadable"`
	Error    string `json:"error,omitempty"`
}

func (x *index) state() State {
	x.mu.RLock()
	defer x.mu.RUnlock()
	st := State{Verdicts: len(x.byID), Ready: x.ready, Last: x.last, Target: x.target, Skipped: x.bad}
	if x.err != nil {
		st.Error = x.err.Error()
	}
	return st
}

func (x *index) setErr(err error) {
	x.mu.Lock()
	x.err = err
	x.mu.Unlock()
}

// follow reads the results stream from its start and then every new verdict, until ctx
// ends. The ordered consumer recreates itself after a NATS outage.
func (x *index) follow(ctx context.Context, js jetstream.JetStream, log zerolog.Logger) error {
	var stream jetstream.Stream
	for {
		var err error
		stream, err = js.Stream(ctx, pipeline.ResultsStream)
		if err == nil {
			break
		}
		x.setErr(fmt.Errorf("results stream: %w", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	x.setErr(nil)
	last := stream.CachedInfo().State.LastSeq
	x.mu.Lock()
	x.target = last
	x.ready = last == 0 || x.last >= last
	x.mu.Unlock()
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pipeline.ResultsPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("read results stream: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		it, err := decodeItem(m.Data())
		if err != nil || it.ID == "" {
			x.mu.Lock()
			x.bad++
			x.last = max(x.last, md.Sequence.Stream)
			if !x.ready && x.last >= x.target {
				x.ready = true
			}
			x.mu.Unlock()
			log.Warn().Err(err).Str("subject", m.Subject()).Msg("web: skipping a verdict that does not decode")
			return
		}
		it.Seq, it.Stored = md.Sequence.Stream, md.Timestamp
		x.put(it)
	}, jetstream.PullMaxMessages(2000), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			log.Debug().Err(err).Msg("web: results stream")
		}
	}))
	if err != nil {
		return fmt.Errorf("read results stream: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}
