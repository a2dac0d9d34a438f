package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/bsodwatch/bsodwatch/pipeline"
)

// ConsumerName is target's durable consumer on the results stream.
func ConsumerName(target string) string { return pipeline.NotifierDurable + "-" + target }

// Run consumes the results stream for every target until ctx ends. The streams must exist
// (pipeline.EnsureStreams); Run creates its own state bucket with the given replicas. A
// target whose consumer fails is restarted after a pause; the others keep going.
func (n *Notifier) Run(ctx context.Context, js jetstream.JetStream, replicas int) error {
	st, err := openKVStore(ctx, js, replicas, n.opts.DeliveredTTL, n.log)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, t := range n.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				err := n.consume(ctx, js, st, t)
				if ctx.Err() != nil {
					return
				}
				n.log.Error().Err(err).Str("target", t.name).Msg("target consumer stopped, restarting in 5s")
				_ = n.sleep(ctx, 5*time.Second)
			}
		}()
	}
	n.log.Info().Int("targets", len(n.targets)).Msg("notifier running")
	wg.Wait()
	return nil
}

func (n *Notifier) consumer(ctx context.Context, js jetstream.JetStream, t *target) (jetstream.Consumer, error) {
	name := ConsumerName(t.name)
	c, err := js.Consumer(ctx, pipeline.ResultsStream, name)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	// A new target starts Backlog ago, not at the beginning of a year of verdicts. The
	// start is fixed at creation: a later change of Backlog does not move it.
	start := n.now().Add(-n.opts.Backlog)
	c, err = js.CreateConsumer(ctx, pipeline.ResultsStream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "notifier target " + t.name,
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &start,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       n.opts.AckWait,
		MaxDeliver:    -1,
		// One at a time keeps the stream's order, which grouping relies on.
		MaxAckPending: 1,
		FilterSubject: pipeline.ResultsPrefix + ">",
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return c, nil
}

// consume runs one target: messages in stream order, and group flushes on a ticker.
func (n *Notifier) consume(ctx context.Context, js jetstream.JetStream, st stateStore, t *target) error {
	c, err := n.consumer(ctx, js, t)
	if err != nil {
		return err
	}
	if t.groups, err = st.Groups(ctx, t.name); err != nil {
		return err
	}
	// One message at a time, pulled with a short expiry and heartbeat: a pull request the
	// server has lost (seen under load on 2 cores) shows as missed heartbeats after
	// 2*pullHeartbeat instead of 2*15 s, and is pulled again.
	it, err := c.Messages(jetstream.PullMaxMessages(1), jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return fmt.Errorf("consume %s: %w", ConsumerName(t.name), err)
	}
	defer it.Stop()
	msgs := make(chan jetstream.Msg)
	fetchErr := make(chan error, 1)
	go func() {
		fetchErr <- n.pump(ctx, t.name, it.Next, msgs)
	}()
	tick := time.NewTicker(n.opts.FlushInterval)
	defer tick.Stop()
	if err := n.flush(ctx, t, st); err != nil && ctx.Err() == nil {
		n.log.Warn().Err(err).Str("target", t.name).Msg("group flush failed")
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-fetchErr:
			if ctx.Err() != nil && (err == nil || errors.Is(err, jetstream.ErrMsgIteratorClosed)) {
				return ctx.Err()
			}
			return fmt.Errorf("consume %s: %w", ConsumerName(t.name), err)
		case m := <-msgs:
			n.process(ctx, t, st, m)
		case <-tick.C:
			if err := n.flush(ctx, t, st); err != nil && ctx.Err() == nil {
				n.log.Warn().Err(err).Str("target", t.name).Msg("group flush failed")
			}
		}
	}
}

// Pull settings of a target's consumer: see consume.
const (
	pullExpiry    = 10 * time.Second
	pullHeartbeat = 2 * time.Second
)

// pump hands the messages next returns to msgs one by one, keeping each alive (InProgress
// every AckWait/3) while the loop is busy with an earlier one or a flush. Missed heartbeats
// are not an end: the iterator has forgotten its pull and the next call pulls again. pump
// returns the first other error of next, or nil when ctx ends.
func (n *Notifier) pump(ctx context.Context, target string, next func(...jetstream.NextOpt) (jetstream.Msg, error), msgs chan<- jetstream.Msg) error {
	for {
		m, err := next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) && ctx.Err() == nil {
			n.m.missedHeartbeats.WithLabelValues(target).Inc()
			n.log.Warn().Str("target", target).Msg("results consumer missed the server's heartbeats; pulling again")
			continue
		}
		if err != nil {
			return err
		}
		keep := time.NewTicker(max(n.opts.AckWait/3, time.Millisecond))
	handOver:
		for {
			select {
			case msgs <- m:
				break handOver
			case <-keep.C:
				_ = m.InProgress()
			case <-ctx.Done():
				keep.Stop()
				return nil
			}
		}
		keep.Stop()
	}
}

// process handles one message and settles it: ack when done, nak when it must come back.
func (n *Notifier) process(ctx context.Context, t *target, st stateStore, m jetstream.Msg) {
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	var r pipeline.Result
	if err := json.Unmarshal(m.Data(), &r); err != nil {
		n.m.results.WithLabelValues(t.name, "unreadable").Inc()
		n.log.Error().Err(err).Str("target", t.name).Str("subject", m.Subject()).Msg("unreadable result, dropped")
		_ = m.TermWithReason("unreadable result")
		return
	}
	err := n.handle(ctx, t, st, &r, seq, func() { _ = m.InProgress() })
	if err != nil {
		if !errors.Is(err, errShutdown) {
			n.log.Error().Err(err).Str("target", t.name).Str("job_id", r.Job.ID).Msg("result not settled, will come back")
		}
		_ = m.NakWithDelay(time.Second)
		return
	}
	// A double ack: if the ack were lost the message would be delivered again.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := m.DoubleAck(actx); err != nil {
		n.log.Warn().Err(err).Str("target", t.name).Str("job_id", r.Job.ID).Msg("ack failed; the result may be posted again")
	}
}
