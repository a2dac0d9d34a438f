package history

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/bsodwatch/bsodwatch/pipeline"
)

// Waiter collects the verdicts of jobs a caller has just queued (`submit --wait`). Start it
// before publishing the jobs, so that no verdict is missed; Want each job's ID before its
// publish.
type Waiter struct {
	js     jetstream.JetStream
	log    zerolog.Logger
	mu     sync.Mutex
	wanted map[string]bool
	got    map[string]*pipeline.Result
	notify chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// StartWaiter starts reading new verdicts. Stop it when done.
func StartWaiter(ctx context.Context, js jetstream.JetStream, log zerolog.Logger) (*Waiter, error) {
	stream, err := js.Stream(ctx, pipeline.ResultsStream)
	if err != nil {
		return nil, fmt.Errorf("open results stream: %w", err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pipeline.ResultsPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("watch results: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("watch results: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &Waiter{js: js, log: log, wanted: map[string]bool{}, got: map[string]*pipeline.Result{},
		notify: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer it.Stop()
		for {
			msg, err := it.Next(jetstream.NextContext(wctx))
			if err != nil {
				if wctx.Err() == nil {
					log.Warn().Err(err).Msg("watching verdicts stopped")
				}
				return
			}
			w.take(msg.Data())
		}
	}()
	return w, nil
}

// Want adds a job ID whose verdict Wait returns.
func (w *Waiter) Want(id string) {
	w.mu.Lock()
	w.wanted[id] = true
	w.mu.Unlock()
}

func (w *Waiter) take(data []byte) {
	var r pipeline.Result
	if err := json.Unmarshal(data, &r); err != nil {
		w.log.Warn().Err(err).Msg("skipping a verdict that does not decode")
		return
	}
	w.mu.Lock()
	if w.wanted[r.Job.ID] {
		w.got[r.Job.ID] = &r
	}
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// Wait returns the verdicts of ids in that order, waiting until all are in or ctx ends (then
// with those that came and ctx's error). The verdicts of old, repeated jobs (stored long
// before) are read from the stream directly.
func (w *Waiter) Wait(ctx context.Context, ids, repeated []string) ([]*pipeline.Result, error) {
	stream, err := w.js.Stream(ctx, pipeline.ResultsStream)
	if err != nil {
		return nil, fmt.Errorf("open results stream: %w", err)
	}
	for _, id := range repeated {
		msg, err := stream.GetLastMsgForSubject(ctx, pipeline.ResultSubject(id))
		if err != nil {
			continue // not analyzed yet: it will come through the watch
		}
		w.take(msg.Data)
	}
	for {
		w.mu.Lock()
		var out []*pipeline.Result
		for _, id := range ids {
			if r := w.got[id]; r != nil {
				out = append(out, r)
			}
		}
		w.mu.Unlock()
		if len(out) == len(ids) {
			return out, nil
		}
		select {
		case <-w.notify:
		case <-ctx.Done():
			return out, fmt.Errorf("waiting for verdicts: %w", ctx.Err())
		}
	}
}

// Stop ends the watch.
func (w *Waiter) Stop() {
	w.cancel()
	<-w.done
}
